"""A request-level, content-addressed LLM cache shared by processes and safe under kill -9.

Key: sha256 of (model identity, messages, generation settings, prompt-template hash, attempt).
Value: the completion text (the answer as steps see it: stripped of any reasoning block, see
`llms.base.strip_reasoning`) and its token counts (the whole completion, reasoning included). Stored in SQLite (WAL journal): each insert is
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
from pathlib import Path

from reasonembed.llms.sqlite_file import SQLiteFile
from reasonembed.textnorm import stable_hash


def request_cache_path(cache_dir: str | Path) -> Path:
    """The request cache (and usage ledger) file under a config's `cache_dir`."""
    return Path(cache_dir) / "requests.sqlite"


SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL
)
"""


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


class RequestCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(self.path)
        with self._connection() as connection:
            connection.execute(SCHEMA)

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

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
            (key, text, prompt_tokens, completion_tokens),
        )

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM completions").fetchone()[0])
