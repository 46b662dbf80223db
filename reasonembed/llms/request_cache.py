"""A request-level, content-addressed LLM cache shared by processes and safe under kill -9.

Key: sha256 of (model identity, messages, generation settings, prompt-template hash, attempt).
Value: the completion text (the answer as steps see it: stripped of any reasoning block, see
`llms.base.strip_reasoning`) and its token counts (the whole completion, reasoning included),
with the model identity, the stage and the time it was stored (`reasonembed cache` lists and
prunes by them; rows of a file made before these columns existed have no model or stage, and
the time the columns were added). Stored in SQLite (WAL journal): each insert is
one atomic transaction, so a killed process leaves either the whole entry or nothing, and several
worker processes can read and write the same file at once (writers wait up to 60 s for the lock).
`synchronous=NORMAL`: a committed entry survives the death of the process (kill -9) but may be
lost if the whole machine loses power; then the request is simply asked again. Failed requests
are never stored. tests/llms/test_request_cache.py kills a writer with SIGKILL and checks that
every entry is whole and the file passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from reasonembed.data.textnorm import stable_hash
from reasonembed.llms.sqlite_file import SQLiteFile


def request_cache_path(cache_dir: str | Path) -> Path:
    """The request cache (and usage ledger) file under a config's `cache_dir`."""
    return Path(cache_dir) / "requests.sqlite"


SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    model TEXT,
    stage TEXT,
    at REAL
)
"""
# columns added after the first release: (name, declaration for ALTER TABLE)
ADDED_COLUMNS = (("model", "TEXT"), ("stage", "TEXT"), ("at", "REAL DEFAULT {now}"))


def request_key(
    model: str, messages: list[dict], settings: dict, template_hash: str, attempt: int
) -> str:
    return stable_hash(
        model,
        json.dumps(messages, sort_keys=True, ensure_ascii=False),
        json.dumps(settings, sort_keys=True),
        template_hash,
        str(attempt),
    )


def add_missing_columns(connection: sqlite3.Connection) -> None:
    """Upgrade a file made before ADDED_COLUMNS existed (O(1): old rows read the defaults; their
    `at` is the upgrade time, an upper bound of when they were stored)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(completions)")}
    for name, declaration in ADDED_COLUMNS:
        if name in present:
            continue
        try:
            connection.execute(
                f"ALTER TABLE completions ADD COLUMN {name} {declaration.format(now=time.time())}"
            )
        except sqlite3.OperationalError as error:  # another process added it meanwhile
            if "duplicate column" not in str(error):
                raise


class RequestCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(self.path)
        with self._connection() as connection:
            connection.execute(SCHEMA)
            add_missing_columns(connection)

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def get(self, key: str) -> tuple[str, int, int] | None:
        row = (
            self._connection()
            .execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        return None if row is None else (row[0], int(row[1]), int(row[2]))

    def get_many(self, keys: list[str]) -> list[tuple[str, int, int] | None]:
        """`get` of each key, in order (one query per 500 keys)."""
        found: dict[str, tuple[str, int, int]] = {}
        connection = self._connection()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = connection.execute(
                "SELECT key, text, prompt_tokens, completion_tokens FROM completions "
                f"WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update((row[0], (row[1], int(row[2]), int(row[3]))) for row in rows)
        return [found.get(key) for key in keys]

    def put(
        self,
        key: str,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        model: str | None = None,
        stage: str | None = None,
    ) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, text, prompt_tokens, completion_tokens, model, stage, time.time()),
        )

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM completions").fetchone()[0])
