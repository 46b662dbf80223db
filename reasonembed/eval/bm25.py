"""BRIGHT's BM25 baseline: query-side BM25 over the shared bm25s index.

The official BRIGHT code (gensim's LuceneBM25Model over a Lucene analyzer) weights the query as
a BM25 document too and scores a document by the dot product of the two weight vectors:

    w(t, x) = idf(t) * tf(t, x) / (tf(t, x) + k1 * (1 - b + b * |x| / avgdl))
    idf(t)  = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(q, d) = sum over terms t of q known to the corpus: w(t, q) * w(t, d)

with k1 = 0.9, b = 0.4, |q| counting the query's known tokens. bm25s (method "lucene") stores
exactly w(t, d) as a sparse docs x terms matrix, so only the query side is added here.
Tokens: lower-cased words of 2+ characters, bm25s's English stopwords (Lucene's 33-word list),
Porter stemming (PyStemmer), the closest of its stemmers to Lucene's PorterStemFilter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import scipy.sparse as sp
import Stemmer

from reasonembed.retrieval.bm25 import BM25Index


class BrightBM25(BM25Index):
    """`query_scores(queries)` -> float32 [n_queries, n_docs]: every document's score."""

    def __init__(
        self, texts: Sequence[str], k1: float = 0.9, b: float = 0.4, stemmer: str = "porter"
    ) -> None:
        self.stemmer = Stemmer.Stemmer(stemmer)
        self.size = len(texts)
        self.k1, self.b = k1, b
        tokens = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        lengths = np.fromiter((len(ids) for ids in tokens.ids), np.float64, len(tokens.ids))
        self.avgdl = float(lengths.mean()) if len(lengths) else 0.0
        self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.retriever.index(tokens, show_progress=False)
        data = self.retriever.scores
        n_terms = len(data["indptr"]) - 1
        self.matrix = sp.csc_matrix(
            (data["data"], data["indices"], data["indptr"]), shape=(data["num_docs"], n_terms)
        )
        df = np.diff(self.matrix.indptr).astype(np.float64)
        self.idf = np.log(1.0 + (self.size - df + 0.5) / (df + 0.5))
        self.vocab = {
            token: term for token, term in self.retriever.vocab_dict.items() if term < n_terms
        }

    def query_weights(self, queries: Sequence[str]) -> sp.csc_matrix:
        """Query-side BM25 weights, terms x queries."""
        token_lists = bm25s.tokenize(
            list(queries),
            stopwords="en",
            stemmer=self.stemmer,
            show_progress=False,
            return_ids=False,
        )
        rows, cols, values = [], [], []
        for column, tokens in enumerate(token_lists):
            counts = Counter(self.vocab[t] for t in tokens if t in self.vocab)
            length = sum(counts.values())
            norm = self.k1 * (1.0 - self.b + self.b * length / max(self.avgdl, 1e-9))
            for term, tf in counts.items():
                rows.append(term)
                cols.append(column)
                values.append(self.idf[term] * tf / (tf + norm))
        return sp.csc_matrix((values, (rows, cols)), shape=(self.matrix.shape[1], len(token_lists)))

    def query_scores(self, queries: Sequence[str]) -> np.ndarray:
        """Scores of every document for each query, float32 [len(queries), n_docs]."""
        product = self.matrix @ self.query_weights(queries)
        return np.asarray(product.T.todense(), dtype=np.float32)
