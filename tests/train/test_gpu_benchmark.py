"""`benchmarks/gpu.py`: one line and exit 0 without CUDA; its trainer section at toy shapes on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: it would run")
def test_without_cuda_it_prints_one_line_and_exits_0():
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "no CUDA device: skipped\n")


def test_trainer_section_at_toy_shapes_compares_a_bfloat16_and_a_float32_base(tmp_path):
    output = tmp_path / "gpu.json"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--sections", "trainer"]
    done = subprocess.run(
        [*command, "--output", str(output)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    trainer = json.loads(output.read_text())["sections"]["trainer"]
    assert "error" not in trainer, trainer.get("traceback")
    assert trainer["bf16_base"]["base_dtype"] == "bfloat16"
    assert trainer["float32_base"]["base_dtype"] == "float32"
    assert trainer["bf16_base"]["trainable"] == trainer["float32_base"]["trainable"] > 0
    assert 0 < trainer["step0_loss_rel_diff"] < 0.01
    assert trainer["bf16_base"]["global_batch_queries"] == 8
    assert "step-0 loss rel. diff bf16 vs float32" in done.stdout
