"""Retrieval runs over one evaluation set (`EvalTask`: a BRIGHT task or a BEIR folder), following
BRIGHT's official protocol.

Each query scores the set's corpus; its excluded ids are removed; its top `depth` (1,000) are
kept. At the cut, documents with equal scores keep corpus order, as the official code's stable
sort does (trec_eval then re-orders what was kept by score and doc id).

- `dense_run`: the shared encoder (embedding cache keyed by model and text hash) and exact
  FAISS inner-product search over the top `depth + max excluded` candidates.
- `bm25_run`: BRIGHT's query-side BM25 (`reasonembed.eval.bm25.BrightBM25`), every document
  scored.

Both return `(Run, timings)`, timings in seconds keyed "encode_documents", "encode_queries",
"index", "search".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from reasonembed.eval.bm25 import BrightBM25
from reasonembed.eval.instructions import Instructions
from reasonembed.eval.runs import Run
from reasonembed.eval.task import EvalTask
from reasonembed.logs import Progress
from reasonembed.retrieval import DenseIndex

logger = logging.getLogger(__name__)


def excluded_rows(task: EvalTask) -> list[np.ndarray]:
    """Corpus rows of each query's excluded ids (ids absent from the corpus are ignored)."""
    row_of = {doc_id: row for row, doc_id in enumerate(task.doc_ids)}
    return [
        np.asarray([row_of[d] for d in ids if d in row_of], dtype=np.int64) for ids in task.excluded
    ]


def select_top(
    scores: np.ndarray, rows: np.ndarray, excluded: Sequence[np.ndarray], depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query: drop excluded rows, order by score descending then row ascending, keep `depth`.

    `scores`/`rows`: [n_q, k] candidates. Returns flat (query_index, rows, scores).
    """
    n_queries, k = rows.shape
    drop = np.zeros_like(rows, dtype=bool)
    for i, bad in enumerate(excluded):
        if len(bad):
            drop[i] = np.isin(rows[i], bad)
    drop |= rows < 0
    order = np.lexsort((rows, -scores.astype(np.float64)), axis=-1)
    rows = np.take_along_axis(rows, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    drop = np.take_along_axis(drop, order, axis=1)
    keep = ~drop & (np.cumsum(~drop, axis=1) <= depth)
    query_index = np.broadcast_to(np.arange(n_queries)[:, None], (n_queries, k))
    return query_index[keep], rows[keep], scores[keep].astype(np.float64)


def _to_run(task: EvalTask, query_index: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> Run:
    doc_ids = pa.array(task.doc_ids, pa.string()).take(pa.array(rows, pa.int64()))
    return Run(list(task.query_ids), query_index, doc_ids, scores)


def dense_run(
    task: EvalTask,
    encoder,
    instructions: Instructions,
    depth: int = 1000,
    batch_size: int = 32,
) -> tuple[Run, dict[str, float]]:
    """Dense retrieval with `encoder` (an `Encoder` or `CachedEncoder`)."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    doc_texts = [instructions.document(text) for text in task.texts]
    doc_vectors = encoder.encode(
        doc_texts, batch_size=batch_size, show_progress=True, desc=f"{task.name} documents"
    )
    timings["encode_documents"] = time.perf_counter() - start
    start = time.perf_counter()
    query_texts = [instructions.query(query) for query in task.queries]
    query_vectors = encoder.encode(
        query_texts, batch_size=batch_size, show_progress=False, desc=f"{task.name} queries"
    )
    timings["encode_queries"] = time.perf_counter() - start
    start = time.perf_counter()
    index = DenseIndex(doc_vectors)
    timings["index"] = time.perf_counter() - start
    start = time.perf_counter()
    excluded = excluded_rows(task)
    extra = max((len(rows) for rows in excluded), default=0)
    scores, rows = index.search(query_vectors, depth + extra)
    query_index, rows, scores = select_top(scores, rows, excluded, depth)
    run = _to_run(task, query_index, rows, scores)
    timings["search"] = time.perf_counter() - start
    return run, timings


def bm25_run(
    task: EvalTask,
    depth: int = 1000,
    batch_size: int = 16,
) -> tuple[Run, dict[str, float]]:
    """BRIGHT's BM25 baseline (query-side BM25, k1=0.9, b=0.4)."""
    timings: dict[str, float] = {"encode_documents": 0.0, "encode_queries": 0.0}
    start = time.perf_counter()
    index = BrightBM25(task.texts)
    timings["index"] = time.perf_counter() - start
    start = time.perf_counter()
    excluded = excluded_rows(task)
    k = min(depth + max((len(rows) for rows in excluded), default=0), len(task))
    parts = []
    progress = Progress(f"{task.name} BM25", len(task.queries), unit="query", leave=False)
    for first in range(0, len(task.queries), batch_size):
        scores = index.query_scores(task.queries[first : first + batch_size])
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
        for offset, row_scores in enumerate(scores):
            # The top k, taking documents tied at the k-th score in corpus order.
            above = np.flatnonzero(row_scores > kth[offset])
            tied = np.flatnonzero(row_scores == kth[offset])[: k - len(above)]
            candidates = np.concatenate([above, tied])
            query_index, rows, kept = select_top(
                row_scores[candidates][None, :],
                candidates[None, :],
                excluded[first + offset : first + offset + 1],
                depth,
            )
            parts.append((query_index + first + offset, rows, kept))
        progress.update(len(scores))
    progress.close()
    query_index = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    scores = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    run = _to_run(task, query_index, rows, scores)
    timings["search"] = time.perf_counter() - start
    return run, timings
