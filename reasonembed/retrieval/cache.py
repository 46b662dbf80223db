"""Embedding cache: vectors keyed by (model fingerprint, sha256 of the exact text).

Layout under `{root}/{fingerprint}/`:

- `shard-*.npz`: texts looked up one by one (`get_many` / `put_many`), each file holding `keys`
  (sha256 hex, as bytes) and `vectors` (float32 [n, dim]); read into memory on first use.
- `docs-{key}.npy`: a corpus shard, the float16 vectors [n, dim] of a run of documents, `key`
  being `docs_key` of their text hashes in order (`load_docs` opens it memory-mapped, so a
  corpus larger than memory is searched a shard at a time; see `reasonembed.retrieval.sharded`).
- `docs-{key}.claim-{g}`: while a corpus shard is being encoded, the claim of the replica encoding
  it (`reasonembed.retrieval.shard_claims`), removed once `docs-{key}.npy` is written.

Every file is written to a temporary name, flushed and renamed, so a killed process never leaves
a half-written one (a rerun reuses the finished ones), and several processes can add files side
by side.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class EmbeddingCache:
    def __init__(self, root: str | Path, fingerprint: str) -> None:
        self.folder = Path(root) / fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self._rows: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._loaded_shards: set[str] = set()
        self._size = 0
        self._read = False

    def refresh(self) -> None:
        """Read shards written since the last refresh (by this or another process)."""
        self._read = True
        for shard in sorted(self.folder.glob("shard-*.npz")):
            if shard.name in self._loaded_shards:
                continue
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._add_block(list(keys), vectors)
            self._loaded_shards.add(shard.name)

    def _add_block(self, keys: list[bytes], vectors: np.ndarray) -> None:
        for offset, key in enumerate(keys):
            self._rows.setdefault(bytes(key), self._size + offset)
        self._blocks.append(np.asarray(vectors, dtype=np.float32))
        self._size += len(keys)

    def __len__(self) -> int:
        if not self._read:
            self.refresh()
        return len(self._rows)

    def _matrix(self) -> np.ndarray:
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0]

    def get_many(self, keys: Sequence[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(found mask [n] bool, vectors [n, dim] float32, zero where not found)."""
        found = np.zeros(len(keys), dtype=bool)
        vectors = np.zeros((len(keys), dim), dtype=np.float32)
        if not self._read:
            self.refresh()
        if not self._rows:
            return found, vectors
        rows = [self._rows.get(key.encode("ascii"), -1) for key in keys]
        rows_array = np.asarray(rows, dtype=np.int64)
        found = rows_array >= 0
        if found.any():
            matrix = self._matrix()
            if matrix.shape[1] != dim:
                raise ValueError(
                    f"embedding cache {self.folder} holds {matrix.shape[1]}-d vectors, expected {dim}"
                )
            vectors[found] = matrix[rows_array[found]]
        return found, vectors

    def put_many(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors as one new shard (atomic rename)."""
        if len(keys) == 0:
            return
        encoded = np.asarray([key.encode("ascii") for key in keys], dtype="S64")
        name = f"shard-{uuid.uuid4().hex}.npz"
        with atomic_file(self.folder / name) as handle:
            np.savez(handle, keys=encoded, vectors=np.asarray(vectors, dtype=np.float32))
        if self._read:
            self._add_block(list(encoded), vectors)
            self._loaded_shards.add(name)

    # --- corpus shards: float16, memory-mapped ---------------------------------------------
    def docs_path(self, key: str) -> Path:
        return self.folder / f"docs-{key}.npy"

    def has_docs(self, key: str) -> bool:
        return self.docs_path(key).exists()

    def load_docs(self, key: str) -> np.ndarray:
        """The float16 vectors of a corpus shard, memory-mapped read-only."""
        return np.load(self.docs_path(key), mmap_mode="r")

    def save_docs(self, key: str, vectors: np.ndarray) -> Path:
        """Store a corpus shard as float16 (atomic rename); returns its path."""
        path = self.docs_path(key)
        with atomic_file(path) as handle:
            np.save(handle, np.asarray(vectors, dtype=np.float16))
        return path


def docs_key(text_hashes: Sequence[str]) -> str:
    """The cache key of a run of documents: sha256 over their text hashes, in order."""
    digest = hashlib.sha256()
    for key in text_hashes:
        digest.update(key.encode("ascii"))
    return digest.hexdigest()


class atomic_file:
    """`with atomic_file(path) as handle:` writes `path` through a temporary file in the same
    folder, flushed to disk and renamed over `path` on success (removed on error)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".tmp-{uuid.uuid4().hex}-{self.path.name}")

    def __enter__(self):
        self.handle = open(self.tmp, "wb")
        return self.handle

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                self.handle.flush()
                os.fsync(self.handle.fileno())
        finally:
            self.handle.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
