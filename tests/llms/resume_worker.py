"""Run by test_kill_resume: answer PROMPTS through the `openai` backend, `batch` prompts per
`complete` call, printing `done <n>` after each call (its answers are in the request cache);
write all answers at the end.

    python -m tests.llms.resume_worker BASE_URL MODEL CACHE_FILE OUT_FILE N_PROMPTS \
        [CONCURRENCY [BATCH]]      (defaults 1 and 1: one request at a time)
"""

import json
import sys

from reasonembed.llms.openai_compat import OpenAICompatibleLLM


def prompts(n: int) -> list[str]:
    return [f"Say one word about the number {i}." for i in range(n)]


def main() -> None:
    base_url, model, cache_file, out_file, n = sys.argv[1:6]
    concurrency = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    batch = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    llm = OpenAICompatibleLLM(
        model=model,
        base_urls=[base_url],
        temperature=0.0,
        top_k=None,
        max_new_tokens=4,
        concurrency=concurrency,
        timeout_s=30,
        request_cache_path=cache_file,
    )
    llm.load()
    answers: list[str] = []
    todo = prompts(int(n))
    for start in range(0, len(todo), batch):
        completions = llm.complete(
            todo[start : start + batch], template_hash="resume", stage="query"
        )
        answers.extend(completion.text for completion in completions)
        print(f"done {len(answers) - 1}", flush=True)
    with open(out_file, "w") as handle:
        json.dump(answers, handle)
    llm.unload()


if __name__ == "__main__":
    main()
