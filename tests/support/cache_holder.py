"""A real process that holds a cache_dir's run lock (`reasonembed.factory.cache_lock.hold_cache`) until
its stdin closes (then it releases it as a run does) or a signal ends it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOLD = """
import sys
from reasonembed.factory.cache_lock import hold_cache
with hold_cache(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def holding_process(cache_dir: Path, purpose: str = "a test holder") -> Iterator[subprocess.Popen]:
    """The holder, started and holding the lock; ended (stdin closed, reaped) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(cache_dir), purpose],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line == "held", process.stderr.read()
        yield process
    finally:
        if process.poll() is None:
            process.stdin.close()
        process.wait(60)
