"""Checkpoint writes under faults, through the real `reasonembed train` command on MiniLM: a full
disk (a tmpfs the test mounts) and SIGINT/SIGTERM mid-run end with one line, leave the previous
checkpoint intact and nothing staged, and the next run resumes and completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from reasonembed.train.checkpoints import (
    CHECKPOINTS,
    LOG_FILE,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from tests.support.tmpfs import resize_tmpfs, small_tmpfs
from tests.train.tiny_data import write_tiny_dataset

# full fine-tuning of MiniLM: ~91 MB of weights + ~182 MB of AdamW moments per checkpoint
CHECKPOINT_MB = 280
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
}


def train_command(data: Path, output: Path, max_steps: int, save_steps: int) -> list[str]:
    return [
        *(sys.executable, "-m", "reasonembed.cli", "train", "--model", "minilm"),
        *("--data", str(data), "--output", str(output), "--loss", "infonce"),
        *("--max-steps", str(max_steps), "--save-steps", str(save_steps)),
        *("--save-total-limit", "1", "--batch-scale", "1", "--max-length", "32"),
        *("--device", "cpu", "--warmup-ratio", "0"),
    ]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=600)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if " ERROR " in line]


def logged_steps(output: Path) -> list[int]:
    lines = (output / LOG_FILE).read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def staged(output: Path) -> list[str]:
    return sorted(path.name for path in (output / CHECKPOINTS).glob(".*"))


def checkpoints(output: Path) -> list[str]:
    return sorted(path.name for path in (output / CHECKPOINTS).glob("step-*"))


def test_full_disk_during_a_checkpoint_keeps_the_previous_one_and_resume_completes(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    with small_tmpfs(tmp_path / "disk", f"{int(CHECKPOINT_MB * 1.5)}m") as disk:
        output = disk / "model"
        command = train_command(data, output, max_steps=4, save_steps=2)
        full = run(command)
        assert full.returncode == 1, full.stderr
        (line,) = error_lines(full.stderr)
        assert f"{output / CHECKPOINTS / 'step-00000004'}: no space left on the device" in line
        assert " MB free, about 27" in line and "MB needed" in line, line
        assert checkpoints(output) == ["step-00000002"] and staged(output) == []
        assert logged_steps(output) == [1, 2, 3, 4]

        resize_tmpfs(disk, f"{CHECKPOINT_MB * 3}m")
        resumed = run(command)
        assert resumed.returncode == 0, resumed.stderr
        assert "2 of 4 steps done" in resumed.stderr
        assert checkpoints(output) == ["step-00000004"] and staged(output) == []
        assert logged_steps(output) == [1, 2, 3, 4]
        assert (output / "model.safetensors").exists()


def interrupt_after(command: list[str], output: Path, step: int, signum: int):
    """Start `command`, send `signum` once the step log reaches `step`; (returncode, stderr)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    log = output / LOG_FILE
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= step:
            process.send_signal(signum)
            break
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def test_sigint_and_sigterm_mid_run_say_where_it_resumes_and_the_next_run_completes(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    output = tmp_path / "model"
    command = train_command(data, output, max_steps=12, save_steps=2)

    status, stderr = interrupt_after(command, output, 3, signal.SIGINT)
    assert status == 130, stderr
    (line,) = error_lines(stderr)
    saved = int(checkpoints(output)[-1].removeprefix("step-"))
    reached = logged_steps(output)[-1]
    assert f"training was interrupted at step {reached};" in line
    assert f"resumes from checkpoint step {saved}" in line and saved >= 2
    assert staged(output) == []

    status, stderr = interrupt_after(command, output, reached + 2, signal.SIGTERM)
    assert status == 143, stderr
    (line,) = error_lines(stderr)
    assert "training was interrupted at step" in line and staged(output) == []
    assert f"{saved} of 12 steps done" in stderr  # the second run resumed

    finished = run(command)
    assert finished.returncode == 0, finished.stderr
    assert logged_steps(output) == list(range(1, 13))
    assert checkpoints(output) == ["step-00000012"] and staged(output) == []


def test_saving_a_step_again_replaces_it_whole_and_loads(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    save_checkpoint(tmp_path, 5, model, optimizer, scheduler, limit=2)
    with torch.no_grad():
        model.weight.fill_(0.25)
    path = save_checkpoint(tmp_path, 5, model, optimizer, scheduler, limit=2)
    assert latest_checkpoint(tmp_path) == path and checkpoints(tmp_path) == ["step-00000005"]
    assert staged(tmp_path) == []
    with torch.no_grad():
        model.weight.zero_()
    assert load_checkpoint(path, model, optimizer, scheduler) == 5
    assert torch.all(model.weight == 0.25)


def test_leftovers_of_a_killed_save_are_cleared_and_a_moved_aside_copy_restored(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    saved = save_checkpoint(tmp_path, 5, model, optimizer, scheduler, limit=3)
    folder = tmp_path / CHECKPOINTS
    # killed between moving step 5 aside (to re-save it) and renaming its replacement in
    saved.rename(folder / ".partial-replaced-step-00000005")
    (folder / ".partial-step-00000005").mkdir()
    (folder / ".partial-step-00000005" / "trainable.pt").write_bytes(b"half")
    save_checkpoint(tmp_path, 6, model, optimizer, scheduler, limit=3)
    assert checkpoints(tmp_path) == ["step-00000005", "step-00000006"]
    assert staged(tmp_path) == []
    assert load_checkpoint(folder / "step-00000005", model, optimizer, scheduler) == 5
