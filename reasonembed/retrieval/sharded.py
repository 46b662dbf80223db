"""Dense search over corpora larger than memory.

- `CorpusStore.write(documents, folder, shard_docs)` streams (doc_id, text) pairs into an Arrow
  file (memory-mapped when read, named by its content), keeping in memory only 8 bytes per
  document for its id and 8 for its normalised text (`text_keys`), and per shard of
  `shard_docs` documents the embedding-cache key of their texts (`cache.docs_key`).
- `encode_corpus(store, encoder, cache)` puts the float16 embeddings of every shard in the
  embedding cache, encoding only the shards not there yet (a killed run keeps its finished
  shards), in this process or in `workers` processes (one per GPU when there are GPUs).
- `ShardedIndex(cache, store, dim)` is an exact index (`reasonembed.retrieval.index.ExactIndex`)
  over those shards: each search maps one shard at a time and upcasts it a tile at a time, so
  its memory is one shard's mapping plus a tile, whatever the corpus size; its results equal
  a `DenseIndex` over the same vectors (rows, scores, order: score desc, then row asc).
- `ApproximateIndex.build(exact, kind)`: a FAISS inner-product index, "ivf" (IVF with float16
  codes: the shards' values, stored losslessly) or "hnsw" (HNSW over float16 codes), trained
  on a sample of rows and filled shard by shard; on GPUs when FAISS sees any (ivf). It holds
  the corpus's float16 vectors in memory (the size of the shards): it buys speed, not memory.
  `recall_at_k` measures it against exact search.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from array import array
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reasonembed.retrieval.cache import EmbeddingCache, atomic_file, docs_key
from reasonembed.retrieval.index import ExactIndex
from reasonembed.textnorm import normalized_text_hash, stable_hash, text_hash

logger = logging.getLogger(__name__)

STORE_SCHEMA = pa.schema([("doc_id", pa.large_string()), ("text", pa.large_string())])
WRITE_BATCH = 8192  # documents per Arrow record batch


def key64(hex_digest: str) -> int:
    """The first 8 bytes of a hex digest as an unsigned integer (a compact per-row key)."""
    return int(hex_digest[:16], 16)


def text_key(text: str) -> int:
    """`key64` of `normalized_text_hash`: equal for two texts that are the same document."""
    return key64(normalized_text_hash(text))


@dataclass(frozen=True)
class Shard:
    start: int  # first row
    stop: int  # one past the last row
    key: str  # embedding-cache key of its texts (`docs_key`)

    @property
    def size(self) -> int:
        return self.stop - self.start


class CorpusStore:
    """A corpus on disk: rows 0..n-1 with `doc_id` and `text` in a memory-mapped Arrow file."""

    def __init__(
        self,
        path: Path,
        shards: list[Shard],
        id_keys: np.ndarray,
        text_keys: np.ndarray,
    ) -> None:
        self.path = Path(path)
        self.shards = shards
        self.text_keys = text_keys
        table = pa.ipc.open_file(pa.memory_map(str(self.path))).read_all()
        self._doc_ids = table.column("doc_id")
        self._texts = table.column("text")
        self._id_order = np.argsort(id_keys, kind="stable")
        self._sorted_id_keys = id_keys[self._id_order]

    @classmethod
    def write(
        cls, documents: Iterable[tuple[str, str]], folder: str | Path, shard_docs: int
    ) -> CorpusStore:
        """Stream (doc_id, text) pairs into `{folder}/corpus-{content hash}.arrow` (temporary
        name, renamed when complete) and return the store. `shard_docs` >= 1."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        id_keys, text_keys = array("Q"), array("Q")
        shards: list[Shard] = []
        shard_hashes: list[str] = []
        ids: list[str] = []
        texts: list[str] = []
        rows = 0
        tmp = folder / f".tmp-{uuid.uuid4().hex}.arrow"
        try:
            with open(tmp, "wb") as handle:
                with pa.ipc.new_file(handle, STORE_SCHEMA) as writer:
                    for doc_id, text in documents:
                        exact = text_hash(text)
                        digest.update(stable_hash(doc_id, exact).encode("ascii"))
                        id_keys.append(key64(text_hash(doc_id)))
                        text_keys.append(text_key(text))
                        shard_hashes.append(exact)
                        ids.append(doc_id)
                        texts.append(text)
                        rows += 1
                        if len(ids) == WRITE_BATCH:
                            writer.write_batch(_batch(ids, texts))
                            ids, texts = [], []
                        if len(shard_hashes) == shard_docs:
                            shards.append(Shard(rows - shard_docs, rows, docs_key(shard_hashes)))
                            shard_hashes = []
                    if ids:
                        writer.write_batch(_batch(ids, texts))
                handle.flush()
                os.fsync(handle.fileno())
            if shard_hashes:
                shards.append(Shard(rows - len(shard_hashes), rows, docs_key(shard_hashes)))
            path = folder / f"corpus-{digest.hexdigest()}.arrow"
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return cls(
            path,
            shards,
            np.frombuffer(id_keys, dtype=np.uint64),
            np.frombuffer(text_keys, dtype=np.uint64),
        )

    def __len__(self) -> int:
        return len(self.text_keys)

    def doc_ids(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return self._doc_ids.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()

    def texts(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return self._texts.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()

    def text_range(self, start: int, stop: int) -> list[str]:
        return self._texts.slice(start, stop - start).to_pylist()

    def all_texts(self) -> list[str]:
        """Every text, in memory (for indexes that need the whole corpus at once, e.g. BM25)."""
        return self._texts.to_pylist()

    def row_of(self, doc_id: str) -> int | None:
        """The row of `doc_id`, None when the corpus does not hold it."""
        key = np.uint64(key64(text_hash(doc_id)))
        low = int(np.searchsorted(self._sorted_id_keys, key, side="left"))
        high = int(np.searchsorted(self._sorted_id_keys, key, side="right"))
        for row in self._id_order[low:high]:
            if self._doc_ids[int(row)].as_py() == doc_id:
                return int(row)
        return None


def _batch(ids: list[str], texts: list[str]) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(ids, pa.large_string()), pa.array(texts, pa.large_string())],
        schema=STORE_SCHEMA,
    )


