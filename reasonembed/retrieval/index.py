"""Exact inner-product search with FAISS.

`DenseIndex(vectors)` holds document vectors [n_docs, dim] (float32; normalise them for cosine);
`search(query_vectors, top_k)` returns (scores [n_q, k] float32, rows [n_q, k] int64), best first,
rows indexing the vectors given at construction; k = min(top_k, n_docs).
"""

from __future__ import annotations

import faiss
import numpy as np


class DenseIndex:
    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"expected a 2-d array of document vectors, got shape {vectors.shape}")
        self.size = vectors.shape[0]
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def search(
        self, query_vectors: np.ndarray, top_k: int, batch_size: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(top_k, self.size)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        rows = np.zeros((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), batch_size):
            batch_scores, batch_rows = self.index.search(queries[start : start + batch_size], k)
            scores[start : start + batch_size] = batch_scores
            rows[start : start + batch_size] = batch_rows
        return scores, rows
