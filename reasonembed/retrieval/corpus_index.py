"""One corpus made searchable for candidate mining, and the search with its side measures.

`CorpusIndex.build(documents, folder, encoder, cache, ...)`: the corpus is streamed once into a
memory-mapped Arrow file (`corpus_store.CorpusStore`: texts are read back per candidate, never all
held), its embeddings live in the embedding cache as float16 shards of `shard_docs` documents
(encoded once, by `workers` processes when asked, split with any other replica sharing the
cache folder; a killed run keeps finished shards), and the exact index maps one shard at a time
(memory: one shard plus the running top-k), with results equal to one exact index over the
whole corpus (score desc, then row asc). `index` "ivf" or "hnsw" adds a FAISS approximate index
built from the shards (`approximate.ApproximateIndex`); `bm25` a BM25 index, which holds the
corpus's texts and token index in memory.

`search(...)` returns the top `top_k` rows per query with two side measures:
- the rank of the source document for its query over the whole corpus (1-based; exact, from
  the same pass over the shards as the search; with an approximate index, its rank among the
  retrieved top `top_k`, None when not retrieved, exact for the recall sample);
- with an approximate index, the recall@100 against exact search of a share
  `recall_sample_rate` of the queries (`in_recall_sample`: chosen by a hash of the query text);
  None for the others and for every query of an exact index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reasonembed.data.textnorm import text_hash
from reasonembed.retrieval.approximate import ApproximateIndex, recall_at_k
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore
from reasonembed.retrieval.sharded import ShardedIndex, encode_corpus

RECALL_K = 100


def in_recall_sample(query: str, rate: float) -> bool:
    """Whether a query is in the recall sample: a fixed share `rate` of queries, chosen by a
    hash of the text (the same queries whatever the batching or the number of replicas)."""
    return rate >= 1 or (rate > 0 and int(text_hash(query)[:8], 16) < rate * 16**8)


@dataclass
class CorpusIndex:
    store: CorpusStore
    exact: ShardedIndex
    approximate: ApproximateIndex | None
    bm25: Any  # BM25Index | None
    documents_encoded: int = 0
    documents_reused: int = 0

    @classmethod
    def build(
        cls,
        documents: Iterable[tuple[str, str]],
        folder: Path,
        encoder: Any,
        cache: EmbeddingCache,
        *,
        shard_docs: int,
        batch_size: int,
        workers: int,
        encoder_settings: dict[str, Any],
        torch_threads: int,
        index: str = "exact",
        nlist: int | None = None,
        nprobe: int = 32,
        ef_search: int = 128,
        bm25: bool = True,
    ) -> CorpusIndex:
        """`documents`: (doc_id, text) pairs; `folder`: where the corpus store is written;
        `encoder_settings`: the Encoder's arguments (worker processes build their own)."""
        store = CorpusStore.write(documents, folder, shard_docs)
        report = encode_corpus(
            store,
            encoder,
            cache,
            batch_size=batch_size,
            workers=workers,
            encoder_settings=encoder_settings,
            torch_threads=torch_threads,
        )
        exact = ShardedIndex(cache, store.shards, encoder.dim)
        approximate = None
        if index != "exact":
            approximate = ApproximateIndex.build(exact, index, nlist, nprobe, ef_search)
        bm25_index = None
        if bm25:
            from reasonembed.retrieval import BM25Index

            bm25_index = BM25Index(store.all_texts())
        return cls(
            store,
            exact,
            approximate,
            bm25_index,
            report.documents_encoded,
            report.documents_reused,
        )

    def search(
        self,
        query_vectors: np.ndarray,
        queries: list[str],
        source_rows: list[int | None],
        top_k: int,
        recall_sample_rate: float,
        source_ranks: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, list[int | None], list[float | None]]:
        """(scores, rows) of the top `top_k` per query, the source's dense rank (None when
        `source_ranks` is off) and the recall@100 of the approximate index (None: not
        measured); see the module docstring."""
        rank_rows = source_rows if source_ranks else None
        if self.approximate is None:
            scores, hits, ranks = self.exact.search_and_rank(query_vectors, top_k, rank_rows)
            return scores, hits, ranks, [None] * len(queries)
        scores, hits = self.approximate.search(query_vectors, top_k)
        ranks: list[int | None] = [None] * len(queries)
        if source_ranks:
            for number, source_row in enumerate(source_rows):
                found = np.flatnonzero(hits[number] == source_row) if source_row is not None else []
                if len(found):
                    ranks[number] = int((scores[number] > scores[number][found[0]]).sum()) + 1
        recalls: list[float | None] = [None] * len(queries)
        sampled = [
            number
            for number, query in enumerate(queries)
            if in_recall_sample(query, recall_sample_rate)
        ]
        if sampled:
            _, exact_hits, exact_ranks = self.exact.search_and_rank(
                query_vectors[sampled],
                RECALL_K,
                [source_rows[number] for number in sampled] if source_ranks else None,
            )
            found = (
                hits[sampled]
                if top_k >= RECALL_K
                else self.approximate.search(query_vectors[sampled], RECALL_K)[1]
            )
            for number, recall, rank in zip(
                sampled, recall_at_k(found, exact_hits, RECALL_K), exact_ranks, strict=True
            ):
                recalls[number] = recall
                if source_ranks:
                    ranks[number] = rank
        return scores, hits, ranks, recalls

    def source_vector(self, encoder: Any, source_text: str, source_row: int | None) -> np.ndarray:
        """The source's vector: from the shards when it is in the corpus, else encoded."""
        if source_row is not None:
            return self.exact.vectors([source_row])[0]
        return encoder.encode([source_text])[0]

    def bm25_ranks(
        self, query: str, source_row: int | None, top_k: int
    ) -> tuple[int | None, list[str]]:
        """The source's 1-based BM25 rank over the whole corpus (None when it is not in the
        corpus) and the query's top `top_k` BM25 doc ids."""
        scores = self.bm25.scores(query)
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        rank = None if source_row is None else int((scores > scores[source_row]).sum()) + 1
        return rank, self.store.doc_ids(top)
