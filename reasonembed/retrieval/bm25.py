"""BM25 as BRIGHT computes it: English stopwords removed, Snowball-stemmed tokens, k1=0.9, b=0.4.

`BM25Index(texts).search(queries, top_k)` returns (scores [n_q, k], rows [n_q, k]) best first,
rows indexing `texts`; k = min(top_k, len(texts)).
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer

from reasonembed.logs import quiet_third_party_loggers

# bm25s sets its logger to DEBUG when imported (one line per index built, in the mining step's
# process and under `eval`): back to WARNING, like the other libraries `logs` quiets
quiet_third_party_loggers()


class BM25Index:
    def __init__(self, texts: Sequence[str], k1: float = 0.9, b: float = 0.4) -> None:
        self.stemmer = Stemmer.Stemmer("english")
        self.size = len(texts)
        self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokens = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        self.retriever.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], top_k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(top_k, self.size)
        tokens = bm25s.tokenize(
            list(queries), stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return np.asarray(scores, dtype=np.float32), np.asarray(rows, dtype=np.int64)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for one query, float32 [len(texts)]."""
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self.stemmer, show_progress=False, return_ids=False
        )
        return np.asarray(self.retriever.get_scores(tokens[0]), dtype=np.float32)
