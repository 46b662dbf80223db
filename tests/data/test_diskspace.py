"""reasonembed.data.diskspace on a real full file system (a tmpfs the test mounts) and
reasonembed.interrupts' SIGTERM handling."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from reasonembed.data.diskspace import (
    DiskFull,
    disk_full_error,
    folder_bytes,
    format_bytes,
    is_disk_full,
    reporting_disk_full,
)
from reasonembed.errors import UserError
from reasonembed.interrupts import Terminated, exit_status, sigterm_as_interrupt, with_message
from tests.support.tmpfs import small_tmpfs


def test_a_full_tmpfs_becomes_one_line_naming_path_and_space(tmp_path):
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        target = disk / "big.bin"
        with pytest.raises(DiskFull) as caught:
            with reporting_disk_full(target, needed_bytes=lambda: 1_000_000):
                try:
                    target.write_bytes(b"x" * 1_000_000)
                finally:
                    target.unlink(missing_ok=True)
        message = str(caught.value)
        assert isinstance(caught.value, UserError)
        assert "\n" not in message
        assert str(target) in message
        assert "262.1 kB free" in message  # measured after the cleanup: the whole tmpfs
        assert "about 1.0 MB needed" in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError):
        with reporting_disk_full(tmp_path):
            (tmp_path / "missing" / "file").read_text()
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert is_disk_full(quota) and not is_disk_full(OSError(errno.EACCES, "denied"))
    assert not is_disk_full(ValueError("no"))
    try:  # torch.save into a file object reports ENOSPC as a RuntimeError raised while handling it
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0") from None
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)


def test_message_without_a_known_need_and_for_a_path_not_yet_created(tmp_path):
    message = str(disk_full_error(tmp_path / "not" / "there"))
    assert message.startswith(f"{tmp_path / 'not' / 'there'}: no space left on the device (")
    assert " free, more than that needed)" in message  # no estimate: the write did not fit
    low = str(disk_full_error(tmp_path, needed_bytes=10))  # an estimate below the free space
    assert "more than that needed" in low and "about" not in low
    assert format_bytes(512) == "512 B" and format_bytes(93_200_000) == "93.2 MB"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"12345")
    assert folder_bytes(tmp_path / "a") == 5 and folder_bytes(tmp_path / "none") == 0


def test_sigterm_raises_terminated_inside_the_block_only():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is previous
    assert exit_status(caught.value) == 143
    assert exit_status(KeyboardInterrupt()) == 130
    stop = with_message(caught.value, "stopped at step 3")
    assert isinstance(stop, Terminated) and str(stop) == "stopped at step 3"
