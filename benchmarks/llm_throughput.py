"""LLM layer throughput against a real `transformers serve` on loopback.

For concurrency 1, 4 and 16: requests/s and completion tokens/s of
  - bare      `openai.AsyncOpenAI` calls with a semaphore (the peer),
  - cold      this layer (`OpenAICompatibleLLM.complete`, empty request cache) on the same prompts,
  - cached    this layer again on the same prompts (every answer from the request cache),
and the layer's overhead over bare calls (goal: within 10%). Bare and cold runs alternate in
order between repeats (the median is reported) to spread the drift of a shared machine; the
client-side CPU per request isolates the layer's own cost from the server's.

    .venv/bin/python benchmarks/llm_throughput.py [--prompts 16] [--max-tokens 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reasonembed.llms.local_model import ensure_local_model  # noqa: E402
from reasonembed.llms.openai_compat import OpenAICompatibleLLM  # noqa: E402
from tests.support.fault_proxy import TransformersServer  # noqa: E402


def prompts(n: int, offset: int) -> list[str]:
    return [f"Name one thing people often do on day {offset + i} of a holiday." for i in range(n)]


async def bare(url: str, model: str, batch: list[str], concurrency: int, max_tokens: int):
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", timeout=300)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> int:
        async with semaphore:
            response = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                temperature=0.0,
                top_p=0.95,
                max_tokens=max_tokens,
                seed=42,
            )
        return response.usage.completion_tokens

    tokens = sum(await asyncio.gather(*(one(p) for p in batch)))
    await client.close()
    return tokens


def timed(fn):
    """(wall seconds, client CPU seconds of this process, completion tokens)."""
    start, cpu = time.perf_counter(), time.process_time()
    tokens = fn()
    return time.perf_counter() - start, time.process_time() - cpu, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="requests per measurement")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per level")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="llm_throughput_"))
    model_dir = ensure_local_model(REPO / ".cache" / "reasonembed").resolve()
    server = TransformersServer(model_dir, work / "hub", work / "serve.log")
    rows = []
    try:
        server.wait()
        # warm-up (model load, first-call costs)
        asyncio.run(bare(server.url, server.model, prompts(2, 10_000), 2, args.max_tokens))
        for level_index, concurrency in enumerate(args.concurrency):
            batch = prompts(args.prompts, 1000 * level_index)

            def make_llm(tag: str, concurrency=concurrency) -> OpenAICompatibleLLM:
                llm = OpenAICompatibleLLM(
                    model=server.model,
                    base_urls=[server.url],
                    temperature=0.0,
                    top_k=None,
                    max_new_tokens=args.max_tokens,
                    concurrency=concurrency,
                    timeout_s=300,
                    request_cache_path=str(work / f"requests-{concurrency}-{tag}.sqlite"),
                )
                llm.load()
                return llm

            def ours(llm, batch=batch) -> int:
                return sum(c.completion_tokens for c in llm.complete(batch, template_hash="b"))

            def peer(batch=batch, concurrency=concurrency) -> int:
                return asyncio.run(
                    bare(server.url, server.model, batch, concurrency, args.max_tokens)
                )

            runs: dict[str, list] = {"bare": [], "cold": [], "cached": []}
            for repeat in range(args.repeats):
                llm = make_llm(str(repeat))  # an empty request cache each time
                order = [("bare", peer), ("cold", lambda llm=llm: ours(llm))]
                if (level_index + repeat) % 2:
                    order.reverse()
                for name, fn in order:
                    runs[name].append(timed(fn))
                runs["cached"].append(timed(lambda llm=llm: ours(llm)))
                llm.unload()
            for name in ("bare", "cold", "cached"):
                wall = statistics.median(r[0] for r in runs[name])
                cpu = statistics.median(r[1] for r in runs[name])
                tokens = runs[name][0][2]
                rows.append(
                    (
                        concurrency,
                        name,
                        wall,
                        args.prompts / wall,
                        tokens / wall,
                        cpu / args.prompts,
                    )
                )
            ratios = [c[0] / b[0] - 1 for b, c in zip(runs["bare"], runs["cold"], strict=True)]
            rows.append((concurrency, "overhead", statistics.median(ratios), None, None, None))
    finally:
        server.stop()

    print(
        f"\nLLM layer vs bare openai.AsyncOpenAI, transformers serve (SmolLM2-135M, CPU), "
        f"{args.prompts} requests, max_tokens {args.max_tokens}, median of {args.repeats} runs"
    )
    print(
        f"{'conc.':>5} {'mode':<9} {'wall s':>8} {'req/s':>10} {'compl. tok/s':>13} "
        f"{'client CPU ms/req':>18}"
    )
    for concurrency, name, wall, rps, tps, cpu in rows:
        if name == "overhead":
            print(f"{concurrency:>5} {'overhead':<9} {wall:>+8.1%}  (cold vs bare wall time)")
        else:
            print(
                f"{concurrency:>5} {name:<9} {wall:>8.2f} {rps:>10.1f} {tps:>13.1f} "
                f"{cpu * 1000:>18.2f}"
            )


if __name__ == "__main__":
    main()
