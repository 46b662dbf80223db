"""Exact inner-product search, deterministic, over one matrix or over blocks of one.

Every exact search in the project goes through `ExactIndex.search_and_rank`: document vectors
come as blocks (`blocks()` yields (first row, vectors [rows, dim]) one at a time), each block is
scored against the queries a tile at a time, and a running top-k is merged exactly. Scores are
computed in float64 and rounded to float32, so a document's score does not depend on the block
it sits in (BLAS float32 kernels round differently by matrix shape), and results are ordered
by score descending, then row ascending. A corpus searched whole (`DenseIndex`) or shard by
shard (`reasonembed.retrieval.sharded.ShardedIndex`) gives the same rows, scores and order;
duplicate documents tie exactly and the lowest rows win (FAISS's IndexFlatIP keeps an arbitrary
subset of ties at the k-th place, which is why this is not FAISS).

`DenseIndex(vectors)` holds document vectors [n_docs, dim] in memory (float32; normalise them
for cosine); `search(query_vectors, top_k)` returns (scores [n_q, k] float32, rows [n_q, k]
int64), best first, rows indexing the vectors given at construction; k = min(top_k, n_docs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

BLOCK_ROWS = 65536  # rows per block of a DenseIndex
TILE_ELEMENTS = 1 << 22  # document values upcast to float64 at once (32 MiB)
SCORE_BLOCK_ELEMENTS = 1 << 22  # query x document scores materialised at once
MIN_QUERY_BLOCK = 64  # queries per matmul at least (fewer wastes the pass over a block)
RANK_TOLERANCE = 1e-5  # relative band around a target's score (see `search_and_rank`)


def top_k_rows(scores: np.ndarray, top_k: int, first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `scores` [n_q, n]: the min(top_k, n) best columns, ordered by score
    descending then column ascending (ties at the k-th place keep the lowest columns), as
    (scores [n_q, k] float32, rows [n_q, k] int64 = column + first_row)."""
    n_queries, n = scores.shape
    k = min(top_k, n)
    if k <= 0:
        return np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64)
    if k < n:
        columns = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, columns, axis=1).min(axis=1)
        # ties straddling the k-th place: argpartition kept an arbitrary subset of them
        for query in np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k):
            tied = np.flatnonzero(scores[query] >= kth[query])
            columns[query] = tied[np.lexsort((tied, -scores[query, tied]))[:k]]
    else:
        columns = np.broadcast_to(np.arange(n), (n_queries, n))
    top = np.take_along_axis(scores, columns, axis=1)
    order = np.lexsort((columns, -top), axis=1)
    return (
        np.take_along_axis(top, order, axis=1).astype(np.float32, copy=False),
        np.take_along_axis(columns, order, axis=1).astype(np.int64) + first_row,
    )


