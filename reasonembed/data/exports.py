"""Training exports derived from `raw` samples, each in its consumer's native format.

- `reasonembed`: the published ReasonEmbed format, one JSONL per domain: prompt, query,
  reasoning_query, pos, neg (texts; positives by relevance score then retrieval rank, negatives
  by retrieval rank, hardest first), train_group_size, batch_size.
- `flagembedding`: FlagEmbedding's JSONL: query, pos, neg, pos_scores, neg_scores (the
  annotator's 1-5 scores), prompt, type ("normal").
- `sentence-transformers`: one row per (query, positive): anchor, positive, negative_1 ..
  negative_n, nothing else (the library reads columns by position). n is the same for every row:
  the smallest number of negatives of any sample, capped at `max_negatives`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reasonembed.data.domains import DomainRegistry
from reasonembed.data.records import sentence_transformers_negative


def split_candidates(sample: dict[str, Any], threshold: int) -> tuple[list[dict], list[dict]]:
    """(positives, negatives) of a raw sample, each in export order."""
    candidates = sample["candidates"]
    positives = sorted(
        (c for c in candidates if c["relevance_score"] >= threshold),
        key=lambda c: (-c["relevance_score"], c["retrieval_rank"]),
    )
    negatives = sorted(
        (c for c in candidates if c["relevance_score"] < threshold),
        key=lambda c: c["retrieval_rank"],
    )
    return positives, negatives


def reasonembed_rows(
    samples: Iterable[dict], registry: DomainRegistry, threshold: int
) -> Iterable[dict]:
    for sample in samples:
        positives, negatives = split_candidates(sample, threshold)
        domain = registry.get(sample["domain"])
        yield {
            "prompt": sample["instruction"],
            "query": sample["query"],
            "reasoning_query": sample["reasoning_query"],
            "pos": [c["text"] for c in positives],
            "neg": [c["text"] for c in negatives],
            "train_group_size": domain.train_group_size,
            "batch_size": domain.batch_size,
        }


def flagembedding_rows(samples: Iterable[dict], threshold: int) -> Iterable[dict]:
    for sample in samples:
        positives, negatives = split_candidates(sample, threshold)
        yield {
            "query": sample["query"],
            "pos": [c["text"] for c in positives],
            "neg": [c["text"] for c in negatives],
            "pos_scores": [float(c["relevance_score"]) for c in positives],
            "neg_scores": [float(c["relevance_score"]) for c in negatives],
            "prompt": sample["instruction"],
            "type": "normal",
        }


def sentence_transformers_rows(
    samples: list[dict], threshold: int, max_negatives: int = 7, n_negatives: int | None = None
) -> list[dict]:
    """Rows of `samples` (each needs `query` and `candidates`). `n_negatives`: the number of
    negative columns (every sample must have at least that many); None: the smallest number of
    negatives among `samples`, capped at `max_negatives` (the streaming writer passes the whole
    dataset's)."""
    splits = [split_candidates(sample, threshold) for sample in samples]
    if not splits:
        return []
    if n_negatives is None:
        n_negatives = min(max_negatives, min(len(negatives) for _, negatives in splits))
    rows = []
    for sample, (positives, negatives) in zip(samples, splits, strict=True):
        for positive in positives:
            row = {"anchor": sample["query"], "positive": positive["text"]}
            for index, negative in enumerate(negatives[:n_negatives], start=1):
                row[sentence_transformers_negative(index)] = negative["text"]
            rows.append(row)
    return rows
