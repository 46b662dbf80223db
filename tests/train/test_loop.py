"""Short real CPU runs of Redapter on all-MiniLM-L6-v2 (the bundled package model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reasonembed.data.data_source import load_training_rows
from reasonembed.errors import UserError
from reasonembed.retrieval import Encoder
from reasonembed.train import TrainConfig, train
from reasonembed.train.data import check_rows, make_batch, plan_batches
from reasonembed.train.loop import LOG_FILE
from reasonembed.train.step import compute_loss
from tests.train.tiny_data import write_tiny_dataset

# batch_scale 1: one global batch is each row's batch_size (4 queries x group 4) on the tiny data
FAST = dict(max_length=64, batch_scale=1, progress=False, device="cpu")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def dataset_infonce(model: str, data_dir) -> float:
    """Mean InfoNCE (eval mode, no dropout) of the whole tiny dataset with fixed groups."""
    rows = load_training_rows(str(data_dir))
    settings = check_rows(rows, "infonce")
    encoder = Encoder(model, max_length=64, device="cpu")
    encoder.model.eval()
    losses = []
    with torch.no_grad():
        for step, indices in enumerate(plan_batches(rows, settings, 1, 1, seed=0, epoch=0)):
            batch = make_batch(rows, indices, settings["science"], 0, step, with_reasoning=False)
            losses.append(compute_loss(encoder, batch, 0.02, use_ri=False).infonce_mean)
    return float(np.mean(losses))


def read_log(output) -> list[dict]:
    return [json.loads(line) for line in (output / LOG_FILE).read_text().splitlines()]


def test_short_minilm_run_lowers_the_loss_and_loads_in_sentence_transformers(data_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    output = train(
        TrainConfig(
            model="minilm",
            data=str(data_dir),
            output=tmp_path / "model",
            loss="ri-infonce",
            ri_start_step=2,
            max_steps=8,
            learning_rate=5e-5,
            warmup_ratio=0.0,
            **FAST,
        )
    )
    before = dataset_infonce("minilm", data_dir)
    after = dataset_infonce(str(output), data_dir)
    assert after < 0.8 * before, (before, after)

    log = read_log(output)
    assert [r["step"] for r in log] == list(range(1, 9))
    assert {(r["queries"], r["passages"], r["chunks"]) for r in log} == {(4, 16, 1)}
    assert "ri_mean" not in log[1] and {"ri_min", "ri_max", "ri_mean", "ri_median"} <= set(log[2])
    assert 0 <= log[2]["ri_min"] <= log[2]["ri_median"] <= log[2]["ri_max"] <= 5

    texts = ["How do tides work?", "Magma rises through the crust."]
    st_vectors = SentenceTransformer(str(output), device="cpu").encode(texts)
    ours = Encoder(str(output), device="cpu")
    assert ours.pooling == "mean" and ours.normalize and ours.max_length == 64
    # how eval and validate evaluate it: the training instructions, MiniLM's 512-position limit
    recorded = json.loads((output / "reasonembed.json").read_text())
    assert recorded["query_template"] == "Instruct: {instruction}\nQuery: {query}"
    assert recorded["train_max_length"] == 64 and recorded["base_model"] == "minilm"
    assert recorded["evaluation"] == {"instructions": "flagembedding", "max_length": 512}
    assert np.allclose(st_vectors, ours.encode(texts), atol=1e-5)
    assert np.allclose(np.linalg.norm(st_vectors, axis=1), 1.0, atol=1e-5)


def test_resume_continues_the_step_count_and_matches_an_uninterrupted_run(data_dir, tmp_path):
    # chunk_size 2: each step accumulates two chunks (cached representations, dropout replayed)
    common = dict(
        model="minilm", data=str(data_dir), loss="ri-infonce", ri_start_step=1, chunk_size=2, **FAST
    )
    straight = tmp_path / "straight"
    train(TrainConfig(output=straight, max_steps=4, save_steps=0, **common))

    resumed = tmp_path / "resumed"
    train(TrainConfig(output=resumed, max_steps=4, save_steps=2, **common))
    # simulate an interruption after step 2: keep only the step-2 checkpoint and its log lines
    checkpoints = resumed / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000002", "step-00000004"]
    import shutil

    shutil.rmtree(checkpoints / "step-00000004")  # the log still holds steps 3 and 4

    train(TrainConfig(output=resumed, max_steps=4, save_steps=2, **common))
    log = read_log(resumed)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    expected = read_log(straight)
    assert {r["chunks"] for r in expected} == {2}
    assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in expected], rel=1e-4)
    assert [r["lr"] for r in log] == pytest.approx([r["lr"] for r in expected])


def test_rows_api_and_bad_rows_fail_before_training(tmp_path):
    rows = load_training_rows(str(write_tiny_dataset(tmp_path / "data")))
    rows[3]["reasoning_query"] = None
    with pytest.raises(UserError, match=r"row 4: field 'reasoning_query'"):
        train(TrainConfig(rows=rows, output=tmp_path / "never", max_steps=1, **FAST))
    assert not (tmp_path / "never").exists()


def test_lora_run_merges_adapters_into_a_plain_sentence_transformers_folder(data_dir, tmp_path):
    from safetensors import safe_open
    from sentence_transformers import SentenceTransformer

    output = train(
        TrainConfig(
            model="minilm",
            data=str(data_dir),
            output=tmp_path / "lora",
            loss="infonce",
            lora="on",
            lora_r=4,
            lora_alpha=8,
            gradient_checkpointing=True,
            max_steps=2,
            warmup_ratio=0.0,
            learning_rate=1e-3,
            **FAST,
        )
    )
    config = json.loads((output / "redapter_config.json").read_text())
    assert config["lora"] == "on" and config["lora_r"] == 4
    # auto on a CPU: the base stays float32 (tests/train/test_model.py: the bfloat16 base)
    assert config["base_dtype"] == "auto" and config["resolved"]["base_dtype"] == "float32"
    checkpoint = torch.load(output / "checkpoints" / "step-00000002" / "trainable.pt")
    assert checkpoint and all("lora_" in name for name in checkpoint)  # only adapters trained
    with safe_open(str(output / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert names and not any("lora" in name for name in names)  # merged, no peft needed
    texts = ["Why do glaciers carve valleys?"]
    trained = SentenceTransformer(str(output), device="cpu").encode(texts)
    base = Encoder("minilm", max_length=64, device="cpu").encode(texts)
    assert not np.allclose(trained, base, atol=1e-4)  # the merged adapters changed the model
