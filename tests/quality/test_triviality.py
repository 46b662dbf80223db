"""Triviality metrics: source copy, duplicates of the source, ranks."""

from __future__ import annotations

import numpy as np
import pytest

from reasonembed.quality import triviality as tv
from tests.quality.fixtures import OTHER_TEXTS, SOURCE


def test_a_query_quoting_its_source_has_a_long_copied_run():
    quote = "the light reactions take place in the thylakoid membranes and produce ATP and NADPH"
    chars, share = tv.longest_common_run(f"Why is it said that {quote}?", SOURCE)
    assert chars == len(quote.casefold())
    assert share == pytest.approx(len(quote) / len(f"why is it said that {quote}"))
    assert tv.ngram_overlap(quote, SOURCE) == 1.0


def test_an_own_words_query_copies_little():
    query = "Why would a houseplant kept in a dark corner grow slowly even with plenty of water?"
    chars, share = tv.longest_common_run(query, SOURCE)
    assert chars <= len("a dark") and share < 0.1
    assert tv.ngram_overlap(query, SOURCE) == 0.0
    assert tv.longest_common_run("", SOURCE) == (0, 0.0)
    assert tv.ngram_overlap("light energy", SOURCE, n=5) == 1.0  # shorter than n: one n-gram


def test_source_duplicates_by_normalised_text_and_by_cosine():
    texts = [OTHER_TEXTS[0], "  " + SOURCE.upper() + "\n", OTHER_TEXTS[1], SOURCE + " (edited)"]
    assert tv.source_duplicate_indices(SOURCE, texts) == [1]
    source_vector = np.array([1.0, 0.0, 0.0])
    vectors = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.5, 0.0], [3.0, 0.3, 0.0]])
    assert tv.source_duplicate_indices(SOURCE, texts, source_vector, vectors, 0.95) == [1, 3]
    with pytest.raises(ValueError, match="3 rows for 4 texts"):
        tv.source_duplicate_indices(SOURCE, texts, source_vector, vectors[:3])


def test_near_duplicate_by_real_minilm_embeddings():
    from reasonembed.retrieval import Encoder

    encoder = Encoder("minilm", device="cpu")
    near = SOURCE.replace("three-carbon sugars", "3-carbon sugars").replace("then ", "")
    vectors = encoder.encode([SOURCE, near, *OTHER_TEXTS])
    found = tv.source_duplicate_indices(SOURCE, [near, *OTHER_TEXTS], vectors[0], vectors[1:])
    assert found == [0]


def test_ranks():
    assert tv.positive_ranks([1, 2, 3, 4], [5, 1, None, 3]) == [1, 4]
    assert tv.positive_ranks([1, 2], [2, 2]) == []
    assert tv.bm25_ranks(["b", "x", "a"], ["a", "b", "c"]) == [2, 0, 1]
    assert tv.rank_of_target(["d1", "src", "d2"], "src") == 2
    assert tv.rank_of_target(["d1"], "src") is None


def test_column_constants_are_prefixed_and_typed():
    assert all(name.startswith("triviality_") for name in tv.TRIVIALITY_COLUMNS)
    assert tv.TRIVIALITY_SOURCE_DENSE_RANK == "triviality_source_dense_rank"
    assert tv.TRIVIALITY_SOURCE_BM25_RANK == "triviality_source_bm25_rank"
    assert set(tv.TRIVIALITY_SCALAR_METRICS) <= set(tv.TRIVIALITY_COLUMNS)
