"""Approximate search over a `ShardedIndex`'s rows with FAISS.

`ApproximateIndex.build(exact, kind)`: a FAISS inner-product index, "ivf" (IVF with float16
codes: the shards' values, stored losslessly) or "hnsw" (HNSW over float16 codes), trained on a
sample of rows and filled shard by shard; on GPUs when FAISS sees any (ivf). It holds the
corpus's float16 vectors in memory (the size of the shards): it buys speed, not memory.
`recall_at_k` measures it against exact search.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reasonembed.data.textnorm import stable_hash
from reasonembed.retrieval.cache import atomic_file
from reasonembed.retrieval.sharded import ShardedIndex

APPROXIMATE_KINDS = ("ivf", "hnsw")


class ApproximateIndex:
    """FAISS approximate inner-product search over the rows of a `ShardedIndex`.

    `search(queries, top_k)` returns (scores [n_q, k], rows [n_q, k]) ordered by score desc then
    row asc; rows FAISS could not fill are -1 (score -inf), last.
    """

    def __init__(self, index: Any, kind: str, size: int) -> None:
        self.index = index
        self.kind = kind
        self.size = size

    @classmethod
    def build(
        cls,
        exact: ShardedIndex,
        kind: str,
        nlist: int | None = None,
        nprobe: int = 32,
        ef_search: int = 128,
        hnsw_m: int = 32,
    ) -> ApproximateIndex:
        """Build (or read back from the embedding cache) an `kind` index over `exact`'s rows:
        ivf with `nlist` lists (None: about 4 sqrt(rows), at least 39 training rows per list)
        searched with `nprobe`; hnsw with `hnsw_m` links searched with `ef_search`."""
        import faiss

        if kind not in APPROXIMATE_KINDS:
            raise ValueError(
                f"approximate index kind must be one of {APPROXIMATE_KINDS}, got {kind!r}"
            )
        n = exact.size
        if kind == "ivf":
            nlist = max(1, min(nlist or int(4 * np.sqrt(n)), n // 39 or 1))
        settings = f"{kind}-{nlist}" if kind == "ivf" else f"{kind}-{hnsw_m}"
        key = stable_hash(settings, *(shard.key for shard in exact.shards))
        path = exact.cache.folder / f"ann-{settings}-{key[:32]}.faiss"
        if path.exists():
            index = faiss.read_index(str(path))
        else:
            index = cls._new(faiss, kind, exact.dim, nlist, hnsw_m)
            # faiss wants >= 39 training rows per list; SQ (hnsw) only needs value ranges
            train_rows = min(n, 40 * nlist) if kind == "ivf" else min(n, 1000)
            sample = np.unique(np.linspace(0, n - 1, train_rows).astype(np.int64))
            index.train(exact.vectors(sample))
            for _, block in exact.blocks():
                for start in range(0, len(block), 16384):
                    index.add(np.asarray(block[start : start + 16384], dtype=np.float32))
            with atomic_file(path) as handle:
                faiss.write_index(index, faiss.PyCallbackIOWriter(handle.write))
        if kind == "ivf":
            index.nprobe = min(nprobe, nlist)
            if faiss.get_num_gpus() > 0:
                index = faiss.index_cpu_to_all_gpus(index)
        else:
            index.hnsw.efSearch = ef_search
        return cls(index, kind, n)

    @staticmethod
    def _new(faiss, kind: str, dim: int, nlist: int | None, hnsw_m: int):
        fp16 = faiss.ScalarQuantizer.QT_fp16
        if kind == "ivf":
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, fp16, faiss.METRIC_INNER_PRODUCT
            )
            index.referenced_objects = [quantizer]
            return index
        return faiss.IndexHNSWSQ(dim, fp16, hnsw_m, faiss.METRIC_INNER_PRODUCT)

    def search(self, query_vectors: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(top_k, self.size)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        scores, rows = self.index.search(queries, k)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), -scores), axis=1)
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def recall_at_k(approximate_rows: np.ndarray, exact_rows: np.ndarray, k: int) -> list[float]:
    """Per query, the share of the exact top-k rows that the approximate top-k also holds."""
    recalls = []
    for found, truth in zip(approximate_rows, exact_rows, strict=True):
        expected = {int(row) for row in truth[:k] if row >= 0}
        got = {int(row) for row in found[:k] if row >= 0}
        recalls.append(len(expected & got) / len(expected) if expected else 1.0)
    return recalls
