"""A small tmpfs the test mounts (a full disk on demand), skipped where mounting is refused.

    with small_tmpfs(tmp_path / "disk", "2m") as disk:   # size as mount(8) takes it
        ...
    resize_tmpfs(disk, "64m")                            # make room (remount)

Needs root (or CAP_SYS_ADMIN); the mount is always removed when the block ends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `folder` (created); pytest.skip when it cannot mount."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)])
    except FileNotFoundError:
        pytest.skip("no mount command on this machine")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def resize_tmpfs(folder: Path, size: str) -> None:
    """Grow (or shrink) the tmpfs at `folder` in place; its files stay."""
    resized = _mount(["-o", f"remount,size={size}", str(folder)])
    assert resized.returncode == 0, resized.stderr
