"""Run by test_kill_resume: answer PROMPTS one request at a time through the `openai` backend,
printing `done <i>` after each answer is in the request cache; write all answers at the end.

    python -m tests.llms.resume_worker BASE_URL MODEL CACHE_FILE OUT_FILE N_PROMPTS
"""

import json
import sys

from reasonembed.llms.openai_compat import OpenAICompatibleLLM


def prompts(n: int) -> list[str]:
    return [f"Say one word about the number {i}." for i in range(n)]


def main() -> None:
    base_url, model, cache_file, out_file, n = sys.argv[1:6]
    llm = OpenAICompatibleLLM(
        model=model,
        base_urls=[base_url],
        temperature=0.0,
        top_k=None,
        max_new_tokens=4,
        concurrency=1,
        timeout_s=30,
        request_cache_path=cache_file,
    )
    llm.load()
    answers = []
    for index, prompt in enumerate(prompts(int(n))):
        answers.append(llm.complete([prompt], template_hash="resume", stage="query")[0].text)
        print(f"done {index}", flush=True)
    with open(out_file, "w") as handle:
        json.dump(answers, handle)
    llm.unload()


if __name__ == "__main__":
    main()
