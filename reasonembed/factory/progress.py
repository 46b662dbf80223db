"""Progress of a `generate` run: one display per LLM stage, with rate and ETA.

The steps run in distilabel's worker processes; every `ReasonEmbedLLM.complete` call records its
requests in the usage ledger (reasonembed/llms/usage.py, a table in the request cache's SQLite
file) as they are answered, at most about a second late (`llms.base.LEDGER_FLUSH_S`).
`StageProgress` polls that ledger from a thread of the main process, so the displays need no
message passing and cost one small query a second. Totals are the expected LLM items per stage
(seeds for the query stages, seeds x candidates for annotation); re-asks can carry a count past
its total. Each stage is a `reasonembed.logs.Progress`: a bar on a terminal, else a periodic
INFO line (`judgements 1,200/4,000 (30%), 3.1/s, ETA 15 min`) while the stage moves.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reasonembed.llms.usage import UsageLedger
from reasonembed.logs import Progress

STAGE_LABELS = {
    "domain_filter": "domain filter",
    "query": "queries",
    "reasoning": "reasoning queries",
    "annotation": "judgements",
}


class StageProgress:
    """`with StageProgress(ledger_path, run_id, totals): pipeline.run()`; totals: stage -> items.

    `interval_s`: how often the ledger is read; `every_s`: seconds between two log lines (None:
    `reasonembed.logs.progress_every_s()`)."""

    def __init__(
        self,
        ledger_path: Path,
        run_id: str,
        totals: dict[str, int],
        interval_s: float = 1.0,
        every_s: float | None = None,
    ) -> None:
        self.ledger_path = Path(ledger_path)
        self.run_id = run_id
        self.totals = totals
        self.interval_s = interval_s
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stages: dict[str, Progress] = {}
        self._ledger: UsageLedger | None = None

    def __enter__(self) -> StageProgress:
        self._stages = {
            stage: Progress(
                STAGE_LABELS.get(stage, stage),
                total,
                unit="req",
                every_s=self.every_s,
                position=position,
                bar_label=f"{STAGE_LABELS.get(stage, stage):>17}",
            )
            for position, (stage, total) in enumerate(self.totals.items())
        }
        self._thread = threading.Thread(target=self._poll, name="stage-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.update()
        self._close_ledger()  # this thread's connection
        for stage in self._stages.values():
            stage.close()

    def _poll(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self.update()
        finally:
            self._close_ledger()  # the poller's connection (one per thread)

    def _close_ledger(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    def done(self) -> dict[str, int]:
        """Requests answered (sent or from the request cache) per stage so far in this run."""
        if self._ledger is None:
            if not self.ledger_path.exists():
                return {}
            self._ledger = UsageLedger(self.ledger_path)
        done: dict[str, int] = {}
        for row in self._ledger.rows(self.run_id):
            done[row["stage"]] = done.get(row["stage"], 0) + row["requests"] + row["cached"]
        return done

    def update(self) -> None:
        done = self.done()
        for stage, progress in self._stages.items():
            progress.set(done.get(stage, 0))
