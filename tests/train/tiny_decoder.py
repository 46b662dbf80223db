"""A tiny random decoder written by the tests: a 2-layer Qwen3 (hidden 64) with MiniLM's tokenizer."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, Qwen3Config

from reasonembed.retrieval.models import resolve_model_path

TINY_QWEN3 = dict(
    vocab_size=30522,  # MiniLM's tokenizer
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=512,
)


def write_tiny_decoder(folder: Path, seed: int = 0) -> Path:
    """Save a seeded random tiny Qwen3 decoder (float32) and a tokenizer to `folder`."""
    torch.manual_seed(seed)
    AutoModel.from_config(Qwen3Config(**TINY_QWEN3)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model_path("minilm")).save_pretrained(folder)
    return folder
