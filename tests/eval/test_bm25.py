"""BRIGHT's query-side BM25 against the formula computed directly."""

import math
from collections import Counter

import bm25s
import numpy as np
import pytest
import Stemmer

from reasonembed.eval.bm25 import BrightBM25

DOCS = [
    "The cat sat on the mat with another cat.",
    "Dogs chase cats in the garden every morning.",
    "A quiet garden with roses and a small pond.",
    "Mats and rugs cover the wooden floor of the room near the garden.",
    "",
]
QUERIES = ["cat on a garden mat mat", "roses pond", "nothing matches zzz"]


def reference_scores(docs, query, k1=0.9, b=0.4):
    stemmer = Stemmer.Stemmer("porter")

    def tokens(text):
        return bm25s.tokenize(
            [text], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]

    doc_tokens = [tokens(d) for d in docs]
    avgdl = sum(len(t) for t in doc_tokens) / len(docs)
    n = len(docs)
    df = Counter(term for t in doc_tokens for term in set(t))

    def weight(term, tf, length):
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        return idf * tf / (tf + k1 * (1 - b + b * length / avgdl))

    q = Counter(t for t in tokens(query) if t in df)
    q_len = sum(q.values())
    scores = []
    for t in doc_tokens:
        counts = Counter(t)
        scores.append(
            sum(
                weight(term, qtf, q_len) * weight(term, counts[term], len(t))
                for term, qtf in q.items()
                if term in counts
            )
        )
    return np.asarray(scores)


def test_query_side_scores_match_the_formula():
    index = BrightBM25(DOCS)
    scores = index.query_scores(QUERIES)
    assert scores.shape == (len(QUERIES), len(DOCS))
    for row, query in enumerate(QUERIES):
        np.testing.assert_allclose(scores[row], reference_scores(DOCS, query), rtol=1e-5)
    assert scores[0].argmax() == 0 and scores[1].argmax() == 2
    assert not scores[2].any()
    assert scores[0][0] == pytest.approx(reference_scores(DOCS, QUERIES[0])[0], rel=1e-5)
