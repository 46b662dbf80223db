"""Candidate mining over each domain's WHOLE corpus, with the source document removed.

For each query: dense retrieval through the shared layer (`Instruct: {instruction}\\nQuery:
{query}` on the query side, exact FAISS inner product), `search_top_k` searched; every document
that IS the source (same doc_id, same normalised text under another id, or, when
`near_duplicate_cosine` is set, cosine >= it with the source: a near copy) is removed; the first
`n_candidates` are kept, ranked 1..n after the removal. One output row per query: its
`candidates` are a list of {doc_id, text, retrieval_rank, retrieval_score} (the annotation step
fans them out to the LLM), so every later stage is an ordinary per-row step and memory is bounded
by batch sizes, never by the number of judgements.

Triviality signals computed here, because only this step holds the index: the rank of the source
document for its query over the whole corpus by the dense retriever
(`triviality_source_dense_rank`) and by BM25 (`triviality_source_bm25_rank`), 1-based.
"""

import logging
from collections import defaultdict
from typing import Any

import numpy as np
from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from reasonembed.config import DomainRun
from reasonembed.corpus import load_corpus
from reasonembed.forking import DEFAULT_STEP_TORCH_THREADS, limit_torch_threads
from reasonembed.quality import triviality as tv
from reasonembed.steps.llm_task import REJECTION_COLUMNS, is_rejected, reject
from reasonembed.textnorm import normalized_text_hash

logger = logging.getLogger(__name__)

CANDIDATE_OUTPUTS = [
    "candidates",
    "retriever_model",
    "source_copies_removed",
    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS,
    tv.TRIVIALITY_SOURCE_DENSE_RANK,
    tv.TRIVIALITY_SOURCE_BM25_RANK,
    tv.TRIVIALITY_BM25_TOP_IDS,
]


RANK_BLOCK = 64  # queries scored against the whole corpus at once (64 x n_docs float32)
NO_BM25_SIGNALS = {tv.TRIVIALITY_SOURCE_BM25_RANK: None, tv.TRIVIALITY_BM25_TOP_IDS: None}


class _DomainIndex:
    def __init__(self, corpus, vectors: np.ndarray, with_bm25: bool) -> None:
        from reasonembed.retrieval import BM25Index, DenseIndex

        self.corpus = corpus
        self.vectors = vectors
        self.dense = DenseIndex(vectors)
        self.hashes = [normalized_text_hash(text) for text in corpus.texts]
        self.row_of = {doc_id: row for row, doc_id in enumerate(corpus.doc_ids)}
        self.bm25 = BM25Index(corpus.texts) if with_bm25 else None


