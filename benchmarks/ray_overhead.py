"""Ray vs local: the same small config through `generate` on this machine and on a local Ray
cluster (`reasonembed.factory.engine`), wall time and the overhead ratio.

Both roles talk to the instant OpenAI-compatible stand-in (tests/support/standin_server.py) in a
process of its own, and mining uses the bundled MiniLM, so what differs is the engine: distilabel
forking step processes here, or Ray starting actors (and their queue actors) on a cluster
started with `ray start --head` (tests/support/ray_cluster.py; its start-up is reported apart).
Each run has a fresh cache folder (nothing served from a cache), and every run must give the
same samples (checked).

    .venv/bin/python benchmarks/ray_overhead.py [--seeds 16] [--candidates 8] [--replicas 1]
        [--num-cpus 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from reasonembed.config import parse_config  # noqa: E402
from reasonembed.factory.generate import generate  # noqa: E402
from tests.support.ray_cluster import RayHead  # noqa: E402
from tests.support.standin_server import MODEL, StandinProcess  # noqa: E402

VOCABULARY = (
    "array heap stack queue graph vertex edge tree node hash bucket key value sort merge split "
    "search binary prefix suffix window pointer interval matrix prime modulo digit string "
    "substring palindrome path cycle weight cost greedy dynamic memo state transition"
).split()


def write_corpus(path: Path, docs: int, seed: int = 0) -> None:
    """`docs` documents of 40-120 words from VOCABULARY (ids doc-0..), one JSON line each."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for index in range(docs):
            words = [rng.choice(VOCABULARY) for _ in range(rng.randint(40, 120))]
            out.write(json.dumps({"doc_id": f"doc-{index}", "text": " ".join(words)}) + "\n")


def config(corpus: Path, cache: Path, url: str, args, engine: dict) -> dict:
    role = {"backend": "openai", "model": MODEL, "base_url": url, "batch_size": 8}
    return {
        "name": "ray-overhead",
        "seed": 7,
        "domains": [
            {"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": args.seeds}
        ],
        "generator": role,
        "annotator": role,
        "mining": {"search_top_k": 2 * args.candidates, "n_candidates": args.candidates},
        "annotation": {"score_mode": "tag", "max_reasks": 0},
        "cache_dir": str(cache),
        "engine": engine,
    }


def samples(output: Path) -> list[tuple]:
    rows = pq.read_table(output / "raw").to_pylist()
    return sorted(
        (r["sample_id"], r["query"], tuple(c["doc_id"] for c in r["candidates"])) for r in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=1, help="annotate_relevance replicas")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the Ray head")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    replicas = {"annotate_relevance": args.replicas} if args.replicas > 1 else {}
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, StandinProcess() as server:
        folder = Path(tmp)
        corpus = folder / "corpus.jsonl"
        write_corpus(corpus, docs=max(4 * args.seeds, 64))
        with RayHead(num_cpus=args.num_cpus) as head:
            runs = {
                "local": {"kind": "local", "replicas": replicas},
                "ray": {"kind": "ray", "address": head.address, "replicas": replicas},
            }
            expected = None
            for repeat in range(args.repeats):
                for name, engine in runs.items():
                    cache, output = (
                        folder / f"cache-{name}-{repeat}",
                        folder / f"out-{name}-{repeat}",
                    )
                    started = time.monotonic()
                    stats = generate(
                        parse_config(config(corpus, cache, server.url, args, engine)), output
                    )
                    wall = time.monotonic() - started
                    got = samples(output)
                    expected = expected or got
                    if got != expected:
                        raise SystemExit(
                            f"{name} run {repeat} gave other samples than the first run"
                        )
                    rows.append((name, wall, stats.samples))
            start_s = head.start_s or 0.0

    local = [wall for name, wall, _ in rows if name == "local"]
    ray = [wall for name, wall, _ in rows if name == "ray"]
    judgements = args.seeds * args.candidates
    print(
        f"\nsame config ({args.seeds} seeds x {args.candidates} candidates = {judgements} "
        f"judgements, annotate_relevance replicas {args.replicas}), stand-in LLM server, "
        f"Ray head with {args.num_cpus} CPUs (started in {start_s:.1f} s, not counted)\n"
    )
    print(f"{'engine':<8}{'wall s':>10}{'samples':>10}{'vs local':>10}")
    base = min(local)
    for name, wall, kept in rows:
        print(f"{name:<8}{wall:>10.1f}{kept:>10}{wall / base:>9.2f}x")
    print(
        f"\noverhead ratio (best ray / best local): {min(ray) / base:.2f}x; "
        f"fixed cost {min(ray) - base:+.1f} s per run"
    )


if __name__ == "__main__":
    main()
