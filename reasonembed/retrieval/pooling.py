"""Pooling of token states into one vector per text.

Contract: `hidden` is [batch, seq, dim], `attention_mask` is [batch, seq] of 0/1; the result is
[batch, dim]. Works with left and right padding.
"""

from __future__ import annotations

from typing import Literal

import torch

PoolingMode = Literal["mean", "cls", "last_token"]
POOLING_MODES: tuple[str, ...] = ("mean", "cls", "last_token")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool `hidden` by `mode` ("mean", "cls" or "last_token")."""
    if mode == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "last_token":
        left_padded = bool((attention_mask[:, -1] == 1).all())
        if left_padded:
            return hidden[:, -1]
        last = attention_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    raise ValueError(f"unknown pooling mode {mode!r}; expected one of {POOLING_MODES}")
