"""The model a Redapter run trains: LoRA or full fine-tuning, the base weights' dtype, autocast.

Policy (`TrainConfig.lora`, `.base_dtype`, `.bf16`):
- LoRA ("auto": for decoder backbones) trains only the adapters; peft keeps them in float32.
  The frozen base is held in `base_dtype`: "auto" is bfloat16 for a LoRA run on a CUDA device
  that supports it (15.3 GB instead of 30.6 GB for Qwen3-8B, and a bfloat16 residual stream
  and checkpoints), float32 otherwise. "bfloat16" is also taken on a CPU (it computes bf16
  matmuls); never on a CUDA device without bf16.
- Full fine-tuning keeps float32 master weights: AdamW updates smaller than bfloat16's
  resolution (2^-8 of a weight) would be rounded away, so "bfloat16" is refused.
- Autocast to bfloat16 (`bf16`, "auto": on CUDA devices that support it) runs the matmuls in
  bf16. With a bfloat16 base it only casts the LoRA adapters (autocast caches those casts for
  the step: 2 bytes per adapter weight); without it peft would run the adapters in float32 on
  float32 copies of their inputs.
"""

from __future__ import annotations

import logging

import torch

from reasonembed.errors import UserError
from reasonembed.retrieval.encoder import Encoder, is_decoder_model
from reasonembed.train.config import TrainConfig

logger = logging.getLogger(__name__)


def run_device(config: TrainConfig) -> torch.device:
    """The device a run uses: `config.device`, else cuda when available, else cpu."""
    return torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def uses_lora(config: TrainConfig) -> bool:
    """LoRA on, or auto with a decoder backbone (read from the model's config, no weights)."""
    if config.lora != "auto":
        return config.lora == "on"
    return is_decoder_model(config.model)


def cuda_bf16(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def resolve_base_dtype(choice: str, device: torch.device, lora: bool) -> torch.dtype:
    """The dtype the base weights are loaded in, for `choice` in config.BASE_DTYPES (module doc);
    a refused choice is a UserError."""
    if choice == "float32":
        return torch.float32
    if choice == "bfloat16":
        if not lora:
            raise UserError(
                "--base-dtype bfloat16 needs LoRA: full fine-tuning keeps float32 master weights "
                "(use --lora on, or --base-dtype float32)"
            )
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError(
                f"--base-dtype bfloat16: {device} does not support bfloat16; use float32"
            )
        return torch.bfloat16
    return torch.bfloat16 if lora and cuda_bf16(device) else torch.float32


def use_bf16(config: TrainConfig, device: torch.device) -> bool:
    """Whether the step runs under bf16 autocast (`config.bf16`)."""
    if config.bf16 == "off":
        return False
    supported = cuda_bf16(device)
    if config.bf16 == "on" and not supported:
        raise UserError("bf16 was asked for but this device does not support it; use --bf16 off")
    return supported


def load_encoder(
    config: TrainConfig, device: torch.device | None = None, random_weights: bool = False
) -> Encoder:
    """The encoder `train` trains: base in its resolved dtype, gradient checkpointing and LoRA
    as configured. `random_weights`: the model folder's config with random weights (benchmarks)."""
    device = device or run_device(config)
    lora = uses_lora(config)
    dtype = resolve_base_dtype(config.base_dtype, device, lora)
    encoder = Encoder(
        config.model,
        pooling=config.pooling,
        max_length=config.max_length,
        device=str(device),
        dtype=dtype,
        query_template=config.query_template,
        random_weights=random_weights,
    )
    encoder.normalize = True  # trained on cosine similarity; the saved model normalises too
    if config.gradient_checkpointing:
        encoder.model.gradient_checkpointing_enable()
        if lora:
            encoder.model.enable_input_require_grads()
    if lora:
        encoder.enable_lora(
            r=config.lora_r,
            alpha=config.lora_alpha,
            dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
        )
    logger.info(
        "model %s: pooling %s, max length %d, %s, base weights in %s, %d trainable parameters",
        config.model,
        encoder.pooling,
        encoder.max_length,
        "LoRA" if lora else "full fine-tuning",
        dtype_name(encoder.dtype),
        sum(p.numel() for p in encoder.model.parameters() if p.requires_grad),
    )
    return encoder


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
