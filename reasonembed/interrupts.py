"""Ctrl-C and SIGTERM as one exception family, so a command cleans up and says one line.

`with sigterm_as_interrupt(): ...` makes SIGTERM raise `Terminated` (a `KeyboardInterrupt`) in
the main thread for the block's duration, so the `try/finally` and `except KeyboardInterrupt`
cleanups that handle Ctrl-C also run on SIGTERM; the previous handler is restored after. Install
it only in a process that forks no workers of its own (a forked worker would inherit it).
A command that knows how far it got re-raises `with_message(stop, "...")` (same class, so the
exit status is kept); the CLI logs `str(stop)` (or "interrupted") and exits `exit_status(stop)`:
130 for Ctrl-C (SIGINT), 143 for SIGTERM, as a shell reports a process those signals killed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C inside `sigterm_as_interrupt`."""


def exit_status(stop: BaseException) -> int:
    """128 + the signal number: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)


def with_message(stop: KeyboardInterrupt, message: str) -> KeyboardInterrupt:
    """An interruption of the same kind as `stop` that says `message`."""
    return type(stop)(message)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` inside the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
