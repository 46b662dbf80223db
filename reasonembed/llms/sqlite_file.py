"""One SQLite file shared by threads and processes: WAL journal, one connection per thread,
autocommit (each statement is its own atomic transaction, so a killed process leaves whole rows
or nothing). The request cache and the usage ledger both live in such a file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SQLiteFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection
