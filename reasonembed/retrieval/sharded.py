"""A corpus's embeddings as float16 shards in the embedding cache: encoding and exact search.

- `encode_corpus(store, encoder, cache)` puts the float16 embeddings of every shard of a
  `CorpusStore` in the embedding cache, encoding only the shards not there yet (a killed run
  keeps its finished shards), in this process or in `workers` processes (one per GPU when there
  are GPUs). Replicas sharing the cache folder (those workers, other processes, Ray replicas on
  other nodes) split the shards: each shard is claimed before it is encoded
  (`shard_claims`), so it is encoded once, and every call returns when all shards are there.
  Its progress, documents in the cache, is a `reasonembed.logs.Progress` (a bar on a terminal,
  else a periodic log line).
- `ShardedIndex(cache, store.shards, dim)` is an exact index (`index.ExactIndex`) over those
  shards: each search maps one shard at a time and upcasts it a tile at a time, so its memory
  is one shard's mapping plus a tile, whatever the corpus size; its results equal a
  `DenseIndex` over the same vectors (rows, scores, order: score desc, then row asc).

Approximate search over the same shards: `reasonembed.retrieval.approximate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reasonembed.logs import Progress
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore, Shard
from reasonembed.retrieval.index import ExactIndex
from reasonembed.retrieval.shard_claims import POLL_S, STALE_AFTER_S, ShardClaims, remove_claims

logger = logging.getLogger(__name__)


# --- encoding ----------------------------------------------------------------------------------
@dataclass
class EncodingReport:
    """Where each shard of a corpus came from, as seen by one `encode_corpus` call."""

    cached: list[Shard] = field(default_factory=list)  # in the cache before the call
    encoded: list[Shard] = field(default_factory=list)  # encoded by this call (or its workers)
    taken_over: list[Shard] = field(default_factory=list)  # of `encoded`: a dead claimant's
    by_others: list[Shard] = field(default_factory=list)  # encoded meanwhile by other replicas

    @property
    def documents_encoded(self) -> int:
        return sum(shard.size for shard in self.encoded)

    @property
    def documents_reused(self) -> int:
        return sum(shard.size for shard in self.cached + self.by_others)


def encode_corpus(
    store: CorpusStore,
    encoder: Any,
    cache: EmbeddingCache,
    batch_size: int = 32,
    workers: int = 1,
    encoder_settings: dict[str, Any] | None = None,
    torch_threads: int = 1,
    stale_after_s: float = STALE_AFTER_S,
    poll_s: float = POLL_S,
) -> EncodingReport:
    """Put every shard of `store` in `cache` as float16 and return when all are there. The
    missing shards this process can claim are encoded with `encoder` (an `Encoder`), or, with
    `workers` > 1, in that many spawned processes that each build
    `Encoder(**encoder_settings, device=...)` (one per GPU in turn when there are GPUs, else CPU
    processes of `torch_threads` threads each) and claim shards the same way. Shards claimed by
    other replicas are waited for; a claim whose owner died is taken over (`shard_claims`:
    `stale_after_s`, `poll_s`)."""
    missing = [shard for shard in store.shards if not cache.has_docs(shard.key)]
    if workers <= 1 or len(missing) <= 1:

        def encode(shard: Shard) -> np.ndarray:
            texts = store.text_range(shard.start, shard.stop)
            return encoder.encode(texts, batch_size=batch_size)

        report = encode_missing(store.shards, encode, cache, ShardClaims(stale_after_s, poll_s))
    else:
        if encoder_settings is None:
            raise ValueError("encode_corpus: workers > 1 needs encoder_settings")
        report = _encode_in_workers(
            store,
            missing,
            cache,
            encoder.fingerprint,
            batch_size,
            workers,
            encoder_settings,
            torch_threads,
            (stale_after_s, poll_s),
        )
    logger.info(
        "corpus shards: %d encoded here (%d taken over from dead claimants), %d by other "
        "replicas, %d already cached",
        len(report.encoded),
        len(report.taken_over),
        len(report.by_others),
        len(report.cached),
    )
    return report


def encode_missing(
    shards: Sequence[Shard],
    encode: Callable[[Shard], np.ndarray],
    cache: EmbeddingCache,
    claims: ShardClaims,
) -> EncodingReport:
    """Encode (`encode(shard)` -> vectors) and save, one at a time, the shards not in `cache`
    that this process can claim; then wait for those other replicas claimed, taking over stale
    claims, until every shard is in `cache`."""
    report = EncodingReport()
    pending = []
    for shard in shards:
        (report.cached if cache.has_docs(shard.key) else pending).append(shard)
    with _corpus_progress(shards, pending) as progress:
        _encode_pending(pending, encode, cache, claims, report, progress)
    return report


def _corpus_progress(shards: Sequence[Shard], missing: Sequence[Shard]) -> Progress:
    """Documents of the corpus in the cache (a bar on a terminal, else a line every
    REASONEMBED_PROGRESS_EVERY_S seconds)."""
    total = sum(shard.size for shard in shards)
    done = total - sum(shard.size for shard in missing)
    return Progress("corpus encoding", total, unit="doc", initial=done)


def _encode_pending(pending, encode, cache, claims, report, progress: Progress) -> None:
    """`encode_missing`'s loop: fills `report` and counts each shard's documents in `progress`
    once it is in the cache."""
    announced = 0
    while pending:
        waiting = []
        for shard in pending:
            target = cache.docs_path(shard.key)
            if target.exists():
                remove_claims(target)  # any left by a writer killed after its rename
                report.by_others.append(shard)
                progress.update(shard.size)
                continue
            claim = claims.claim(target)
            if claim is None:
                waiting.append(shard)
                continue
            with claim:
                if target.exists():  # written between our look and our claim
                    report.by_others.append(shard)
                    progress.update(shard.size)
                    continue
                cache.save_docs(shard.key, encode(shard))
            report.encoded.append(shard)
            progress.update(shard.size)
            if claim.generation:
                report.taken_over.append(shard)
            logger.info(
                "encoded shard of rows %d-%d (%d documents)%s",
                shard.start,
                shard.stop - 1,
                shard.size,
                ", a dead claimant's" if claim.generation else "",
            )
        if len(waiting) == len(pending):  # nothing new: the others are still encoding
            if announced != len(waiting):
                logger.info("waiting for %d shards other replicas are encoding", len(waiting))
                announced = len(waiting)
            time.sleep(claims.poll_s)
        pending = waiting


def worker_devices(workers: int) -> list[str]:
    """One device per worker: the GPUs in turn when torch sees any, else "cpu"."""
    import torch

    gpus = torch.cuda.device_count()
    return [f"cuda:{number % gpus}" for number in range(workers)] if gpus else ["cpu"] * workers


def _encode_in_workers(
    store, missing, cache, fingerprint, batch_size, workers, settings, torch_threads, timing
) -> EncodingReport:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    devices = context.Queue()
    for device in worker_devices(workers):
        devices.put(device)
    init = (devices, settings, fingerprint, str(cache.folder), str(store.path), torch_threads)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=init
    ) as pool:
        jobs = [pool.submit(_worker_encode, missing, batch_size, *timing) for _ in range(workers)]
        with _corpus_progress(store.shards, missing) as progress:
            running = jobs
            while running:  # the workers' shards, counted as they land in the cache
                running = wait(running, timeout=1.0).not_done
                progress.set(
                    progress.total
                    - sum(shard.size for shard in missing if not cache.has_docs(shard.key))
                )
        reports = [job.result() for job in jobs]
    encoded = [shard for report in reports for shard in report.encoded]
    done = {shard.key for shard in encoded}
    was_missing = {shard.key for shard in missing}
    return EncodingReport(
        cached=[shard for shard in store.shards if shard.key not in was_missing],
        encoded=encoded,
        taken_over=[shard for report in reports for shard in report.taken_over],
        by_others=[shard for shard in missing if shard.key not in done],
    )


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


def _worker_encode(
    shards: list[Shard], batch_size: int, stale_after_s: float, poll_s: float
) -> EncodingReport:
    def encode(shard: Shard) -> np.ndarray:
        texts = _WORKER["texts"].slice(shard.start, shard.size).to_pylist()
        return _WORKER["encoder"].encode(texts, batch_size=batch_size)

    return encode_missing(shards, encode, _WORKER["cache"], ShardClaims(stale_after_s, poll_s))


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