class MineCandidates(Step):
    domain_runs: list[dict[str, Any]]
    retriever: str = "minilm"
    pooling: str = "auto"
    max_length: int | None = None
    search_top_k: int = Field(default=1000, ge=1)
    n_candidates: int = Field(default=100, ge=1)
    encode_batch_size: int = Field(default=32, ge=1)
    embedding_cache_dir: str | None = None
    source_ranks: bool = True
    bm25_top_k: int = Field(default=10, ge=1)
    near_duplicate_cosine: float | None = Field(default=0.95, gt=0, le=1)
    torch_threads: int = Field(default=DEFAULT_STEP_TORCH_THREADS, ge=1)

    _encoder: Any = PrivateAttr(default=None)
    _indexes: dict[str, _DomainIndex] = PrivateAttr(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return ["source_doc_id", "source_text", "domain", "query", "instruction"]

    @property
    def outputs(self) -> list[str]:
        return CANDIDATE_OUTPUTS

    def load(self) -> None:
        super().load()
        from reasonembed.retrieval import CachedEncoder, Encoder

        limit_torch_threads(self.torch_threads)
        encoder = Encoder(self.retriever, pooling=self.pooling, max_length=self.max_length)
        self._encoder = CachedEncoder(encoder, self.embedding_cache_dir)
        for entry in self.domain_runs:
            run = DomainRun.model_validate(entry)
            corpus = load_corpus(run.corpus, run.domain)
            vectors = self._encoder.encode(
                corpus.texts,
                batch_size=self.encode_batch_size,
                show_progress=True,
                desc=f"encoding {run.domain} corpus",
            )
            self._indexes[run.domain] = _DomainIndex(corpus, vectors, self.source_ranks)
        self._logger.info(
            "mining index ready: %s (embeddings: %d cached, %d encoded)",
            {name: len(index.corpus) for name, index in self._indexes.items()},
            self._encoder.hits,
            self._encoder.misses,
        )

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        by_domain: dict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(inputs):
            if not is_rejected(row):
                by_domain[row["domain"]].append(position)
        mined: dict[int, dict[str, Any]] = {}
        for domain, positions in by_domain.items():
            rows = [inputs[position] for position in positions]
            for position, row in zip(positions, self.mine(domain, rows), strict=True):
                mined[position] = (
                    row
                    if row["candidates"]
                    else reject(
                        row,
                        "mining",
                        "drop",
                        "no candidate left after removing the source document",
                    )
                )
        yield [
            mined.get(position) or {**{name: None for name in CANDIDATE_OUTPUTS}, **row}
            for position, row in enumerate(inputs)
        ]

    def mine(self, domain: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row with its `candidates` (possibly empty) and the mining columns."""
        index = self._indexes[domain]
        query_vectors = self.encode_queries(rows)
        scores, hits = index.dense.search(query_vectors, self.search_top_k)
        dense_ranks = (
            self.dense_source_ranks(index, rows, query_vectors)
            if self.source_ranks
            else [None] * len(rows)
        )
        results = []
        for row_number, row in enumerate(rows):
            source_hash = normalized_text_hash(row["source_text"])
            pool = [
                (int(hit), float(score))
                for score, hit in zip(scores[row_number], hits[row_number], strict=True)
                if hit >= 0
            ]
            kept = [
                (hit, score)
                for hit, score in pool
                if index.corpus.doc_ids[hit] != row["source_doc_id"]
                and index.hashes[hit] != source_hash
            ]
            removed = len(pool) - len(kept)
            duplicate_ids = []
            if self.near_duplicate_cosine is not None and kept:
                duplicates = set(
                    tv.source_duplicate_indices(
                        row["source_text"],
                        [index.corpus.texts[hit] for hit, _ in kept],
                        self.source_vector(index, row),
                        index.vectors[[hit for hit, _ in kept]],
                        self.near_duplicate_cosine,
                    )
                )
                duplicate_ids = [
                    index.corpus.doc_ids[kept[position][0]] for position in sorted(duplicates)
                ]
                kept = [pair for position, pair in enumerate(kept) if position not in duplicates]
                removed += len(duplicates)
            quality = {
                tv.TRIVIALITY_SOURCE_DENSE_RANK: dense_ranks[row_number],
                **(self.bm25_signals(index, row) if self.source_ranks else NO_BM25_SIGNALS),
            }
            results.append(
                {
                    **row,
                    **{name: row.get(name) for name in REJECTION_COLUMNS},
                    "candidates": [
                        {
                            "doc_id": index.corpus.doc_ids[hit],
                            "text": index.corpus.texts[hit],
                            "retrieval_rank": rank,
                            "retrieval_score": score,
                        }
                        for rank, (hit, score) in enumerate(kept[: self.n_candidates], start=1)
                    ],
                    "retriever_model": self.retriever,
                    "source_copies_removed": removed,
                    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS: duplicate_ids,
                    **quality,
                }
            )
        return results

    def source_vector(self, index: _DomainIndex, row: dict[str, Any]) -> np.ndarray:
        source_row = index.row_of.get(row["source_doc_id"])
        if source_row is not None:
            return index.vectors[source_row]
        return self._encoder.encoder.encode([row["source_text"]])[0]

    def dense_source_ranks(
        self, index: _DomainIndex, rows: list[dict[str, Any]], query_vectors: np.ndarray
    ) -> list[int | None]:
        """Per query, the 1-based rank of its source over the whole corpus by the dense
        retriever (1 + documents scoring strictly higher; None when the source is not in the
        corpus). Scored against the corpus matrix a block of queries at a time."""
        ranks: list[int | None] = [None] * len(rows)
        source_rows = [index.row_of.get(row["source_doc_id"]) for row in rows]
        for start in range(0, len(rows), RANK_BLOCK):
            block = query_vectors[start : start + RANK_BLOCK] @ index.vectors.T
            for offset, scores in enumerate(block):
                source_row = source_rows[start + offset]
                if source_row is not None:
                    ranks[start + offset] = int((scores > scores[source_row]).sum()) + 1
        return ranks

    def bm25_signals(self, index: _DomainIndex, row: dict[str, Any]) -> dict[str, Any]:
        """The source's 1-based BM25 rank over the whole corpus (None when it is not in the
        corpus) and the query's top BM25 doc ids (for the lexical-triviality filter)."""
        scores = index.bm25.scores(row["query"])
        k = min(self.bm25_top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        source_row = index.row_of.get(row["source_doc_id"])
        return {
            tv.TRIVIALITY_SOURCE_BM25_RANK: None
            if source_row is None
            else int((scores > scores[source_row]).sum()) + 1,
            tv.TRIVIALITY_BM25_TOP_IDS: [index.corpus.doc_ids[i] for i in top],
        }

    def encode_queries(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Query vectors [len(rows), dim], each query with its own instruction (batched per
        instruction). Not cached: queries are encoded once, and a rerun of this step is served
        by distilabel's step cache (the corpus, encoded once per model, is what the cache is for)."""
        by_instruction: dict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            by_instruction[row["instruction"]].append(position)
        encoder = self._encoder.encoder
        vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
        for instruction, positions in by_instruction.items():
            vectors[positions] = encoder.encode_queries(
                [rows[position]["query"] for position in positions],
                instruction,
                batch_size=self.encode_batch_size,
            )
        return vectors
