"""A full disk as one line: `OSError` ENOSPC / EDQUOT turned into a `DiskFull` user error.

    with reporting_disk_full(path, needed_bytes):   # any write under `path`
        ...

Contract: inside the block, an `OSError` whose errno is ENOSPC (no space left on device) or
EDQUOT (disk quota exceeded), or any exception raised while handling one, is re-raised as
`DiskFull` (a `UserError`: the CLI prints its one line, exit status 1, no traceback); every
other exception passes through unchanged. The line names `path`, the free space of its file
system (`shutil.disk_usage`, read when the error is raised: remove partial files BEFORE leaving
the block, i.e. in a try/finally inside it, so the figure is what the user has after the
cleanup) and the space the write needs: the caller's estimate when it is above the free space,
else "more than that" (the write did not fit). `needed_bytes` is an int, None (unknown), or a
callable returning either (asked only on failure, e.g. to total what was staged).
`disk_full_error(path, needed_bytes)` builds the same error for callers that catch the OSError
themselves; `is_disk_full(error)` tests one (and its cause/context chain).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reasonembed.errors import UserError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

Needed = int | None | Callable[[], int | None]


class DiskFull(UserError):
    """A write ran out of disk space (or quota); the message names the path and the space."""


def is_disk_full(error: BaseException | None) -> bool:
    """True for an OSError meaning "no space left" or "quota exceeded", or an error raised while
    handling one (torch.save into a file object wraps it in a RuntimeError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def format_bytes(count: int) -> str:
    """`count` bytes for people: 512 B, 1.5 kB, 93.2 MB, 1.2 GB (powers of 1,000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def free_bytes(path: Path) -> int | None:
    """Free space of the file system holding `path` (its nearest existing parent)."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def disk_full_error(path: str | Path, needed_bytes: int | None = None) -> DiskFull:
    """The one-line error for a full disk while writing `path` (`needed_bytes`: if known)."""
    free = free_bytes(Path(path))
    space = f"{format_bytes(free)} free" if free is not None else "free space unknown"
    if needed_bytes and (free is None or needed_bytes > free):
        space += f", about {format_bytes(needed_bytes)} needed"
    elif free is not None:  # the write did not fit in what is free: an estimate below is low
        space += ", more than that needed"
    return DiskFull(
        f"{path}: no space left on the device ({space}); free some space or write elsewhere, "
        "then run the command again"
    )


def folder_bytes(path: Path) -> int:
    """Total size of the files under `path` (0 when it does not exist)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


@contextmanager
def reporting_disk_full(path: str | Path, needed_bytes: Needed = None) -> Iterator[None]:
    """Re-raise ENOSPC/EDQUOT inside the block as `DiskFull` naming `path` (module docstring)."""
    try:
        yield
    except Exception as error:
        if isinstance(error, DiskFull) or not is_disk_full(error):
            raise
        needed = needed_bytes() if callable(needed_bytes) else needed_bytes
        raise disk_full_error(path, needed) from None