# --- encoding ----------------------------------------------------------------------------------
def encode_corpus(
    store: CorpusStore,
    encoder: Any,
    cache: EmbeddingCache,
    batch_size: int = 32,
    workers: int = 1,
    encoder_settings: dict[str, Any] | None = None,
    torch_threads: int = 1,
) -> tuple[int, int]:
    """Put every shard of `store` in `cache` as float16, encoding the missing ones with
    `encoder` (an `Encoder`), or, with `workers` > 1, in that many spawned processes that each
    build `Encoder(**encoder_settings, device=...)` (one per GPU in turn when there are GPUs,
    else CPU processes of `torch_threads` threads each). Returns (documents encoded,
    documents whose shard was already cached)."""
    missing = [shard for shard in store.shards if not cache.has_docs(shard.key)]
    encoded = sum(shard.size for shard in missing)
    reused = len(store) - encoded
    if not missing:
        return 0, reused
    if workers <= 1 or len(missing) == 1:
        for number, shard in enumerate(missing, start=1):
            vectors = encoder.encode(
                store.text_range(shard.start, shard.stop), batch_size=batch_size
            )
            cache.save_docs(shard.key, vectors)
            logger.info("encoded shard %d/%d (%d documents)", number, len(missing), shard.size)
        return encoded, reused
    if encoder_settings is None:
        raise ValueError("encode_corpus: workers > 1 needs encoder_settings")
    _encode_in_workers(
        store,
        missing,
        cache,
        encoder.fingerprint,
        batch_size,
        workers,
        encoder_settings,
        torch_threads,
    )
    return encoded, reused


def worker_devices(workers: int) -> list[str]:
    """One device per worker: the GPUs in turn when torch sees any, else "cpu"."""
    import torch

    gpus = torch.cuda.device_count()
    return [f"cuda:{number % gpus}" for number in range(workers)] if gpus else ["cpu"] * workers


def _encode_in_workers(
    store, missing, cache, fingerprint, batch_size, workers, settings, torch_threads
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    devices = context.Queue()
    for device in worker_devices(workers):
        devices.put(device)
    init = (devices, settings, fingerprint, str(cache.folder), str(store.path), torch_threads)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=init
    ) as pool:
        jobs = [pool.submit(_worker_encode, shard, batch_size) for shard in missing]
        for number, job in enumerate(jobs, start=1):
            job.result()
            logger.info("encoded shard %d/%d (%d workers)", number, len(missing), workers)


_WORKER: dict[str, Any] = {}


def _worker_init(devices, settings, fingerprint, cache_folder, store_path, torch_threads) -> None:
    import torch

    from reasonembed.retrieval.encoder import Encoder

    torch.set_num_threads(max(1, torch_threads))
    encoder = Encoder(**settings, device=devices.get())
    if encoder.fingerprint != fingerprint:
        raise ValueError(
            f"encoding worker: model fingerprint {encoder.fingerprint} differs from {fingerprint}"
        )
    folder = Path(cache_folder)
    table = pa.ipc.open_file(pa.memory_map(store_path)).read_all()
    _WORKER.update(
        encoder=encoder,
        cache=EmbeddingCache(folder.parent, folder.name),
        texts=table.column("text"),
    )


def _worker_encode(shard: Shard, batch_size: int) -> int:
    texts = _WORKER["texts"].slice(shard.start, shard.size).to_pylist()
    _WORKER["cache"].save_docs(shard.key, _WORKER["encoder"].encode(texts, batch_size=batch_size))
    return shard.size


