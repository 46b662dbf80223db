"""`torchrun --nproc_per_node 2` on CPU: cross-device negatives, one process with accumulation
against two without (same global batch), and a two-process training run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.tiny_data import write_tiny_dataset

WORKER = Path(__file__).with_name("dist_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes_gather_the_other_ranks_passages(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",  # local rendezvous on a free port
        str(WORKER),
        str(tmp_path),
        str(data),
    ]
    # a new session, so a timeout can end torchrun's workers with it
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"torchrun timed out: {stderr[-4000:]}")
    assert process.returncode == 0, stderr[-4000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for report in reports:
        assert report["world_size"] == 2
        # 2 ranks x 2 queries against 2 ranks x 2 queries x group 3 passages
        assert report["logits_shape"] == [4, 12]
        assert report["logits_max_diff"] < 1e-5
        assert report["other_rank_block_max_diff"] < 1e-5
        assert report["q_grad_max_diff"] < 1e-5 and report["p_grad_max_diff"] < 1e-5
        assert report["gathered_passages_shape"] == [12, 384]
        assert report["gathered_other_rank_max_diff"] < 1e-5
        assert report["loss_cross_device"] == pytest.approx(report["loss_single_process"], rel=1e-4)
    assert reports[0]["loss_cross_device"] == pytest.approx(reports[1]["loss_cross_device"])
    # one process accumulating the global batch = two processes without accumulation
    for report in reports:
        assert report["global_batch"] == [4, 12]
        assert report["chunks"] == {"two_processes": 2, "one_process": 4}
        two = report["loss_two_processes"]
        assert report["loss_one_process_accumulated"] == pytest.approx(two, rel=1e-5)
        assert report["loss_two_processes_accumulated"] == pytest.approx(two, rel=1e-5)
        assert report["grad_parameters"] > 50
        assert report["grad_diff_one_process_accumulated"] < 1e-4
        assert report["grad_diff_two_processes_accumulated"] < 1e-4
    model = Path(reports[0]["output"])
    log = [json.loads(line) for line in (model / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and "ri_mean" in log[1]
    assert {(r["queries"], r["chunks"]) for r in log} == {(4, 2)}
    assert (model / "modules.json").exists()
