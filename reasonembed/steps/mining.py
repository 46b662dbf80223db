"""Candidate mining over each domain's WHOLE corpus, with the source document removed.

Settings: the config's `mining` block (MiningConfig) and, for the source-copy and lexical
signals, its `quality` block. For each query: dense retrieval through the shared layer
(`Instruct: {instruction}\\nQuery: {query}` on the query side, inner product), `search_top_k`
searched; every document that IS the source (same doc_id, same normalised text under another
id, or, when `near_duplicate_cosine` is set, cosine >= it with the source: a near copy) is
removed; the first `n_candidates` are kept, ranked 1..n after the removal. One output row per
query: its `candidates` are a list of {doc_id, text, retrieval_rank, retrieval_score} (the
annotation step fans them out to the LLM), so every later stage is an ordinary per-row step and
memory is bounded by batch sizes, never by the number of judgements.

Corpora of any size: each domain's corpus is a `reasonembed.retrieval.corpus_index.CorpusIndex`
(memory-mapped store, float16 embedding shards in the embedding cache, exact search one shard
at a time, or a FAISS "ivf" / "hnsw" index whose recall@100 against exact search is measured on
a share `recall_sample_rate` of the queries and lands in `mining_index_recall_at_100`).

Triviality signals computed here, because only this step holds the index: the rank of the source
document for its query over the whole corpus by the dense retriever
(`triviality_source_dense_rank`, as `CorpusIndex.search` defines it) and by BM25
(`triviality_source_bm25_rank`), 1-based, and the query's top BM25 doc ids. BM25 holds the
corpus's texts and token index in memory: set `source_ranks` off for corpora that do not fit.
"""

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from reasonembed.config import DomainRun, MiningConfig
from reasonembed.data.corpus import iter_documents
from reasonembed.logs import quiet_third_party_loggers
from reasonembed.quality import triviality as tv
from reasonembed.quality.filters import TrivialityConfig
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_index import RECALL_K, CorpusIndex
from reasonembed.retrieval.corpus_store import text_key
from reasonembed.retrieval.forking import DEFAULT_STEP_TORCH_THREADS, limit_torch_threads
from reasonembed.steps.llm_task import REJECTION_COLUMNS, is_rejected, reject

RECALL_COLUMN = "mining_index_recall_at_100"
CANDIDATE_OUTPUTS = [
    "candidates",
    "retriever_model",
    "source_copies_removed",
    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS,
    tv.TRIVIALITY_SOURCE_DENSE_RANK,
    tv.TRIVIALITY_SOURCE_BM25_RANK,
    tv.TRIVIALITY_BM25_TOP_IDS,
    RECALL_COLUMN,
]
NO_BM25_SIGNALS = {tv.TRIVIALITY_SOURCE_BM25_RANK: None, tv.TRIVIALITY_BM25_TOP_IDS: None}


