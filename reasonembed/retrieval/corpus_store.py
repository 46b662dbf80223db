"""A corpus on disk for search beyond memory: `CorpusStore`.

`CorpusStore.write(documents, folder, shard_docs)` streams (doc_id, text) pairs into an Arrow
file (memory-mapped when read, named by its content), keeping in memory only 8 bytes per
document for its id and 8 for its normalised text (`text_keys`), and per shard of `shard_docs`
documents (`Shard`) the embedding-cache key of their texts (`cache.docs_key`). The shards'
embeddings are encoded and searched by `reasonembed.retrieval.sharded`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from reasonembed.data.textnorm import normalized_text_hash, stable_hash, text_hash
from reasonembed.retrieval.cache import docs_key

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
