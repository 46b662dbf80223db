"""Back-pressure: at most `window` seeds inside the pipeline at once.

distilabel 1.5.3 has no back-pressure: a batch a step emits goes straight into the next step's
input queue (held by the multiprocessing manager), whatever that step's backlog. Query generation
and mining are far faster per seed than annotation (one LLM call per candidate), so without a
bound they run ahead and every mined query waits, with its candidate documents, in annotation's
queue: memory grows with the dataset (at the paper's ~80k queries x 100 candidates of a few kB,
tens of GB).

Every seed yields exactly one leaf record (`reasonembed.steps.assembly`), so the seeds in flight
are the seeds `select_seeds` emitted minus the records `assemble_samples` finished. `SeedGate`
makes the seed step wait before emitting a batch that would put more than `window` seeds in
flight; the assembly step counts what it finished. Both open the same small SQLite file (a
counter per pipeline name); on Ray both steps run on the driver's node (`ray_placement`).

No deadlock: every step maps rows one to one and holds at most `input_batch_size - 1` rows while
it waits for a batch, and `window_for` makes the window larger than the sum of every step's input
batch plus the seed batch, so while the gate is closed some step holds a full batch.

A run resumed by distilabel's own recovery (the seed step restarts at an offset) is not gated:
the rows already in flight before the crash are unknown (one log line says so).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from distilabel.constants import PIPELINE_NAME_ENV_NAME

from reasonembed.llms.sqlite_file import SQLiteFile

logger = logging.getLogger(__name__)

SCHEMA = "CREATE TABLE IF NOT EXISTS finished (pipeline TEXT PRIMARY KEY, records INTEGER)"
POLL_S = 0.1


def window_for(step_batches: list[int], seed_batch: int) -> int:
    """The default window: twice (every step's input batch + the seed batch), so the faster
    steps can work one batch ahead of the slowest."""
    return 2 * (sum(step_batches) + seed_batch)


class SeedGate:
    """The shared counter of pipeline `PIPELINE_NAME_ENV_NAME` in the SQLite file `path`."""

    def __init__(self, path: str | Path) -> None:
        self._file = SQLiteFile(path)
        self._file.connection().execute(SCHEMA)
        self.pipeline = os.environ.get(PIPELINE_NAME_ENV_NAME, "pipeline")

    def start(self) -> None:
        """A new run: nothing finished yet (the seed step calls this before its first batch)."""
        self._file.connection().execute(
            "INSERT OR REPLACE INTO finished VALUES (?, 0)", (self.pipeline,)
        )

    def finish(self, records: int) -> None:
        """`records` leaf records were assembled (the assembly step, per batch)."""
        self._file.connection().execute(
            "INSERT INTO finished VALUES (?, ?) "
            "ON CONFLICT(pipeline) DO UPDATE SET records = records + excluded.records",
            (self.pipeline, records),
        )

    def finished(self) -> int:
        row = (
            self._file.connection()
            .execute("SELECT records FROM finished WHERE pipeline = ?", (self.pipeline,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def wait_for_room(self, emitted: int, window: int) -> float:
        """Block until `emitted` seeds (the ones sent so far plus the next batch) leave at most
        `window` in flight; returns the seconds waited."""
        start = time.monotonic()
        while emitted - self.finished() > window:
            time.sleep(POLL_S)
        return time.monotonic() - start
