"""The `reasonembed train` command: arguments map onto TrainConfig; bad data exits 1 early."""

from __future__ import annotations

import json
import subprocess
import sys

from reasonembed.cli import build_parser
from reasonembed.train.command import config_from_args


def test_arguments_map_onto_the_train_config(tmp_path):
    args = build_parser(only="train").parse_args(
        "train --data owner/name@v1 --output OUT --loss infonce --max-steps 7 "
        "--lora on --lora-target-modules q_proj v_proj --ri-start-step 3 --no-resume".split()
    )
    config = config_from_args(args)
    assert (config.data, config.output, config.loss, config.max_steps) == (
        "owner/name@v1",
        "OUT",
        "infonce",
        7,
    )
    assert config.lora == "on" and config.lora_target_modules == ["q_proj", "v_proj"]
    assert config.ri_start_step == 3 and config.resume is False
    assert config.temperature == 0.02 and config.lora_r == 32 and config.lora_alpha == 64
    defaults = config_from_args(
        build_parser(only="train").parse_args("train --data d --output o".split())
    )
    assert defaults.lora_target_modules == "all-linear" and defaults.loss == "ri-infonce"


def test_row_without_reasoning_query_exits_1_naming_the_row(tmp_path):
    data = tmp_path / "biology-formatted.jsonl"
    data.write_text(json.dumps({"prompt": "p", "query": "q", "pos": ["d"], "neg": ["n"]}) + "\n")
    command = [sys.executable, "-m", "reasonembed.cli", "train", "--data", str(data)]
    command += ["--output", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"{data}, row 1: field 'reasoning_query'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # failed before training started
