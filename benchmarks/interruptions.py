"""How fast `train` and `publish` stop on Ctrl-C/SIGTERM, and what a checkpoint costs.

    .venv/bin/python benchmarks/interruptions.py

- train: `reasonembed train` on all-MiniLM-L6-v2 (full fine-tuning, tiny dataset, a checkpoint
  every step); the signal is sent once step 3 is logged. Also: one checkpoint's size on disk.
- publish: `reasonembed publish` of a small output folder to the loopback Hub while the Hub holds
  every LFS upload (never answers); the signal is sent once the first upload starts.
Each row: seconds from the signal to the process's exit, and its exit status.

Measured here (2 shared cores): train 1.8 s (SIGINT 130, SIGTERM 143), one checkpoint 271.5 MB;
publish 0.21 s / 0.23 s. Before (commit 90ea23f, huggingface_hub's upload pool): the SIGINTed
publish was still running 20 s later with 5 uploads held, and exited (saying only
"interrupted") 20.3 s after the signal, once the Hub answered them; SIGTERM killed it with no
line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.factory_output import write_output  # noqa: E402
from tests.support.hub_server import HubServer  # noqa: E402
from tests.train.tiny_data import write_tiny_dataset  # noqa: E402

CLI = [sys.executable, "-m", "reasonembed.cli"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def stop_after(command: list[str], ready, signum: int, env: dict) -> tuple[float, int]:
    """Run `command`, send `signum` once `ready()`; (seconds from signal to exit, status)."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    while not ready():
        if process.poll() is not None:
            raise SystemExit(f"{command[3]} finished before the signal; nothing measured")
        time.sleep(0.02)
    process.send_signal(signum)
    sent = time.monotonic()
    status = process.wait(timeout=600)
    return time.monotonic() - sent, status


def train_rows(work: Path) -> list[tuple[str, str, float, int]]:
    data = write_tiny_dataset(work / "data")
    rows = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        output = work / f"model-{signum.name}"
        command = [*CLI, "train", "--model", "minilm", "--data", str(data)]
        command += ["--output", str(output), "--loss", "infonce", "--max-steps", "40"]
        command += ["--save-steps", "1", "--batch-scale", "1", "--max-length", "32"]
        log = output / "train_log.jsonl"

        def ready(log=log) -> bool:
            return log.exists() and len(log.read_text().splitlines()) >= 3

        seconds, status = stop_after(command, ready, signum, {**os.environ, **OFFLINE})
        rows.append(("train (MiniLM, mid-step)", signum.name, seconds, status))
    checkpoint = next((work / "model-SIGINT" / "checkpoints").glob("step-*"))
    size = sum(file.stat().st_size for file in checkpoint.iterdir())
    print(f"one MiniLM checkpoint (weights + AdamW + scheduler): {size / 1e6:.1f} MB")
    return rows


def publish_rows(work: Path) -> list[tuple[str, str, float, int]]:
    folder = write_output(work / "out", domains={"biology": 3, "leetcode": 2})
    rows = []
    with HubServer(token="hf_benchmark", storage=work / "hub") as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_DISABLE_XET": "1"}
        env.update(HF_TOKEN=server.token, HF_HUB_OFFLINE="0", HF_HOME=str(work / "hf"))
        server.lfs_uploads_open.clear()
        for version, signum in (("1.0.0", signal.SIGINT), ("1.0.1", signal.SIGTERM)):
            before = sum(1 for method, _ in server.request_log if method == "PUT")

            def ready(before=before) -> bool:
                return sum(1 for method, _ in server.request_log if method == "PUT") > before

            command = [*CLI, "publish", str(folder), "--repo-id", "org/bench"]
            command += ["--version", version]
            seconds, status = stop_after(command, ready, signum, env)
            rows.append(("publish (LFS upload held)", signum.name, seconds, status))
    return rows  # the held uploads stay held: their threads end with this process


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-interruptions-") as tmp:
        rows = train_rows(Path(tmp)) + publish_rows(Path(tmp))
    print(f"\n{'command':<28} | {'signal':<7} | {'stop s':>6} | {'exit':>4}")
    print("-" * 55)
    for command, name, seconds, status in rows:
        print(f"{command:<28} | {name:<7} | {seconds:>6.2f} | {status:>4}")


if __name__ == "__main__":
    main()
