"""Candidate mining over each domain's WHOLE corpus, with the source document removed.

For each query: dense retrieval through the shared layer (`Instruct: {instruction}\\nQuery:
{query}` on the query side, exact FAISS inner product), `search_top_k` searched; every document
that IS the source (same doc_id, same normalised text under another id, or, when
`near_duplicate_cosine` is set, cosine >= it with the source: a near copy) is removed; the first
`n_candidates` are kept, ranked 1..n after the removal. One output row per candidate.

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
from reasonembed.quality import triviality as tv
from reasonembed.steps.llm_task import REJECTION_COLUMNS, is_rejected, reject
from reasonembed.textnorm import normalized_text_hash

logger = logging.getLogger(__name__)

CANDIDATE_OUTPUTS = [
    "doc_id",
    "doc_text",
    "retrieval_rank",
    "retrieval_score",
    "retriever_model",
    "source_copies_removed",
    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS,
    tv.TRIVIALITY_SOURCE_DENSE_RANK,
    tv.TRIVIALITY_SOURCE_BM25_RANK,
    tv.TRIVIALITY_BM25_TOP_IDS,
]


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
        expanded: dict[int, list[dict[str, Any]]] = {}
        for domain, positions in by_domain.items():
            rows = [inputs[position] for position in positions]
            for position, candidates in zip(positions, self.mine(domain, rows), strict=True):
                expanded[position] = candidates or [
                    reject(
                        {**{name: None for name in CANDIDATE_OUTPUTS}, **inputs[position]},
                        "mining",
                        "drop",
                        "no candidate left after removing the source document",
                    )
                ]
        output = []
        for position, row in enumerate(inputs):
            if position in expanded:
                output.extend(expanded[position])
            else:
                output.append({**{name: None for name in CANDIDATE_OUTPUTS}, **row})
        yield output

    def mine(self, domain: str, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        index = self._indexes[domain]
        query_vectors = self.encode_queries(rows)
        scores, hits = index.dense.search(query_vectors, self.search_top_k)
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
            quality = self.source_signals(index, row, query_vectors[row_number])
            results.append(
                [
                    {
                        **row,
                        **{name: row.get(name) for name in REJECTION_COLUMNS},
                        "doc_id": index.corpus.doc_ids[hit],
                        "doc_text": index.corpus.texts[hit],
                        "retrieval_rank": rank,
                        "retrieval_score": score,
                        "retriever_model": self.retriever,
                        "source_copies_removed": removed,
                        tv.TRIVIALITY_SOURCE_DUPLICATE_IDS: duplicate_ids,
                        **quality,
                    }
                    for rank, (hit, score) in enumerate(kept[: self.n_candidates], start=1)
                ]
            )
        return results

    def source_vector(self, index: _DomainIndex, row: dict[str, Any]) -> np.ndarray:
        source_row = index.row_of.get(row["source_doc_id"])
        if source_row is not None:
            return index.vectors[source_row]
        return self._encoder.encode([row["source_text"]])[0]

    def source_signals(
        self, index: _DomainIndex, row: dict[str, Any], query_vector: np.ndarray
    ) -> dict[str, Any]:
        """The 1-based rank of the source document for its query over the whole corpus, dense
        and BM25 (None when the source is not in the corpus or ranks are off), and the query's
        top BM25 doc ids (for the lexical-triviality filter)."""
        signals = {
            tv.TRIVIALITY_SOURCE_DENSE_RANK: None,
            tv.TRIVIALITY_SOURCE_BM25_RANK: None,
            tv.TRIVIALITY_BM25_TOP_IDS: None,
        }
        if not self.source_ranks:
            return signals
        source_row = index.row_of.get(row["source_doc_id"])
        bm25_scores = index.bm25.scores(row["query"])
        top = np.argsort(-bm25_scores, kind="stable")[: self.bm25_top_k]
        signals[tv.TRIVIALITY_BM25_TOP_IDS] = [index.corpus.doc_ids[i] for i in top]
        if source_row is not None:
            dense_scores = index.vectors @ query_vector
            signals[tv.TRIVIALITY_SOURCE_DENSE_RANK] = (
                int((dense_scores > dense_scores[source_row]).sum()) + 1
            )
            signals[tv.TRIVIALITY_SOURCE_BM25_RANK] = (
                int((bm25_scores > bm25_scores[source_row]).sum()) + 1
            )
        return signals

    def encode_queries(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Query vectors [len(rows), dim], each query with its own instruction (batched per
        instruction)."""
        by_instruction: dict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            by_instruction[row["instruction"]].append(position)
        vectors = np.zeros((len(rows), self._encoder.encoder.dim), dtype=np.float32)
        for instruction, positions in by_instruction.items():
            vectors[positions] = self._encoder.encode_queries(
                [rows[position]["query"] for position in positions],
                instruction,
                batch_size=self.encode_batch_size,
            )
        return vectors
