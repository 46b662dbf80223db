"""`reasonembed report` under faults: a full disk (a tmpfs the test mounts) and SIGINT/SIGTERM
while the report is written leave the previous report/ intact and nothing staged, in one line."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reasonembed.cli import main
from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from reasonembed.quality import report as report_module
from reasonembed.quality.report import write_report
from tests.support.factory_output import write_output
from tests.support.tmpfs import small_tmpfs


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def staged(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def report_command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "reasonembed.cli", "report", str(folder), "--browse-limit", "3"]


def test_full_disk_keeps_the_previous_report_and_says_one_line(tmp_path):
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        folder = write_output(disk / "out", domains={"biology": 3, "leetcode": 2})
        report_dir = OutputFolder(folder).report_dir
        first = subprocess.run(report_command(folder), capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        before = snapshot(report_dir)
        report_bytes = sum(len(data) for data in before.values())
        assert report_bytes > 100_000  # the plots and the browser: it cannot fit in 40 kB

        filler = disk / "filler.bin"
        filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - 40_000))
        full = subprocess.run(report_command(folder), capture_output=True, text=True)
        assert full.returncode == 1, full.stderr
        assert "Traceback" not in full.stderr
        (line,) = [line for line in full.stderr.splitlines() if " ERROR " in line]
        assert f"{report_dir}: no space left on the device" in line and "needed" in line
        assert snapshot(report_dir) == before and staged(folder) == []

        filler.unlink()
        again = subprocess.run(report_command(folder), capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        assert sorted(snapshot(report_dir)) == sorted(before) and staged(folder) == []


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_report_keeps_the_previous_report(
    tmp_path, monkeypatch, caplog, signum, status
):
    folder = write_output(tmp_path / "out", domains={"biology": 2})
    report_dir = OutputFolder(folder).report_dir
    before = snapshot(report_dir)
    draw = report_module.plot_funnel

    def draw_then_signal(*args, **kwargs):  # a real signal, delivered mid-write
        draw(*args, **kwargs)
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(report_module, "plot_funnel", draw_then_signal)
    with caplog.at_level(logging.ERROR):
        assert main(["report", str(folder)]) == status
    (line,) = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert line.startswith(f"report interrupted: {report_dir} is as it was")
    assert snapshot(report_dir) == before and staged(folder) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    monkeypatch.setattr(report_module, "plot_funnel", draw)
    assert main(["report", str(folder)]) == 0
    assert snapshot(report_dir) != before and staged(folder) == []


def test_an_output_folder_that_is_not_a_report_is_refused(tmp_path):
    folder = write_output(tmp_path / "out", domains={"biology": 2})
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match=r"--output .*notes: exists and is not a report folder"):
        write_report(folder, other)
    assert snapshot(other) == {"mine.txt": b"keep me"}
    with pytest.raises(UserError, match="is not a report folder"):
        write_report(folder, folder)  # the output folder itself is never replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_report(folder, empty) == empty / "report.md"