class MineCandidates(Step):
    """`mining`: the config's block (retriever, index, sizes); `quality`: the triviality block
    (`lexical_top_k` BM25 hits kept for the lexical filter; `near_duplicate_cosine` when
    `drop_source_duplicates`); `embedding_cache_dir` None: a scratch folder removed on unload;
    `source_ranks` False: no BM25 index (the source's BM25 rank and top ids stay None)."""

    domain_runs: list[DomainRun]
    mining: MiningConfig = Field(default_factory=MiningConfig)
    quality: TrivialityConfig = Field(default_factory=TrivialityConfig)
    embedding_cache_dir: str | None = None
    source_ranks: bool = True
    torch_threads: int = Field(default=DEFAULT_STEP_TORCH_THREADS, ge=1)

    _encoder: Any = PrivateAttr(default=None)
    _indexes: dict[str, CorpusIndex] = PrivateAttr(default_factory=dict)
    _scratch: str | None = PrivateAttr(default=None)
    _documents_encoded: int = PrivateAttr(default=0)
    _documents_reused: int = PrivateAttr(default=0)
    _recalls: dict[str, list[float]] = PrivateAttr(default_factory=dict)

    @property
    def near_duplicate_cosine(self) -> float | None:
        """Cosine with the source at or above which a candidate is a near copy (None: off)."""
        quality = self.quality
        return quality.near_duplicate_cosine if quality.drop_source_duplicates else None

    @property
    def inputs(self) -> list[str]:
        return ["source_doc_id", "source_text", "domain", "query", "instruction"]

    @property
    def outputs(self) -> list[str]:
        return CANDIDATE_OUTPUTS

    def load(self) -> None:
        super().load()
        from reasonembed.retrieval import Encoder

        quiet_third_party_loggers()  # bm25s and faiss log at INFO/DEBUG in this step's process

        limit_torch_threads(self.torch_threads)
        mining = self.mining
        settings = {
            "model_name_or_path": mining.retriever,
            "pooling": mining.pooling,
            "max_length": mining.max_length,
            "dtype": mining.dtype,
            "trust_remote_code": mining.trust_remote_code,
        }
        self._encoder = Encoder(**settings)
        root = self.embedding_cache_dir
        if root is None:
            self._scratch = root = tempfile.mkdtemp(prefix="reasonembed-mining-")
        cache = EmbeddingCache(root, self._encoder.fingerprint)
        for run in self.domain_runs:
            index = CorpusIndex.build(
                ((doc_id, text) for doc_id, text, _ in iter_documents(run.corpus, run.domain)),
                Path(root) / "corpora",
                self._encoder,
                cache,
                shard_docs=mining.shard_docs,
                batch_size=mining.encode_batch_size,
                workers=mining.encode_workers,
                encoder_settings=settings,
                torch_threads=self.torch_threads,
                index=mining.index,
                nlist=mining.nlist,
                nprobe=mining.nprobe,
                ef_search=mining.ef_search,
                bm25=self.source_ranks,
            )
            self._documents_encoded += index.documents_encoded
            self._documents_reused += index.documents_reused
            self._indexes[run.domain] = index
        self._logger.info(
            "mining index ready (%s, %d-document shards): %s; embeddings: %d documents reused, "
            "%d encoded",
            mining.index,
            mining.shard_docs,
            {name: len(index.store) for name, index in self._indexes.items()},
            self._documents_reused,
            self._documents_encoded,
        )

    def unload(self) -> None:
        self._indexes.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        super().unload()

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
        source_rows = [index.store.row_of(row["source_doc_id"]) for row in rows]
        scores, hits, dense_ranks, recalls = index.search(
            query_vectors,
            [row["query"] for row in rows],
            source_rows,
            self.mining.search_top_k,
            self.mining.recall_sample_rate,
            self.source_ranks,
        )
        if recalls.count(None) < len(recalls):
            measured = self._recalls.setdefault(domain, [])
            measured.extend(value for value in recalls if value is not None)
            self._logger.info(
                "%s index recall@%d for %s: %.4f over %d sampled queries so far",
                self.mining.index,
                RECALL_K,
                domain,
                float(np.mean(measured)),
                len(measured),
            )
        results = []
        for row_number, row in enumerate(rows):
            pool = [
                (int(hit), float(score))
                for score, hit in zip(scores[row_number], hits[row_number], strict=True)
                if hit >= 0
            ]
            pool_ids = index.store.doc_ids([hit for hit, _ in pool])
            source_key = text_key(row["source_text"])
            kept = [
                (hit, score, doc_id)
                for (hit, score), doc_id in zip(pool, pool_ids, strict=True)
                if doc_id != row["source_doc_id"] and index.store.text_keys[hit] != source_key
            ]
            removed = len(pool) - len(kept)
            duplicate_ids = []
            texts = None
            if self.near_duplicate_cosine is not None and kept:
                texts = index.store.texts([hit for hit, _, _ in kept])
                duplicates = set(
                    tv.source_duplicate_indices(
                        row["source_text"],
                        texts,
                        index.source_vector(
                            self._encoder, row["source_text"], source_rows[row_number]
                        ),
                        index.exact.vectors([hit for hit, _, _ in kept]),
                        self.near_duplicate_cosine,
                    )
                )
                duplicate_ids = [kept[position][2] for position in sorted(duplicates)]
                kept = [pair for position, pair in enumerate(kept) if position not in duplicates]
                texts = [text for position, text in enumerate(texts) if position not in duplicates]
                removed += len(duplicates)
            kept = kept[: self.mining.n_candidates]
            texts = texts[: self.mining.n_candidates] if texts is not None else None
            if texts is None:
                texts = index.store.texts([hit for hit, _, _ in kept])
            quality = {tv.TRIVIALITY_SOURCE_DENSE_RANK: dense_ranks[row_number], **NO_BM25_SIGNALS}
            if self.source_ranks:
                rank, top_ids = index.bm25_ranks(
                    row["query"], source_rows[row_number], self.quality.lexical_top_k
                )
                quality[tv.TRIVIALITY_SOURCE_BM25_RANK] = rank
                quality[tv.TRIVIALITY_BM25_TOP_IDS] = top_ids
            results.append(
                {
                    **row,
                    **{name: row.get(name) for name in REJECTION_COLUMNS},
                    "candidates": [
                        {
                            "doc_id": doc_id,
                            "text": text,
                            "retrieval_rank": rank,
                            "retrieval_score": score,
                        }
                        for rank, ((_, score, doc_id), text) in enumerate(
                            zip(kept, texts, strict=True), start=1
                        )
                    ],
                    "retriever_model": self.mining.retriever,
                    "source_copies_removed": removed,
                    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS: duplicate_ids,
                    **quality,
                    RECALL_COLUMN: recalls[row_number],
                }
            )
        return results

    def encode_queries(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Query vectors [len(rows), dim], each query with its own instruction (batched per
        instruction). Not cached: queries are encoded once, and a rerun of this step is served
        by distilabel's step cache (the corpus, encoded once per model, is what the cache is for)."""
        by_instruction: dict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            by_instruction[row["instruction"]].append(position)
        encoder = self._encoder
        vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
        for instruction, positions in by_instruction.items():
            vectors[positions] = encoder.encode_queries(
                [rows[position]["query"] for position in positions],
                instruction,
                batch_size=self.mining.encode_batch_size,
            )
        return vectors
