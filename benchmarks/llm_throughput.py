"""LLM layer throughput against a real `transformers serve` on loopback.

For concurrency 1, 4 and 16: requests/s and completion tokens/s of
  - bare      `openai.AsyncOpenAI` calls with a semaphore (the peer),
  - cold      this layer (`OpenAICompatibleLLM.complete`, empty request cache) on the same prompts,
  - cached    this layer again on the same prompts (every answer from the request cache),
and the layer's overhead over bare calls (goal: within 10%). Bare and cold runs alternate in
order between concurrency levels to spread the drift of a shared machine.

    .venv/bin/python benchmarks/llm_throughput.py [--prompts 16] [--max-tokens 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reasonembed.llms.local_model import ensure_local_model  # noqa: E402
from reasonembed.llms.openai_compat import OpenAICompatibleLLM  # noqa: E402
from tests.llms.fault_proxy import TransformersServer  # noqa: E402


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
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="requests per measurement")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
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
            llm = OpenAICompatibleLLM(
                model=server.model,
                base_urls=[server.url],
                temperature=0.0,
                top_k=None,
                max_new_tokens=args.max_tokens,
                concurrency=concurrency,
                timeout_s=300,
                request_cache_path=str(work / f"requests-{concurrency}.sqlite"),
            )
            llm.load()

            def ours(llm=llm, batch=batch) -> int:
                return sum(c.completion_tokens for c in llm.complete(batch, template_hash="b"))

            def peer(batch=batch, concurrency=concurrency) -> int:
                return asyncio.run(
                    bare(server.url, server.model, batch, concurrency, args.max_tokens)
                )

            order = [("bare", peer), ("cold", ours)]
            if level_index % 2:
                order.reverse()
            results = {name: timed(fn) for name, fn in order}
            results["cached"] = timed(ours)
            llm.unload()
            for name in ("bare", "cold", "cached"):
                wall, tokens = results[name]
                rows.append((concurrency, name, wall, args.prompts / wall, tokens / wall))
            overhead = results["cold"][0] / results["bare"][0] - 1
            rows.append((concurrency, "overhead", overhead, None, None))
    finally:
        server.stop()

    print(
        f"\nLLM layer vs bare openai.AsyncOpenAI, transformers serve (SmolLM2-135M, CPU), "
        f"{args.prompts} requests, max_tokens {args.max_tokens}"
    )
    print(f"{'conc.':>5} {'mode':<9} {'wall s':>8} {'req/s':>10} {'compl. tok/s':>13}")
    for concurrency, name, wall, rps, tps in rows:
        if name == "overhead":
            print(f"{concurrency:>5} {'overhead':<9} {wall:>+8.1%}  (cold vs bare wall time)")
        else:
            print(f"{concurrency:>5} {name:<9} {wall:>8.2f} {rps:>10.1f} {tps:>13.1f}")


if __name__ == "__main__":
    main()
