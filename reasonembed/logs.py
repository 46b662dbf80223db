"""Logging set-up of the `reasonembed` command, and progress that suits where the output goes.

distilabel replaces the root logger's handlers while a pipeline runs (a queue feeding its worker
processes) and closes that queue at the end; `configure_logging` is called again afterwards: it
drops such queue handlers and makes sure the command's own lines reach the terminal. Handlers
that someone else installed (pytest's capture, an application's) are left in place. Progress
lines (logger `reasonembed.progress`) get a stderr handler of their own in the command, so they
keep the command's format and reach stderr also while a pipeline runs (distilabel's handler
shows WARNING and above only, through rich, on stdout) and from its step processes.

Progress: on a terminal, bars; anywhere else (a log file, CI), none. `bars_off_terminal()`, called
once by the CLI before anything imports tqdm, turns every tqdm bar off (ours and the libraries':
transformers, datasets, the Hub, sentence-transformers, distilabel) in this process and in every
process it starts, when stderr is not a terminal. `Progress` is the one progress display of the
package's long stages: a tqdm bar on a terminal, else an INFO line every
REASONEMBED_PROGRESS_EVERY_S seconds (default 30) while the count moves, e.g.
`judgements 1,200/4,000 (30%), 3.1/s, ETA 15 min`.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from logging.handlers import QueueHandler
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# libraries whose INFO lines say nothing a user needs: faiss reports which CPU build it tried;
# the HTTP clients log one line per request (openai>=3 sends through `httpx2`, others `httpx`)
QUIET_LOGGERS = ("faiss", "httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "bm25s")


def quiet_third_party_loggers() -> None:
    """Set QUIET_LOGGERS to WARNING in this process (the CLI, and every step process: LLMs call
    it in `load`, since distilabel runs steps in processes of their own)."""
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _no_weight_loading_bar(factory, args, kwargs):
    if kwargs.get("desc") == "Loading weights":
        kwargs = {**kwargs, "disable": True}
    return factory(*args, **kwargs)


def quiet_model_loading() -> None:
    """No "Loading weights" bar per model transformers loads (a step's model is loaded in every
    step process, each printing one); the Hub's download bars stay. Call where transformers is
    imported anyway (this imports it)."""
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5
    if set_hook is not None:
        set_hook(_no_weight_loading_bar)


PROGRESS_LOGGER = "reasonembed.progress"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written (a test's capture, replaced
    and closed later, is never held)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it
        pass


def configure_logging(verbose: bool = False) -> None:
    progress = logging.getLogger(PROGRESS_LOGGER)
    if not any(isinstance(handler, _StderrHandler) for handler in progress.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, QueueHandler):
            root.removeHandler(handler)
    logging.basicConfig(format=FORMAT, datefmt="%H:%M:%S")  # no-op when handlers remain
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_third_party_loggers()


# tqdm (>= 4.66) reads TQDM_<ARGUMENT> defaults when it is imported; the Hub and datasets have
# switches of their own, read when they are imported (in this process and in the ones it starts)
BARS_OFF_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}
PROGRESS_EVERY_ENV = "REASONEMBED_PROGRESS_EVERY_S"
DEFAULT_PROGRESS_EVERY_S = 30.0


def on_terminal() -> bool:
    """Whether progress is drawn as bars: stderr is a terminal, no one turned tqdm off, and this
    is the main process (a step or worker process's bar would tear the command's own bars)."""
    import multiprocessing

    isatty = getattr(sys.stderr, "isatty", None)
    return (
        bool(isatty and isatty())
        and not os.environ.get("TQDM_DISABLE")
        and multiprocessing.current_process().name == "MainProcess"
    )


def bars_off_terminal() -> bool:
    """When stderr is not a terminal, turn off every tqdm bar (BARS_OFF_ENV, inherited by child
    processes); call before tqdm, huggingface_hub or datasets is imported. True when it did."""
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty and isatty():
        return False
    for name, value in BARS_OFF_ENV.items():
        os.environ.setdefault(name, value)
    return True


def progress_every_s() -> float:
    """Seconds between two progress lines (REASONEMBED_PROGRESS_EVERY_S, default 30)."""
    text = os.environ.get(PROGRESS_EVERY_ENV, "")
    try:
        value = float(text) if text else DEFAULT_PROGRESS_EVERY_S
    except ValueError:
        value = DEFAULT_PROGRESS_EVERY_S
    return value if value > 0 and math.isfinite(value) else DEFAULT_PROGRESS_EVERY_S


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _rate(per_s: float) -> str:
    if per_s >= 10:
        return f"{per_s:,.0f}"
    return f"{per_s:.1f}" if per_s >= 0.1 else f"{per_s:.2g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Work counted toward `total` (None: unknown): a tqdm bar on a terminal (`on_terminal()`),
    else an INFO line on `logger` (default PROGRESS_LOGGER) every `every_s` seconds (default
    `progress_every_s()`) in which the count moved, and a closing line if any was written. `update(n)` adds, `set(done)` sets,
    `set_postfix(name=value)` adds fields (loss) to the bar and the lines. `enabled=False`: no
    output at all (a non-main rank). Not thread-safe: one thread updates it."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "it",
        logger: logging.Logger | None = None,
        every_s: float | None = None,
        initial: int = 0,
        enabled: bool = True,
        position: int | None = None,
        leave: bool = True,
        bar_label: str | None = None,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.logger = logger or logging.getLogger(PROGRESS_LOGGER)
        self.every_s = progress_every_s() if every_s is None else every_s
        self.done = initial
        self.lines = 0
        self.postfix: dict[str, Any] = {}
        self.enabled = enabled
        self._bar = None
        if enabled and on_terminal():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=bar_label or label,
                unit=unit,
                position=position,
                leave=leave,
                dynamic_ncols=True,
            )
        now = time.monotonic()
        self._line_at = now  # when the last line was written (or the start)
        self._window = (now, initial)  # start of the span the rate is measured over
        self._first_move: tuple[float, int] | None = None

    @property
    def logs_lines(self) -> bool:
        return self.enabled and self._bar is None

    def update(self, n: int = 1) -> None:
        self.set(self.done + n)

    def set(self, done: int) -> None:
        """The count is now `done`."""
        now = time.monotonic()
        if self._first_move is None and done == self.done:
            # not started (a stage waiting for its input): not in the rate. Once started, a
            # still count is work in progress (answers arrive in batches), so it is counted
            self._window = (now, done)
        elif self._first_move is None:
            self._first_move = (self._window[0], self._window[1])
            if self._bar is not None:  # the bar's rate and ETA start here, not at its creation
                self._bar.start_t = self._bar.last_print_t = self._bar._time() - (
                    now - self._window[0]
                )
        moved = done - self.done
        self.done = done
        if self._bar is not None:
            if moved:
                self._bar.update(moved)
        elif self.logs_lines and now - self._line_at >= self.every_s and done != self._window[1]:
            self._log(now)

    def set_postfix(self, **fields: Any) -> None:
        self.postfix = fields
        if self._bar is not None:
            self._bar.set_postfix(**fields)

    def line(self, now: float | None = None, final: bool = False) -> str:
        """`label done/total (pct), rate/s, ETA t` (final: `in t`), then the postfix fields; past
        its total (a stage's re-asks): `label done (total expected; the rest re-asked), ...`."""
        now = time.monotonic() if now is None else now
        start_t, start_n = (self._first_move or self._window) if final else self._window
        text = f"{self.label} {_count(self.done)}"
        if self.total and self.done > self.total:  # re-asks: more answers than items
            text += f" ({_count(self.total)} expected; the rest re-asked)"
        elif self.total:
            text += f"/{_count(self.total)} ({100 * self.done / self.total:.0f}%)"
        elapsed = now - start_t
        rate = (self.done - start_n) / elapsed if elapsed > 0 else 0.0
        text += f", {_rate(rate)}/s"
        if final:
            text += f", in {_duration(elapsed)}"
        elif self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_duration(max(1.0, (self.total - self.done) / rate))}"
        for name, value in self.postfix.items():
            text += f", {name} {value}"
        return text

    def _log(self, now: float) -> None:
        self.logger.info("%s", self.line(now))
        self.lines += 1
        self._line_at = now
        self._window = (now, self.done)

    def close(self) -> None:
        """Close the bar; in a log, a last line when lines were written (a long stage)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.logs_lines and self.lines and self.done != self._window[1]:
            self.logger.info("%s", self.line(final=True))
            self.lines += 1
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
