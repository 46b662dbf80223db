"""Progress bars of a `generate` run: one per LLM stage, with rate and ETA.

The steps run in distilabel's worker processes; every `ReasonEmbedLLM.complete` call records its
requests in the usage ledger (reasonembed/llms/usage.py, a table in the request cache's SQLite
file). `StageProgress` polls that ledger from a thread of the main process, so the bars need no
message passing and cost one small query a second. Totals are the expected LLM items per stage
(seeds for the query stages, seeds x candidates for annotation); re-asks can carry a bar past its
total. Bars go to stderr and are left out when stderr is not a terminal (CI logs), where the
closing summary line says the same.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tqdm import tqdm

from reasonembed.llms.usage import UsageLedger

STAGE_LABELS = {
    "domain_filter": "domain filter",
    "query": "queries",
    "reasoning": "reasoning queries",
    "annotation": "judgements",
}


class StageProgress:
    """`with StageProgress(ledger_path, run_id, totals): pipeline.run()`; totals: stage -> items."""

    def __init__(
        self, ledger_path: Path, run_id: str, totals: dict[str, int], interval_s: float = 1.0
    ) -> None:
        self.ledger_path = Path(ledger_path)
        self.run_id = run_id
        self.totals = totals
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: dict[str, tqdm] = {}

    def __enter__(self) -> StageProgress:
        if sys.stderr.isatty():
            self._bars = {
                stage: tqdm(
                    total=total,
                    desc=f"{STAGE_LABELS.get(stage, stage):>17}",
                    unit="req",
                    position=position,
                    dynamic_ncols=True,
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
        for bar in self._bars.values():
            bar.close()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.update()

    def done(self) -> dict[str, int]:
        """Requests answered (sent or from the request cache) per stage so far in this run."""
        if not self.ledger_path.exists():
            return {}
        done: dict[str, int] = {}
        for row in UsageLedger(self.ledger_path).rows(self.run_id):
            done[row["stage"]] = done.get(row["stage"], 0) + row["requests"] + row["cached"]
        return done

    def update(self) -> None:
        done = self.done()
        for stage, bar in self._bars.items():
            bar.update(done.get(stage, 0) - bar.n)
