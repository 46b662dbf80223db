"""The Redapter loss: InfoNCE per sample, reasoning intensity, RI-weighted mean.

Contracts (as the ReasonEmbed paper publishes them):
- `infonce_per_sample(q, p, positive_index, temperature)`: `q` [n, d] query embeddings, `p`
  [m, d] passage embeddings (both L2-normalised, so q·p is the cosine similarity),
  `positive_index` [n] long, the row of `p` holding query i's positive; every other passage is
  a negative for query i (its own hard negatives, in-batch and cross-device ones). Returns [n]:
  -log softmax(q_i·p / temperature)[positive_index[i]].
- `reasoning_intensity(loss_q, loss_q_prime, clamp_max)`: RI = clamp(L(q) / (L(q') + 1e-6), 0,
  clamp_max), detached.
- `ri_weights(ri)`: RI normalised to sum to 1 (detached constants).
- `ri_weighted_loss(loss_q, weights)`: sum(w * L(q)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RI_EPSILON = 1e-6
DEFAULT_TEMPERATURE = 0.02
DEFAULT_RI_CLAMP_MAX = 5.0


def similarity_logits(q: torch.Tensor, p: torch.Tensor, temperature: float) -> torch.Tensor:
    """[n, m] scores q·pᵀ / temperature."""
    return q @ p.transpose(0, 1) / temperature


def infonce_per_sample(
    q: torch.Tensor,
    p: torch.Tensor,
    positive_index: torch.Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """One InfoNCE loss per query, shape [n] (see module doc)."""
    if q.dim() != 2 or p.dim() != 2 or q.size(1) != p.size(1):
        raise ValueError(
            f"expected q [n, d] and p [m, d], got {tuple(q.shape)} and {tuple(p.shape)}"
        )
    logits = similarity_logits(q.float(), p.float(), temperature)
    return F.cross_entropy(logits, positive_index.to(logits.device), reduction="none")


def reasoning_intensity(
    loss_q: torch.Tensor, loss_q_prime: torch.Tensor, clamp_max: float = DEFAULT_RI_CLAMP_MAX
) -> torch.Tensor:
    """RI per query: clamp(L(q) / (L(q') + 1e-6), 0, clamp_max), without gradients."""
    ratio = loss_q.detach() / (loss_q_prime.detach() + RI_EPSILON)
    return ratio.clamp(min=0.0, max=clamp_max)


def ri_weights(ri: torch.Tensor) -> torch.Tensor:
    """RI normalised to sum to 1 over the (global) batch, detached.

    All-zero RI (every L(q) is 0) has no direction to weight by: uniform weights are returned,
    which equals the plain mean.
    """
    ri = ri.detach()
    total = ri.sum()
    if total <= 0:
        return torch.full_like(ri, 1.0 / ri.numel())
    return ri / total


def ri_weighted_loss(loss_q: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w·L(q): the RI-weighted InfoNCE (weights are constants)."""
    return (loss_q * weights.detach()).sum()
