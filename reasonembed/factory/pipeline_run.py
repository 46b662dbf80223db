"""How the factory's distilabel pipelines end a run: no Distiset, and a stop by a signal raised.

`FactoryRun`, mixed into the pipeline classes the factory runs (`FactoryPipeline` in
`reasonembed.factory.recovery_cache`, the Ray pipeline in `reasonembed.factory.ray_placement`), changes two
things of distilabel 1.5.3's `run()`:

- No Distiset. distilabel ends every run (and answers a run whose batches were all done) by
  building a Distiset with `datasets`, which copies the leaf's data into
  `~/.cache/huggingface/datasets/parquet/<leaf>-<hash>/`: outside `cache_dir`, once per run,
  never removed. The factory reads the leaf's files itself (`output_writer.leaf_files`), so
  `run()` skips that build and returns None. `distilabel pipeline run --config
  pipelines/remixer.yaml` builds distilabel's own `Pipeline` class and keeps its Distiset.
- Signals. distilabel stops gracefully on Ctrl-C (its SIGINT handler calls `_stop`: the steps
  finish their batches) and then returns as if the run had ended. Here SIGTERM stops it the same
  way, and once the pipeline has stopped `run()` raises `KeyboardInterrupt` (SIGINT) or
  `interrupts.Terminated` (SIGTERM), so the caller tells an interrupted run from one whose step
  failed. The previous handlers are restored when `run()` ends. distilabel forces the stop on
  the third signal with `sys.exit(1)`; that too is raised as the interruption.
- Failures. An error in distilabel's output loop (the thread of the main process that writes
  the step outputs and its recovery state: a full cache disk) killed that thread with a
  traceback; here `run()` raises it after the steps are torn down. distilabel stops its log
  thread only when a run succeeds (left running, it dies with a traceback when the process
  exits); `run()` always stops it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distilabel.utils.logging import stop_logging

from reasonembed.interrupts import Terminated

# the modules whose `run()` calls `create_distiset` (a name each imported for itself)
DISTISET_CALLERS = (
    "distilabel.pipeline.base",
    "distilabel.pipeline.local",
    "distilabel.pipeline.ray",
)
NOT_BUILT = "distiset not built"  # truthy: distilabel reads a falsy answer as "run the steps"


def _skip_distiset(*args: Any, **kwargs: Any) -> str:
    return NOT_BUILT


@contextmanager
def distiset_skipped() -> Iterator[None]:
    """distilabel's pipeline modules build no Distiset inside the block (see module docstring)."""
    patched = []
    for name in DISTISET_CALLERS:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "create_distiset"):
            patched.append((module, module.create_distiset))
            module.create_distiset = _skip_distiset
    try:
        yield
    finally:
        for module, original in patched:
            module.create_distiset = original


class FactoryRun:
    """Mixin for a distilabel pipeline class (first in the bases); see the module docstring.
    `stopped_by`: the signal that stopped the last run, or None."""

    stopped_by: int | None = None
    _previous_handlers: dict[int, Any] | None = None

    def run(self, *args: Any, **kwargs: Any) -> None:
        self.stopped_by = None
        self._previous_handlers = {}
        try:
            with distiset_skipped():
                super().run(*args, **kwargs)
        except SystemExit:
            if self.stopped_by is None:
                raise
        finally:
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            self._previous_handlers = {}
            stop_logging()  # distilabel leaves its log thread running when a step failed
        if self.stopped_by is not None:
            raise Terminated() if self.stopped_by == signal.SIGTERM else KeyboardInterrupt()

    def _output_queue_loop(self) -> None:
        try:
            super()._output_queue_loop()
        except Exception as error:  # noqa: BLE001 (raised by `run()` once the steps are down)
            self._exception = error

    def _handle_keyboard_interrupt(self) -> Any:
        """Called by distilabel once the step processes exist (they keep their own handlers)."""

        installer = os.getpid()

        def stop(signum: int, frame: Any) -> None:
            if os.getpid() != installer:
                # a step process the pool forked after this handler was set (it replaces a
                # worker that exited): the signal is for it, as a plain process. Its SIGTERM
                # from `Pool.terminate()` must end it, or the pipeline's teardown waits forever.
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            if self.stopped_by is None:
                self.stopped_by = signum
            self._stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, stop)
            self._previous_handlers.setdefault(signum, previous)
        return self._previous_handlers[signal.SIGINT]