def merge_top_k(
    scores_a: np.ndarray, rows_a: np.ndarray, scores_b: np.ndarray, rows_b: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k (score descending, row ascending) of two per-query candidate lists."""
    scores = np.concatenate([scores_a, scores_b], axis=1)
    rows = np.concatenate([rows_a, rows_b], axis=1)
    order = np.lexsort((rows, -scores), axis=1)[:, :top_k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


class _SourceRanks:
    """Per query, 1 + the number of documents scoring strictly higher than its target row,
    counted block by block (see `ExactIndex.search_and_rank`)."""

    def __init__(self, queries: np.ndarray, targets: np.ndarray, target_vectors: np.ndarray):
        self.targets = targets  # -1: no target
        self.ranked = np.flatnonzero(targets >= 0)
        exact_dots = np.einsum(
            "qd,qd->q", queries[self.ranked].astype(np.float64), target_vectors.astype(np.float64)
        )
        bound = np.linalg.norm(queries[self.ranked], axis=1) * np.linalg.norm(
            target_vectors, axis=1
        )
        self.low = np.full(len(targets), np.inf)
        self.high = np.full(len(targets), np.inf)
        self.low[self.ranked] = exact_dots - RANK_TOLERANCE * bound - 1e-6
        self.high[self.ranked] = exact_dots + RANK_TOLERANCE * bound + 1e-6
        self.above = np.zeros(len(targets), np.int64)
        self.band: list[list[np.ndarray]] = [[] for _ in targets]
        self.own_score = np.full(len(targets), np.nan)

    def add(self, scores: np.ndarray, first_row: int, first_query: int) -> None:
        """Count one block: `scores` [queries first_query.., rows first_row..]."""
        queries = slice(first_query, first_query + len(scores))
        high = self.high[queries][:, None]
        self.above[queries] += (scores > high).sum(axis=1)
        near = (scores >= self.low[queries][:, None]) & (scores <= high)
        for offset in np.flatnonzero(near.any(axis=1)):
            self.band[first_query + offset].append(scores[offset, near[offset]])
        local = self.targets[queries] - first_row
        for offset in np.flatnonzero((local >= 0) & (local < scores.shape[1])):
            self.own_score[first_query + offset] = scores[offset, local[offset]]

    def ranks(self) -> list[int | None]:
        ranks: list[int | None] = [None] * len(self.targets)
        for query in self.ranked:
            band = np.concatenate(self.band[query]) if self.band[query] else np.zeros(0)
            ranks[query] = int(self.above[query] + (band > self.own_score[query]).sum()) + 1
        return ranks


class ExactIndex:
    """Exact inner-product search over `blocks()`; subclasses say where the vectors live.

    `peak_block_rows` counts the most document rows ever materialised as float32 at once by a
    search (memory accounting: a sharded index keeps it <= its shard size).
    """

    size: int
    dim: int

    def __init__(self) -> None:
        self.peak_block_rows = 0

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 vectors [rows, dim]) covering rows 0..size-1 in order."""
        raise NotImplementedError

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 vectors [len(rows), dim] of the given rows, in that order."""
        raise NotImplementedError

    def search(
        self, query_vectors: np.ndarray, top_k: int, batch_size: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n_q, k], rows [n_q, k]), k = min(top_k, size), best first."""
        scores, rows, _ = self.search_and_rank(query_vectors, top_k, batch_size=batch_size)
        return scores, rows

    def search_and_rank(
        self,
        query_vectors: np.ndarray,
        top_k: int,
        rank_rows: Sequence[int | None] | None = None,
        batch_size: int = 4096,
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """`search`, plus per query the 1-based rank of document `rank_rows[i]` over the whole
        index (1 + documents scoring strictly higher; None where rank_rows[i] is None), in one
        pass over the blocks.

        Blocks come one at a time, so a document's score is known only once its block is: each
        query counts the documents clearly above its target's score (estimated in float64) and
        keeps those within a narrow band around it, then settles the band against the score
        the target got from the same matmul as every other document (so duplicates of the
        target tie with it and never count as higher)."""
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        n_queries = len(queries)
        k = min(top_k, self.size)
        # empty slots sort last: score -inf, row past every real row
        best_scores = np.full((n_queries, k), -np.inf, np.float32)
        best_rows = np.full((n_queries, k), np.iinfo(np.int64).max, np.int64)
        counter = None
        if rank_rows is not None and any(row is not None for row in rank_rows):
            targets = np.asarray([-1 if row is None else int(row) for row in rank_rows], np.int64)
            counter = _SourceRanks(queries, targets, self.vectors(targets[targets >= 0]))
        queries64 = queries.astype(np.float64)
        tile_rows = max(1, TILE_ELEMENTS // max(1, self.dim))
        for first_block_row, block in self.blocks():
            for tile_start in range(0, len(block), tile_rows):
                tile = np.asarray(block[tile_start : tile_start + tile_rows], dtype=np.float64)
                self.peak_block_rows = max(self.peak_block_rows, len(tile))
                first_row = first_block_row + tile_start
                step = min(batch_size, max(MIN_QUERY_BLOCK, SCORE_BLOCK_ELEMENTS // len(tile)))
                for start in range(0, n_queries, step):
                    stop = min(start + step, n_queries)
                    scores = (queries64[start:stop] @ tile.T).astype(np.float32)
                    top_scores, top_rows = top_k_rows(scores, k, first_row)
                    best_scores[start:stop], best_rows[start:stop] = merge_top_k(
                        best_scores[start:stop], best_rows[start:stop], top_scores, top_rows, k
                    )
                    if counter is not None:
                        counter.add(scores, first_row, start)
                del tile
            del block
        ranks = counter.ranks() if counter is not None else [None] * n_queries
        return best_scores, best_rows, ranks


class DenseIndex(ExactIndex):
    """Exact search over document vectors held in memory as one float32 matrix (searched in
    views of `BLOCK_ROWS` rows, no copy)."""

    def __init__(self, vectors: np.ndarray) -> None:
        super().__init__()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"expected a 2-d array of document vectors, got shape {vectors.shape}")
        self.matrix = vectors
        self.size, self.dim = vectors.shape

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.size, BLOCK_ROWS):
            yield start, self.matrix[start : start + BLOCK_ROWS]

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(rows, dtype=np.int64)]
