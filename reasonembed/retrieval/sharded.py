"""A corpus's embeddings as float16 shards in the embedding cache: encoding and exact search.

- `encode_corpus(store, encoder, cache)` puts the float16 embeddings of every shard of a
  `CorpusStore` in the embedding cache, encoding only the shards not there yet (a killed run
  keeps its finished shards), in this process or in `workers` processes (one per GPU when there
  are GPUs).
- `ShardedIndex(cache, store.shards, dim)` is an exact index (`index.ExactIndex`) over those
  shards: each search maps one shard at a time and upcasts it a tile at a time, so its memory
  is one shard's mapping plus a tile, whatever the corpus size; its results equal a
  `DenseIndex` over the same vectors (rows, scores, order: score desc, then row asc).

Approximate search over the same shards: `reasonembed.retrieval.approximate`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore, Shard
from reasonembed.retrieval.index import ExactIndex

logger = logging.getLogger(__name__)


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
