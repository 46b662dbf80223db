"""Tiny corpora and configs for factory tests (written into tmp_path by the tests)."""

from __future__ import annotations

import json
from pathlib import Path

HEAP_TEXT = (
    "A binary heap keeps the smallest element at the root of a complete binary tree stored in an "
    "array. Pushing appends the new item and sifts it up; popping swaps the root with the last "
    "leaf and sifts it down. Both take logarithmic time, which makes heaps the usual engine of "
    "priority queues, of Dijkstra's shortest paths and of k-way merges of sorted streams."
)
DOCS = [
    ("heap", HEAP_TEXT),
    ("heap-copy", "  " + HEAP_TEXT.upper() + "  "),  # the same text under another id
    (
        "bisect",
        "Binary search halves a sorted range at every step: compare the middle element with the target and keep the half that can still hold it. It finds an insertion point in logarithmic time, and bisect_left and bisect_right differ only on ties. It works on any monotone predicate, not only arrays.",
    ),
    (
        "hashing",
        "A hash table maps keys to buckets through a hash function; lookups, inserts and deletes take constant expected time. Collisions are resolved by chaining or open addressing, and the table grows and rehashes when its load factor passes a threshold, which keeps chains short.",
    ),
    (
        "sorting",
        "Merge sort splits a list in halves, sorts each recursively and merges the two sorted halves in linear time. It runs in n log n time in every case, is stable, and needs linear extra memory; timsort combines it with insertion sort on short natural runs.",
    ),
    (
        "graph",
        "Breadth-first search visits a graph level by level from a start vertex using a FIFO queue. On unweighted graphs it finds shortest paths by edge count; its running time is linear in the number of vertices plus edges, and it also detects bipartite graphs.",
    ),
    ("short", "too short to be a seed"),
]


def write_corpus(folder: Path, docs=DOCS, name: str = "corpus.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in docs))
    return path


def tiny_config(corpus: Path, cache_dir: Path, **overrides) -> dict:
    config = {
        "name": "tiny",
        "seed": 7,
        "domains": [{"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": 2}],
        "seeds": {"min_chars": 200, "max_chars": 5000},
        "generator": {"backend": "local", "max_new_tokens": 40, "batch_size": 4},
        "annotator": {"backend": "local", "max_new_tokens": 12, "batch_size": 4},
        "query_generation": {"max_reasks": 1},
        "mining": {"search_top_k": 6, "n_candidates": 2},
        "annotation": {"score_mode": "forced", "max_reasks": 0},
        "cache_dir": str(cache_dir),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def many_docs(count: int) -> list[tuple[str, str]]:
    """`count` distinct seed-sized documents (300-400 characters), deterministic."""
    topics = ("heap", "graph", "prime", "matrix", "hash", "queue", "tree", "string", "interval")
    docs = []
    for index in range(count):
        topic = topics[index % len(topics)]
        text = (
            f"Document {index} explains the {topic} technique: it keeps an invariant over the "
            f"input, updates it in amortised constant time per step, and answers each query "
            f"from the maintained state. Variant {index} applies it to problem family "
            f"{index * 7 % 31}, where the {topic} must also support deletions, and proves the "
            "running time by a potential argument over the whole sequence of operations."
        )
        docs.append((f"doc-{index}", text))
    return docs


# where libraries put their caches when told nothing: all of them fall back to HOME
HOME_CACHE_VARIABLES = (
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "HF_HOME",
    "HF_DATASETS_CACHE",
    "HF_HUB_CACHE",
    "TORCH_HOME",
    "MPLCONFIGDIR",
    "TRITON_CACHE_DIR",
)


def env_with_home(home) -> dict[str, str]:
    """This process's environment with HOME at `home` and no library cache variable set, so
    every cache a run writes outside its cache_dir lands under `home`."""
    import os

    env = {name: value for name, value in os.environ.items() if name not in HOME_CACHE_VARIABLES}
    return {**env, "HOME": str(home)}
