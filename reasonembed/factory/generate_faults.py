"""How `reasonembed generate` ends when the run cannot finish: a signal, or a full cache disk.

    with watching_cache_disk(config.cache_dir):      # the seeds file and the pipeline run
        ...
    interrupted_message(stop, progress.done(), totals)

`watching_cache_disk(cache_dir)`: an exception leaving the block becomes one `DiskFull` line naming
`cache_dir` when the cache's file system is full: the exception itself says no space is left
(ENOSPC/EDQUOT, in its chain), or, unless it is a user's mistake, the file system has less than
`LOW_SPACE_BYTES` free (a step process that hit the full disk fails its own way: SQLite "disk I/O
error", a failed step load, rows lost and `PipelineFailed`). The line says the free space, how much
of it this run used up (free space before minus after: no walk of the cache) and, when the exception
is not itself the ENOSPC, the error the pipeline stopped with. The caches stay usable (SQLite rolls
back an unfinished write), so the next run continues; an answer that arrived while the disk was full
could not be stored and is asked again. The block also silences `logging`'s own tracebacks ("---
Logging error ---") for its duration: distilabel's log file lives in the cache and fails with it.
`KeyboardInterrupt` passes unchanged.

`interrupted_message(stop, done, totals)`: the one line of a run stopped by Ctrl-C or SIGTERM,
with the LLM answers of each stage so far (`done`, from `StageProgress.done()`) of `totals`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reasonembed.data.diskspace import (
    DiskFull,
    format_bytes,
    free_bytes,
    is_disk_full,
)
from reasonembed.errors import PipelineFailed, UserError
from reasonembed.factory.progress import STAGE_LABELS
from reasonembed.interrupts import Terminated

LOW_SPACE_BYTES = 16 * 2**20  # below this, a failed run is put down to the full disk


def interrupted_message(
    stop: KeyboardInterrupt, done: dict[str, int], totals: dict[str, int]
) -> str:
    """See the module docstring."""
    signal_name = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C (SIGINT)"
    answered = ", ".join(
        f"{done.get(stage, 0):,} of {total:,} {STAGE_LABELS.get(stage, stage)}"
        for stage, total in totals.items()
    )
    return (
        f"interrupted by {signal_name}: LLM answers so far {answered}; they are kept in the "
        "request cache, so the same command continues from there"
    )


@contextmanager
def watching_cache_disk(cache_dir: str | Path) -> Iterator[None]:
    """See the module docstring."""
    cache_dir = Path(cache_dir)
    # the run's writes, measured as the free space it used up (one statvfs, not a walk of a cache
    # that holds a corpus's embeddings and every step's outputs)
    free_before = free_bytes(cache_dir) or 0
    raise_exceptions = logging.raiseExceptions
    logging.raiseExceptions = False
    try:
        yield
    except Exception as error:
        if isinstance(error, DiskFull) or not cache_disk_full(cache_dir, error):
            raise
        used = free_before - (free_bytes(cache_dir) or 0)
        raise cache_full_error(cache_dir, used, error) from None
    finally:
        logging.raiseExceptions = raise_exceptions


def cache_disk_full(cache_dir: Path, error: BaseException) -> bool:
    """Whether `error` came from a full disk under `cache_dir` (see the module docstring); a
    user's mistake (a `UserError` other than `PipelineFailed`) never does."""
    if is_disk_full(error):
        return True
    if isinstance(error, UserError) and not isinstance(error, PipelineFailed):
        return False
    free = free_bytes(cache_dir)
    return free is not None and free < LOW_SPACE_BYTES


def cache_full_error(cache_dir: Path, written: int, error: BaseException) -> DiskFull:
    free = free_bytes(cache_dir)
    cause = ""
    if not is_disk_full(error):  # how a step process failed on the full disk
        text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        cause = f"; the pipeline stopped with: {' '.join(text.split())[:300]}"
    return DiskFull(
        f"{cache_dir}: no space left on the device for the cache "
        f"({format_bytes(free or 0)} free, more than that needed; this run used "
        f"{format_bytes(max(written, 0))} of it before it filled{cause}); free some space or "
        "move cache_dir, then run the same command again: the LLM answers so far are kept in "
        "the request cache"
    )
