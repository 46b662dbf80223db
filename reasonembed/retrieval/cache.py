"""Embedding cache: vectors keyed by (model fingerprint, sha256 of the exact text).

Layout: `{root}/{fingerprint}/shard-*.npz`, each shard holding `keys` (sha256 hex, as bytes) and
`vectors` (float32 [n, dim]). Shards are written to a temporary name and renamed, so a killed
process never leaves a half-written shard, and several processes can add shards side by side.
"""

from __future__ import annotations

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
        self.refresh()

    def refresh(self) -> None:
        """Read shards written since the last refresh (by this or another process)."""
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
        return len(self._rows)

    def _matrix(self) -> np.ndarray:
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0]

    def get_many(self, keys: Sequence[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(found mask [n] bool, vectors [n, dim] float32, zero where not found)."""
        found = np.zeros(len(keys), dtype=bool)
        vectors = np.zeros((len(keys), dim), dtype=np.float32)
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
        tmp = self.folder / f".tmp-{name}"
        with open(tmp, "wb") as handle:
            np.savez(handle, keys=encoded, vectors=np.asarray(vectors, dtype=np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.folder / name)
        self._add_block(list(encoded), vectors)
        self._loaded_shards.add(name)
