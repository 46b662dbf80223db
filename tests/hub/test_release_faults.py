"""`reasonembed publish` interrupted mid-upload (SIGINT/SIGTERM to the real command while the
loopback Hub holds the LFS uploads) and a dry run on a full disk: the previous release (main
and its tag) is untouched, nothing is left staged, one line, and the next publish works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import datasets
import pytest
from huggingface_hub import HfApi

from reasonembed.errors import UserError
from reasonembed.hub.release import publish
from tests.support.factory_output import write_output
from tests.support.tmpfs import small_tmpfs

REPO = "org/remixer-faults"


def refs() -> tuple[str, dict[str, str]]:
    found = HfApi().list_repo_refs(REPO, repo_type="dataset")
    head = next(ref.target_commit for ref in found.branches if ref.name == "main")
    return head, {ref.name: ref.target_commit for ref in found.tags}


def lfs_puts(server) -> int:
    with server.lock:
        return sum(1 for method, path in server.request_log if method == "PUT")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_upload_leaves_the_previous_release_and_the_next_publish_works(
    hub_server, tmp_path, signum, status
):
    first = write_output(tmp_path / "v1")
    publish(first, REPO, "1.0.0")
    before = refs()
    second = write_output(tmp_path / "v2", domains={"biology": 2, "economics": 3}, revision=2)

    hub_server.lfs_uploads_open.clear()  # the Hub takes the upload but never answers
    try:
        command = [sys.executable, "-m", "reasonembed.cli", "publish", str(second)]
        command += ["--repo-id", REPO, "--version", "1.1.0"]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
        )
        puts = lfs_puts(hub_server)
        deadline = time.monotonic() + 120
        while lfs_puts(hub_server) == puts and process.poll() is None:
            assert time.monotonic() < deadline, "the publish never started an upload"
            time.sleep(0.02)
        process.send_signal(signum)
        started = time.monotonic()
        stdout, stderr = process.communicate(timeout=60)
        stopped_in = time.monotonic() - started
    finally:
        hub_server.lfs_uploads_open.set()

    assert process.returncode == status, stderr
    assert stopped_in < 10  # the held upload did not keep the command waiting
    assert "Traceback" not in stderr and stdout == ""
    (line,) = [line for line in stderr.splitlines() if " ERROR " in line]
    assert "publish interrupted while uploading: nothing was released" in line
    assert f"main is still {before[0][:12]}, no tag v1.1.0" in line
    assert refs() == before

    rows = datasets.load_dataset(REPO, "raw", revision="v1.0.0", split="train")
    assert sorted(rows["domain"]) == ["biology"] * 3 + ["leetcode"] * 2
    release = publish(second, REPO, "1.1.0")
    head, tags = refs()
    assert head == release.commit_oid
    assert tags == {"v1.0.0": before[1]["v1.0.0"], "v1.1.0": release.commit_oid}


def test_a_dry_run_on_a_full_disk_writes_nothing_and_says_one_line(tmp_path):
    folder = write_output(tmp_path / "out")
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        target = disk / "tree"
        with pytest.raises(UserError, match=rf"{target}: no space left on the device") as caught:
            publish(folder, REPO, "1.0.0", dry_run=True, dry_run_dir=target)
        assert "\n" not in str(caught.value) and "needed" in str(caught.value)
        assert sorted(path.name for path in disk.iterdir()) == []
