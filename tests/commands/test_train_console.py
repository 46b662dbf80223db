"""`reasonembed train` with its output to a file (not a terminal): no bar (the step loop's, the
model save's "Writing model shards"), and step progress as log lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.train.tiny_data import write_tiny_dataset


def test_train_into_a_log_file_logs_steps_and_draws_no_bar(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    command = [sys.executable, "-m", "reasonembed.cli", "train", "--data", str(data)]
    command += ["--output", str(tmp_path / "model"), "--model", "minilm", "--loss", "infonce"]
    command += ["--batch-scale", "1", "--max-steps", "3", "--no-resume"]
    env = {**os.environ, "REASONEMBED_PROGRESS_EVERY_S": "0.01"}
    env.pop("TQDM_DISABLE", None)  # the command decides (stderr is a file)
    log = tmp_path / "train.log"
    with log.open("w") as stderr:
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, timeout=600
        )
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert (tmp_path / "model" / "reasonembed.json").exists()
    assert "\r" not in text and "it/s]" not in text, text
    steps = re.findall(
        r"INFO reasonembed\.progress: redapter infonce steps (\d)/3 \(\d+%\), [0-9.,]+/s"
        r"(?:, ETA \d+ (?:s|min|h))?, loss [0-9.]+, domain \w+$",
        text,
        flags=re.MULTILINE,
    )
    assert steps == ["1", "2", "3"], text
