"""One SQLite file shared by threads and processes: WAL journal, one connection per thread,
autocommit (each statement is its own atomic transaction, so a killed process leaves whole rows
or nothing). The request cache and the usage ledger both live in such a file.

A `SQLiteFile` pickles as its path (connections are opened again on first use in the process
that unpickles it), and a connection is never used across a fork: a child process opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any


class SQLiteFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use in this thread and process)."""
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or local.pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            local.connection, local.pid = connection, os.getpid()
        return connection

    def close(self) -> None:
        """Close this thread's connection, if it opened one (the next use opens another). The
        last connection to close checkpoints the WAL into the file: a reader that ends (a
        progress poller) closes its own, so the file is left whole and no -wal beside it."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local.connection = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._local = threading.local()
