"""Triviality metrics of one sample: plain functions over plain values (no pipeline types).

A synthetic query is trivial when it points straight back to the document it was written from:
it copies the source's words, the source ranks first for it, or the "positives" are the source
under other ids. Metric columns of the `raw` config (TRIVIALITY_COLUMNS, arrow types in
TRIVIALITY_FIELDS):

    triviality_source_copy_chars     int    characters of the longest run of words the query
                                            shares with its source (normalised text, words
                                            joined by one space)
    triviality_source_copy_share     float  that run's share of the query's characters, 0-1
    triviality_source_ngram_overlap  float  share of the query's word SOURCE_NGRAM-grams (5)
                                            that occur in the source, 0-1
    triviality_source_dense_rank     int    1-based rank of the source for the query by the
                                            dense retriever over the whole corpus (None: beyond
                                            the depth searched). Written by the mining step.
    triviality_source_bm25_rank      int    same by BM25 (BRIGHT's settings). Mining step.
    triviality_bm25_top_ids          list[str]  doc ids of the query's top BM25 hits over the
                                            whole corpus, best first (mining step; the lexical
                                            triviality filter reads it)
    triviality_source_duplicate_ids  list[str]  candidates removed as the source under
                                            another id (same normalised text, or cosine >=
                                            the threshold)
    triviality_source_duplicates     int    len of the above
    triviality_positive_ranks        list[int]  retrieval_rank of each positive candidate
    triviality_best_positive_rank    int    min of the above (None without positives)
    triviality_positive_bm25_ranks   list[int]  1-based rank of each positive among
                                            triviality_bm25_top_ids (0: not among them)

Words are `decontamination.words`: `\\w+` runs of NFKC case-folded text.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np
import pyarrow as pa

from reasonembed.data.textnorm import normalized_text_hash
from reasonembed.quality.decontamination import words

SOURCE_NGRAM = 5
DEFAULT_POSITIVE_SCORE = 3  # relevance_score >= 3 is a positive, 1-2 a negative (the paper)
DEFAULT_NEAR_DUPLICATE_COSINE = 0.95

TRIVIALITY_SOURCE_COPY_CHARS = "triviality_source_copy_chars"
TRIVIALITY_SOURCE_COPY_SHARE = "triviality_source_copy_share"
TRIVIALITY_SOURCE_NGRAM_OVERLAP = "triviality_source_ngram_overlap"
TRIVIALITY_SOURCE_DENSE_RANK = "triviality_source_dense_rank"
TRIVIALITY_SOURCE_BM25_RANK = "triviality_source_bm25_rank"
TRIVIALITY_BM25_TOP_IDS = "triviality_bm25_top_ids"
TRIVIALITY_SOURCE_DUPLICATE_IDS = "triviality_source_duplicate_ids"
TRIVIALITY_SOURCE_DUPLICATES = "triviality_source_duplicates"
TRIVIALITY_POSITIVE_RANKS = "triviality_positive_ranks"
TRIVIALITY_BEST_POSITIVE_RANK = "triviality_best_positive_rank"
TRIVIALITY_POSITIVE_BM25_RANKS = "triviality_positive_bm25_ranks"

TRIVIALITY_FIELDS = (
    pa.field(TRIVIALITY_SOURCE_COPY_CHARS, pa.int32()),
    pa.field(TRIVIALITY_SOURCE_COPY_SHARE, pa.float32()),
    pa.field(TRIVIALITY_SOURCE_NGRAM_OVERLAP, pa.float32()),
    pa.field(TRIVIALITY_SOURCE_DENSE_RANK, pa.int32()),
    pa.field(TRIVIALITY_SOURCE_BM25_RANK, pa.int32()),
    pa.field(TRIVIALITY_BM25_TOP_IDS, pa.list_(pa.string())),
    pa.field(TRIVIALITY_SOURCE_DUPLICATE_IDS, pa.list_(pa.string())),
    pa.field(TRIVIALITY_SOURCE_DUPLICATES, pa.int32()),
    pa.field(TRIVIALITY_POSITIVE_RANKS, pa.list_(pa.int32())),
    pa.field(TRIVIALITY_BEST_POSITIVE_RANK, pa.int32()),
    pa.field(TRIVIALITY_POSITIVE_BM25_RANKS, pa.list_(pa.int32())),
)
TRIVIALITY_COLUMNS = tuple(field.name for field in TRIVIALITY_FIELDS)

# Scalar metrics summarised as distributions in stats.json and plotted in the report.
TRIVIALITY_SCALAR_METRICS = (
    TRIVIALITY_SOURCE_COPY_CHARS,
    TRIVIALITY_SOURCE_COPY_SHARE,
    TRIVIALITY_SOURCE_NGRAM_OVERLAP,
    TRIVIALITY_SOURCE_DENSE_RANK,
    TRIVIALITY_SOURCE_BM25_RANK,
    TRIVIALITY_SOURCE_DUPLICATES,
    TRIVIALITY_BEST_POSITIVE_RANK,
)
TRIVIALITY_LIST_METRICS = (TRIVIALITY_POSITIVE_RANKS, TRIVIALITY_POSITIVE_BM25_RANKS)


def longest_common_block(query_words: list[str], source_words: list[str]):
    """The longest run of words shared by the two word lists (difflib Match: a, b, size), or
    None when they share no word."""
    if not query_words or not source_words:
        return None
    matcher = SequenceMatcher(None, query_words, source_words, autojunk=False)
    block = matcher.find_longest_match(0, len(query_words), 0, len(source_words))
    return block if block.size else None


def longest_common_run(query: str, source: str) -> tuple[int, float]:
    """(characters, share of the query's characters) of the longest word run shared with source.

    Both texts are compared as normalised words; the run's length counts its words joined by
    single spaces, the query's length likewise. (0, 0.0) for an empty query.
    """
    query_words, source_words = words(query), words(source)
    block = longest_common_block(query_words, source_words)
    if block is None:
        return 0, 0.0
    run = query_words[block.a : block.a + block.size]
    chars = len(" ".join(run))
    return chars, chars / len(" ".join(query_words))


def ngram_overlap(query: str, source: str, n: int = SOURCE_NGRAM) -> float:
    """Share (0-1) of the query's distinct word n-grams that also occur in the source.

    A query shorter than n words is one n-gram (its whole word sequence).
    """
    query_words, source_words = words(query), words(source)
    if not query_words:
        return 0.0
    size = min(n, len(query_words))
    query_grams = {tuple(query_words[i : i + size]) for i in range(len(query_words) - size + 1)}
    source_grams = {tuple(source_words[i : i + size]) for i in range(len(source_words) - size + 1)}
    return len(query_grams & source_grams) / len(query_grams)


def source_copy_metrics(query: str, source_text: str, n: int = SOURCE_NGRAM) -> dict:
    """The three source-copy columns of a sample."""
    chars, share = longest_common_run(query, source_text)
    return {
        TRIVIALITY_SOURCE_COPY_CHARS: chars,
        TRIVIALITY_SOURCE_COPY_SHARE: share,
        TRIVIALITY_SOURCE_NGRAM_OVERLAP: ngram_overlap(query, source_text, n),
    }


def source_duplicate_indices(
    source_text: str,
    candidate_texts: Sequence[str],
    source_vector: np.ndarray | None = None,
    candidate_vectors: np.ndarray | None = None,
    cosine_threshold: float = DEFAULT_NEAR_DUPLICATE_COSINE,
) -> list[int]:
    """Positions of the candidates that are the source under another id.

    A candidate is a duplicate when its `normalized_text_hash` equals the source's or, when
    vectors are given (source [dim], candidates [n, dim], any scale: they are L2-normalised
    here), when its cosine with the source is >= `cosine_threshold`.
    """
    source_hash = normalized_text_hash(source_text)
    duplicates = {
        position
        for position, text in enumerate(candidate_texts)
        if normalized_text_hash(text) == source_hash
    }
    if source_vector is not None and candidate_vectors is not None and len(candidate_texts):
        candidates = np.asarray(candidate_vectors, dtype=np.float32)
        if candidates.shape[0] != len(candidate_texts):
            raise ValueError(
                f"candidate_vectors has {candidates.shape[0]} rows for {len(candidate_texts)} texts"
            )
        source = np.asarray(source_vector, dtype=np.float32).reshape(-1)
        source = source / max(float(np.linalg.norm(source)), 1e-12)
        norms = np.maximum(np.linalg.norm(candidates, axis=1), 1e-12)
        cosines = candidates @ source / norms
        duplicates.update(int(i) for i in np.flatnonzero(cosines >= cosine_threshold))
    return sorted(duplicates)


def positive_ranks(
    retrieval_ranks: Sequence[int],
    relevance_scores: Sequence[int | None],
    min_positive_score: int = DEFAULT_POSITIVE_SCORE,
) -> list[int]:
    """Retrieval ranks of the positives (relevance_score >= min_positive_score), ascending."""
    return sorted(
        int(rank)
        for rank, score in zip(retrieval_ranks, relevance_scores, strict=True)
        if score is not None and score >= min_positive_score
    )


def bm25_ranks(doc_ids: Sequence[str], bm25_top_ids: Sequence[str]) -> list[int]:
    """1-based rank of each doc id among `bm25_top_ids` (best first); 0 when absent."""
    rank_of = {}
    for rank, doc_id in enumerate(bm25_top_ids, start=1):
        rank_of.setdefault(doc_id, rank)
    return [rank_of.get(doc_id, 0) for doc_id in doc_ids]


def rank_of_target(ranked_ids: Sequence[str], target_id: str) -> int | None:
    """1-based rank of `target_id` in a best-first list of ids (None when absent).

    For the mining step: `triviality_source_dense_rank` / `triviality_source_bm25_rank` are the
    rank of `source_doc_id` among the query's hits over the whole corpus BEFORE the source is
    removed from the candidates.
    """
    for rank, doc_id in enumerate(ranked_ids, start=1):
        if doc_id == target_id:
            return rank
    return None