# --- exact search ------------------------------------------------------------------------------
class ShardedIndex(ExactIndex):
    """Exact search over a corpus's float16 shards in the embedding cache, one at a time."""

    def __init__(self, cache: EmbeddingCache, shards: Sequence[Shard], dim: int) -> None:
        super().__init__()
        self.cache = cache
        self.shards = list(shards)
        self.dim = dim
        self.size = self.shards[-1].stop if self.shards else 0
        self._starts = np.asarray([shard.start for shard in self.shards], dtype=np.int64)

    def open(self, shard: Shard) -> np.ndarray:
        """The shard's float16 vectors, memory-mapped."""
        vectors = self.cache.load_docs(shard.key)
        if vectors.shape != (shard.size, self.dim) or vectors.dtype != np.float16:
            raise ValueError(
                f"{self.cache.docs_path(shard.key)}: expected float16 [{shard.size}, {self.dim}], "
                f"found {vectors.dtype} {list(vectors.shape)}"
            )
        return vectors

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for shard in self.shards:
            vectors = self.open(shard)
            yield shard.start, vectors
            del vectors  # unmapped before the next shard is mapped

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        owners = np.searchsorted(self._starts, rows, side="right") - 1
        for owner in np.unique(owners):
            shard = self.shards[int(owner)]
            mine = owners == owner
            out[mine] = self.open(shard)[rows[mine] - shard.start]
        return out


# --- approximate search ------------------------------------------------------------------------
APPROXIMATE_KINDS = ("ivf", "hnsw")


class ApproximateIndex:
    """FAISS approximate inner-product search over the rows of a `ShardedIndex`.

    `search(queries, top_k)` returns (scores [n_q, k], rows [n_q, k]) ordered by score desc then
    row asc; rows FAISS could not fill are -1 (score -inf), last.
    """

    def __init__(self, index: Any, kind: str, size: int) -> None:
        self.index = index
        self.kind = kind
        self.size = size

    @classmethod
    def build(
        cls,
        exact: ShardedIndex,
        kind: str,
        nlist: int | None = None,
        nprobe: int = 32,
        ef_search: int = 128,
        hnsw_m: int = 32,
    ) -> ApproximateIndex:
        """Build (or read back from the embedding cache) an `kind` index over `exact`'s rows:
        ivf with `nlist` lists (None: about 4 sqrt(rows), at least 39 training rows per list)
        searched with `nprobe`; hnsw with `hnsw_m` links searched with `ef_search`."""
        import faiss

        if kind not in APPROXIMATE_KINDS:
            raise ValueError(
                f"approximate index kind must be one of {APPROXIMATE_KINDS}, got {kind!r}"
            )
        n = exact.size
        if kind == "ivf":
            nlist = max(1, min(nlist or int(4 * np.sqrt(n)), n // 39 or 1))
        settings = f"{kind}-{nlist}" if kind == "ivf" else f"{kind}-{hnsw_m}"
        key = stable_hash(settings, *(shard.key for shard in exact.shards))
        path = exact.cache.folder / f"ann-{settings}-{key[:32]}.faiss"
        if path.exists():
            index = faiss.read_index(str(path))
        else:
            index = cls._new(faiss, kind, exact.dim, nlist, hnsw_m)
            # faiss wants >= 39 training rows per list; SQ (hnsw) only needs value ranges
            train_rows = min(n, 40 * nlist) if kind == "ivf" else min(n, 1000)
            sample = np.unique(np.linspace(0, n - 1, train_rows).astype(np.int64))
            index.train(exact.vectors(sample))
            for _, block in exact.blocks():
                for start in range(0, len(block), 16384):
                    index.add(np.asarray(block[start : start + 16384], dtype=np.float32))
            with atomic_file(path) as handle:
                faiss.write_index(index, faiss.PyCallbackIOWriter(handle.write))
        if kind == "ivf":
            index.nprobe = min(nprobe, nlist)
            if faiss.get_num_gpus() > 0:
                index = faiss.index_cpu_to_all_gpus(index)
        else:
            index.hnsw.efSearch = ef_search
        return cls(index, kind, n)

    @staticmethod
    def _new(faiss, kind: str, dim: int, nlist: int | None, hnsw_m: int):
        fp16 = faiss.ScalarQuantizer.QT_fp16
        if kind == "ivf":
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, fp16, faiss.METRIC_INNER_PRODUCT
            )
            index.referenced_objects = [quantizer]
            return index
        return faiss.IndexHNSWSQ(dim, fp16, hnsw_m, faiss.METRIC_INNER_PRODUCT)

    def search(self, query_vectors: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(top_k, self.size)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        scores, rows = self.index.search(queries, k)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), -scores), axis=1)
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def recall_at_k(approximate_rows: np.ndarray, exact_rows: np.ndarray, k: int) -> list[float]:
    """Per query, the share of the exact top-k rows that the approximate top-k also holds."""
    recalls = []
    for found, truth in zip(approximate_rows, exact_rows, strict=True):
        expected = {int(row) for row in truth[:k] if row >= 0}
        got = {int(row) for row in found[:k] if row >= 0}
        recalls.append(len(expected & got) / len(expected) if expected else 1.0)
    return recalls
