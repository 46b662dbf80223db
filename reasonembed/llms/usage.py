"""Token accounting: a usage ledger shared by every step process of a run.

Each `ReasonEmbedLLM.complete` call adds ledger rows as answers arrive (each answer is written at
most about a second after it arrived, several to a row: `llms.base._LedgerChunks`; progress
displays poll these rows): run id, stage, role, model, how many requests were sent fresh,
served from the request cache, retried by the client, failed or deferred, and the
prompt/completion tokens and cost (USD, from the role's price table) of the fresh ones. The ledger is a table in the request cache's SQLite file (WAL, one transaction per
row), so step processes write to it concurrently and a killed run keeps what it recorded.

The run id comes from the environment variable `REASONEMBED_RUN_ID`, which `begin_run()` sets in
the main process before the pipeline starts its step processes (they inherit it). Without it,
each process is its own run (`pid-<pid>`), so budgets then apply per step process.
`usage_report(cache_dir, run_id)` sums a run per stage, per role and in total, for stats.json.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from reasonembed.llms.sqlite_file import SQLiteFile

RUN_ID_ENV = "REASONEMBED_RUN_ID"
ROLE_OF_STAGE = {
    "domain_filter": "generator",
    "query": "generator",
    "reasoning": "generator",
    "annotation": "annotator",
}
COUNT_FIELDS = (
    "calls",
    "requests",
    "cached",
    "retries",
    "failed",
    "deferred",
    "prompt_tokens",
    "completion_tokens",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    deferred INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    at REAL NOT NULL
)
"""


_STARTED_HERE: set[str] = set()


def begin_run(run_id: str | None = None) -> str:
    """Start a run: set (and return) the run id that this process's step processes inherit.

    `run_id`, else the id this process was started with (REASONEMBED_RUN_ID set by its caller),
    else a new one. Each `reasonembed generate` is one run, also when several run in one process:
    an id this process started before is never reused.
    """
    inherited = os.environ.get(RUN_ID_ENV)
    if run_id is None and inherited and inherited not in _STARTED_HERE:
        run_id = inherited
    run_id = run_id or uuid.uuid4().hex[:12]
    _STARTED_HERE.add(run_id)
    os.environ[RUN_ID_ENV] = run_id
    return run_id


def current_run_id() -> str:
    return os.environ.get(RUN_ID_ENV) or f"pid-{os.getpid()}"


def role_of(stage: str | None) -> str:
    return ROLE_OF_STAGE.get(stage or "", "other")


class UsageLedger:
    """The `usage` table of the SQLite file at `path` (the request cache's file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(self.path)
        self._connection().execute(SCHEMA)
        self._connection().execute(
            "CREATE INDEX IF NOT EXISTS usage_run_role ON usage (run_id, role)"
        )

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def close(self) -> None:
        """Close the calling thread's connection (`SQLiteFile.close`)."""
        self._file.close()

    def record(
        self,
        run_id: str,
        stage: str | None,
        model: str,
        fresh: list[Any],
        cached: int = 0,
        deferred: int = 0,
        cost_usd: float = 0.0,
        calls: int = 1,
    ) -> None:
        """One chunk of a `complete` call (its last chunk has `calls=1`, the ones written while
        answers arrive `calls=0`): `fresh` are the Completions of the requests it sent."""
        answered = [c for c in fresh if c.deferred is None]
        self._connection().execute(
            "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                stage or "other",
                role_of(stage),
                model,
                calls,
                len(fresh),
                cached,
                sum(c.retries for c in fresh),
                len(fresh) - len(answered),
                deferred + len(fresh) - len(answered),
                sum(c.prompt_tokens for c in answered),
                sum(c.completion_tokens for c in answered),
                cost_usd,
                time.time(),
            ),
        )

    def spent(self, run_id: str, role: str) -> tuple[int, float]:
        """(prompt + completion tokens, cost in USD) of fresh requests of `role` in `run_id`."""
        row = (
            self._connection()
            .execute(
                "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0), "
                "COALESCE(SUM(cost_usd), 0) FROM usage WHERE run_id = ? AND role = ?",
                (run_id, role),
            )
            .fetchone()
        )
        return int(row[0]), float(row[1])

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        cursor = self._connection().execute(
            "SELECT stage, role, model, "
            + ", ".join(f"SUM({name})" for name in COUNT_FIELDS)
            + ", SUM(cost_usd) FROM usage WHERE run_id = ? GROUP BY stage, role, model",
            (run_id,),
        )
        names = ("stage", "role", "model", *COUNT_FIELDS, "cost_usd")
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _add(total: dict[str, Any], row: dict[str, Any]) -> None:
    for name in (*COUNT_FIELDS, "cost_usd"):
        total[name] = total.get(name, 0) + (row[name] or 0)


def usage_report(request_cache_path: str | Path, run_id: str) -> dict[str, Any]:
    """What run `run_id` asked of its LLMs: per stage, per role and in total.

    Counts: `requests` sent fresh (each may have been retried: `retries`), `cached` (served by
    the request cache, free), `failed` (failed on every server), `deferred` (not asked: budget or
    failure; the next run asks them), tokens of the answered fresh requests, `cost_usd`.
    """
    path = Path(request_cache_path)
    if not path.exists():
        return {"run_id": run_id, "stages": {}, "roles": {}, "total": {}}
    stages: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {}
    for row in UsageLedger(path).rows(run_id):
        stage = stages.setdefault(row["stage"], {"role": row["role"], "models": []})
        stage["models"].append(row["model"])
        _add(stage, row)
        _add(roles.setdefault(row["role"], {}), row)
        _add(total, row)
    for bucket in (*stages.values(), *roles.values(), total):
        if "cost_usd" in bucket:
            bucket["cost_usd"] = round(bucket["cost_usd"], 6)
    return {"run_id": run_id, "stages": stages, "roles": roles, "total": total}
