"""The model a run trains (`reasonembed.train.model`): which weights are bfloat16 and which train,
through `load_encoder`, the function `train` uses; and a bfloat16 base's step-0 loss."""

from __future__ import annotations

import json

import pytest
import torch

from reasonembed.errors import UserError
from reasonembed.train import TrainConfig, train
from reasonembed.train.data import DomainSettings, make_batch
from reasonembed.train.model import load_encoder, resolve_base_dtype
from reasonembed.train.step import forward_backward
from tests.train.tiny_data import tiny_rows
from tests.train.tiny_decoder import write_tiny_decoder

ROWS = tiny_rows(group=4, batch=4)
SMALL_LORA = dict(lora_r=4, lora_alpha=8, max_length=64, device="cpu", progress=False)


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    return str(write_tiny_decoder(tmp_path_factory.mktemp("decoder")))


def split_parameters(encoder) -> tuple[dict, dict]:
    """(trainable, frozen): {name: dtype} of the encoder's parameters."""
    trainable, frozen = {}, {}
    for name, param in encoder.model.named_parameters():
        (trainable if param.requires_grad else frozen)[name] = param.dtype
    return trainable, frozen


def test_lora_decoder_holds_a_bfloat16_base_and_trains_float32_adapters(decoder):
    encoder = load_encoder(
        TrainConfig(model=decoder, rows=ROWS, base_dtype="bfloat16", **SMALL_LORA)
    )
    trainable, frozen = split_parameters(encoder)
    assert encoder.has_lora and encoder.dtype == torch.bfloat16
    # 2 layers x 7 linear modules x (A, B)
    assert len(trainable) == 28 and all("lora_" in name for name in trainable)
    assert set(trainable.values()) == {torch.float32}
    assert frozen and not any("lora_" in name for name in frozen)
    assert set(frozen.values()) == {torch.bfloat16}

    # auto on a CPU: the float32 base of earlier runs, adapters alike
    encoder = load_encoder(TrainConfig(model=decoder, rows=ROWS, **SMALL_LORA))
    trainable, frozen = split_parameters(encoder)
    assert len(trainable) == 28 and set(trainable.values()) == set(frozen.values()) == {
        torch.float32
    }


def test_full_fine_tuning_keeps_float32_master_weights_and_refuses_a_bfloat16_base():
    encoder = load_encoder(TrainConfig(model="minilm", rows=ROWS, max_length=64, device="cpu"))
    trainable, frozen = split_parameters(encoder)
    assert not encoder.has_lora and not frozen and len(trainable) > 50
    assert set(trainable.values()) == {torch.float32}
    with pytest.raises(UserError, match="bfloat16 needs LoRA: full fine-tuning keeps float32"):
        load_encoder(TrainConfig(model="minilm", rows=ROWS, base_dtype="bfloat16", device="cpu"))


@pytest.mark.parametrize(
    "choice, device, lora, cuda_bf16, expected",
    [
        ("auto", "cuda", True, True, torch.bfloat16),
        ("auto", "cuda", False, True, torch.float32),
        ("auto", "cuda", True, False, torch.float32),
        ("auto", "cpu", True, False, torch.float32),
        ("float32", "cuda", True, True, torch.float32),
        ("bfloat16", "cpu", True, False, torch.bfloat16),
        ("bfloat16", "cuda", True, False, UserError),
        ("bfloat16", "cuda", False, True, UserError),
    ],
)
def test_base_dtype_resolution(monkeypatch, choice, device, lora, cuda_bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: cuda_bf16)
    if expected is UserError:
        with pytest.raises(UserError, match="--base-dtype bfloat16"):
            resolve_base_dtype(choice, torch.device(device), lora)
    else:
        assert resolve_base_dtype(choice, torch.device(device), lora) == expected


def test_bfloat16_base_step0_loss_is_within_one_percent_of_float32(decoder):
    batch = make_batch(ROWS, list(range(8)), DomainSettings(4, 8), 0, 0, with_reasoning=True)
    results = {}
    for base_dtype in ("float32", "bfloat16"):
        config = TrainConfig(model=decoder, rows=ROWS, base_dtype=base_dtype, **SMALL_LORA)
        encoder = load_encoder(config)
        encoder.model.train()
        torch.manual_seed(0)
        results[base_dtype] = forward_backward(encoder, batch, 0.02, use_ri=True)
        grads = [p.grad for p in encoder.model.parameters() if p.requires_grad]
        assert all(g is not None and g.dtype == torch.float32 for g in grads)
    reference, half = float(results["float32"].loss), float(results["bfloat16"].loss)
    assert (
        reference > 4.0
    )  # far from uniform scores (log 32 = 3.47): the comparison means something
    assert half != reference and abs(half - reference) <= 0.01 * reference, (half, reference)
    assert torch.allclose(results["bfloat16"].ri, results["float32"].ri, rtol=0.05)


def test_a_bfloat16_base_run_records_it_and_saves_a_merged_model(decoder, tmp_path):
    from safetensors import safe_open

    output = train(
        TrainConfig(
            model=decoder,
            rows=ROWS,
            output=tmp_path / "model",
            base_dtype="bfloat16",
            loss="infonce",
            max_steps=1,
            batch_scale=1,
            **SMALL_LORA,
        )
    )
    recorded = json.loads((output / "redapter_config.json").read_text())
    assert recorded["base_dtype"] == "bfloat16"
    assert recorded["resolved"] == {
        "device": "cpu",
        "lora": True,
        "base_dtype": "bfloat16",
        "bf16_autocast": False,
    }
    with safe_open(str(output / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
        dtypes = {weights.get_tensor(name).dtype for name in names}
    assert names and not any("lora" in name for name in names) and dtypes == {torch.bfloat16}
