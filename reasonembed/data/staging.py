"""An output folder built beside its place, then renamed into place as a whole.

    with staged_folder(output, needed=estimate) as staging:   # new, empty, beside `output`
        ...                                                   # write the folder into `staging`
    # here `staging` has replaced `output` (the old folder is removed only after the rename)

`staging` is `.{output.name}.partial-{pid}` in `output`'s parent (stale ones of killed runs are
removed first). When the block raises anything (a Ctrl-C included), `staging` is removed before
the exception leaves, so nothing half-written stays on the disk. A full disk (ENOSPC, EDQUOT)
inside the block is raised as one `diskspace.DiskFull` line naming `output`, the space free once
`staging` is gone and `needed(bytes staged when the disk filled)`: the caller's estimate of the
whole folder (by default what was staged, a lower bound).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reasonembed.data.diskspace import folder_bytes, reporting_disk_full


def staging_folder(output: Path) -> Path:
    """A new, empty sibling of `output` to build the run in (stale ones of killed runs removed)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    for stale in output.parent.glob(f".{output.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = output.parent / f".{output.name}.partial-{os.getpid()}"
    staging.mkdir()
    return staging


def replace_folder(staging: Path, output: Path) -> None:
    """Put `staging` in place of `output` (renames; the old folder is removed only after)."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{os.getpid()}"
        os.replace(output, old)
    os.replace(staging, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(
    output: Path, needed: Callable[[int], int | None] = lambda staged: staged
) -> Iterator[Path]:
    """See the module docstring."""
    staged = 0
    with reporting_disk_full(output, lambda: needed(staged)):
        staging = staging_folder(output)
        try:
            yield staging
        except BaseException:
            staged = folder_bytes(staging)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        replace_folder(staging, output)
