"""Retrieval metrics exactly as trec_eval computes them, vectorised over a whole run.

Contract of `evaluate(run, qrels, depth)`:
- ranking: per query, documents ordered by score descending, ties broken by doc id descending
  (byte order), which is trec_eval's order; ranks written in a run file are ignored;
- `depth` (default 1,000): only the first `depth` documents of each query count (trec_eval -M);
- gains are the qrels relevance values (BRIGHT: 1); a document is relevant when rel >= 1;
- nDCG@k = DCG@k / IDCG@k, gain / log2(rank + 1) with 1-based ranks, IDCG from the qrels;
  recall@k = relevant in the top k / relevant in the qrels; MRR = 1 / rank of the first relevant
  document within `depth` (0 when none);
- every query in the qrels gets a value: a query with no retrieved document scores 0 (trec_eval
  -c). Queries in the run but not in the qrels are ignored.

Returns a `MetricTable`: per-query float64 arrays keyed by metric name, aligned with
`qrels.query_ids`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reasonembed.bright.data import BrightExample
from reasonembed.eval.runs import Run, as_string_array, group_ranks, pair_lookup, trec_order

DEFAULT_DEPTH = 1000
NDCG_CUTOFFS = (10,)
RECALL_CUTOFFS = (10, 100)


@dataclass
class Qrels:
    """Judgements as flat arrays: doc `doc_ids[i]` has `relevance[i]` for query
    `query_ids[query_index[i]]`. Each (query, doc) pair appears once."""

    query_ids: list[str]
    query_index: np.ndarray  # int64 [n]
    doc_ids: pa.Array  # string [n]
    relevance: np.ndarray  # int64 [n]

    def __post_init__(self) -> None:
        self.query_index = np.asarray(self.query_index, dtype=np.int64)
        self.relevance = np.asarray(self.relevance, dtype=np.int64)
        self.doc_ids = as_string_array(self.doc_ids)

    @classmethod
    def from_dict(cls, judgements: Mapping[str, Mapping[str, int]]) -> Qrels:
        """From {query_id: {doc_id: relevance}} (the pytrec_eval shape)."""
        query_ids = list(judgements)
        index = [i for i, q in enumerate(query_ids) for _ in judgements[q]]
        docs = [doc_id for q in query_ids for doc_id in judgements[q]]
        rels = [int(rel) for q in query_ids for rel in judgements[q].values()]
        return cls(query_ids, np.asarray(index), pa.array(docs, pa.string()), np.asarray(rels))

    @classmethod
    def from_gold(cls, gold: Iterable[tuple[str, Sequence[str]]]) -> Qrels:
        """Binary qrels from (query_id, gold doc ids); a repeated gold id counts once."""
        return cls.from_dict({query_id: dict.fromkeys(ids, 1) for query_id, ids in gold})


def task_qrels(examples: Iterable[BrightExample], long: bool = False) -> Qrels:
    """Binary qrels of a BRIGHT task: each query's protocol gold ids (`BrightExample.gold`)."""
    return Qrels.from_gold((example.id, example.gold(long)) for example in examples)


@dataclass
class MetricTable:
    """Per-query metric values (float64 arrays aligned with `query_ids`)."""

    query_ids: list[str]
    values: dict[str, np.ndarray]
    retrieved: np.ndarray  # int64: documents counted per query (after the depth cut)

    def mean(self) -> dict[str, float]:
        """Mean over queries of each metric (0.0 for an empty table)."""
        return {
            name: float(column.mean()) if len(column) else 0.0
            for name, column in self.values.items()
        }

    def per_query(self) -> dict[str, dict[str, float]]:
        return {
            query_id: {name: float(column[i]) for name, column in self.values.items()}
            for i, query_id in enumerate(self.query_ids)
        }


def metric_names(
    ndcg_cutoffs: Sequence[int] = NDCG_CUTOFFS, recall_cutoffs: Sequence[int] = RECALL_CUTOFFS
) -> list[str]:
    return [f"ndcg@{k}" for k in ndcg_cutoffs] + [f"recall@{k}" for k in recall_cutoffs] + ["mrr"]


def evaluate(
    run: Run,
    qrels: Qrels,
    depth: int | None = DEFAULT_DEPTH,
    ndcg_cutoffs: Sequence[int] = NDCG_CUTOFFS,
    recall_cutoffs: Sequence[int] = RECALL_CUTOFFS,
) -> MetricTable:
    """Score `run` against `qrels` (see the module docstring for the exact definitions)."""
    n_queries = len(qrels.query_ids)
    position = {query_id: i for i, query_id in enumerate(qrels.query_ids)}
    run_to_qrels = np.asarray([position.get(q, -1) for q in run.query_ids], dtype=np.int64)
    judged = run_to_qrels[run.query_index] >= 0 if len(run) else np.zeros(0, dtype=bool)
    if not judged.all():
        run = run.take(np.flatnonzero(judged))

    order = trec_order(run)
    entry_query = run_to_qrels[run.query_index[order]] if len(run) else np.zeros(0, np.int64)
    ranks = group_ranks(run.query_index[order])
    if depth is not None:
        within = ranks < depth
        order, entry_query, ranks = order[within], entry_query[within], ranks[within]
    retrieved = np.bincount(entry_query, minlength=n_queries)

    sorted_docs = run.doc_ids.take(pa.array(order, pa.int64()))
    row = pair_lookup(entry_query, sorted_docs, qrels.query_index, qrels.doc_ids)
    gains = np.where(row >= 0, qrels.relevance[row], 0).clip(min=0).astype(np.float64)
    relevant = gains >= 1
    n_relevant = np.bincount(qrels.query_index[qrels.relevance >= 1], minlength=n_queries)

    ideal_order = np.lexsort((-qrels.relevance, qrels.query_index))
    ideal_query = qrels.query_index[ideal_order]
    ideal_gain = qrels.relevance[ideal_order].clip(min=0).astype(np.float64)
    ideal_rank = group_ranks(ideal_query)
    discounted = gains / np.log2(ranks + 2.0)
    ideal_discounted = ideal_gain / np.log2(ideal_rank + 2.0)

    values: dict[str, np.ndarray] = {}
    for k in ndcg_cutoffs:
        top, ideal_top = ranks < k, ideal_rank < k
        dcg = np.bincount(entry_query[top], discounted[top], minlength=n_queries)
        idcg = np.bincount(ideal_query[ideal_top], ideal_discounted[ideal_top], minlength=n_queries)
        values[f"ndcg@{k}"] = np.divide(dcg, idcg, out=np.zeros(n_queries), where=idcg > 0)
    for k in recall_cutoffs:
        hits = np.bincount(entry_query[relevant & (ranks < k)], minlength=n_queries)
        values[f"recall@{k}"] = np.divide(
            hits, n_relevant, out=np.zeros(n_queries), where=n_relevant > 0
        )
    # Entries are in rank order within each query, so the first relevant one has the best rank.
    hit_query, first = np.unique(entry_query[relevant], return_index=True)
    mrr = np.zeros(n_queries)
    mrr[hit_query] = 1.0 / (ranks[relevant][first] + 1.0)
    values["mrr"] = mrr
    return MetricTable(query_ids=list(qrels.query_ids), values=values, retrieved=retrieved)
