"""The `reasonembed train` command: arguments map onto TrainConfig; bad data exits 1 early."""

from __future__ import annotations

import json
import subprocess
import sys

from reasonembed.cli import build_parser
from reasonembed.commands.train import config_from_args


def test_arguments_map_onto_the_train_config(tmp_path):
    args = build_parser(only="train").parse_args(
        "train --data owner/name@v1 --output OUT --loss infonce --max-steps 7 "
        "--lora on --lora-target-modules q_proj v_proj --ri-start-step 3 --no-resume "
        "--batch-scale 0.5 --chunk-size 4 --eval-max-length 1024 --base-dtype bfloat16".split()
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
    assert (config.batch_scale, config.chunk_size, config.eval_max_length) == (0.5, 4, 1024)
    assert config.base_dtype == "bfloat16"
    defaults = config_from_args(
        build_parser(only="train").parse_args("train --data d --output o".split())
    )
    assert defaults.lora_target_modules == "all-linear" and defaults.loss == "ri-infonce"
    # the paper's recipe: 8-GPU global batch, LoRA 32/64/0.1, warmup 0.1, 1 epoch, RI after 100
    assert defaults.batch_scale == 8 and defaults.chunk_size is None
    assert (defaults.lora_r, defaults.lora_alpha, defaults.lora_dropout) == (32, 64, 0.1)
    assert (defaults.warmup_ratio, defaults.epochs, defaults.ri_start_step) == (0.1, 1, 100)
    assert defaults.query_template == "Instruct: {instruction}\nQuery: {query}"
    assert defaults.base_dtype == "auto"


def test_help_documents_the_global_batch_and_the_paper_recipe():
    done = subprocess.run(
        [sys.executable, "-m", "reasonembed.cli", "train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--model hanhainebula/qwen3-8b-ft-msmarco" in text
    assert "LoRA r=32, alpha=64, dropout 0.1 on all linear layers" in text
    assert "1,024 passages" in text and "--batch-scale" in text and "--chunk-size" in text
    assert "reasonembed.json" in text
    assert "--base-dtype {auto,float32,bfloat16}" in text
    assert "auto: bfloat16 for a LoRA run on a CUDA device that supports it, float32" in text
    assert "full fine-tuning keeps float32 master weights" in text


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
