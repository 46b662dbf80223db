"""One Redapter step: loss of a global batch and its gradient, with or without accumulation.

The loss (Redapter, as the ReasonEmbed paper publishes it) is a function of the global batch's embeddings only:
`batch_loss(q, p, q_prime, ...)` takes the L2-normalised query, passage and (for RI) reasoning-
query embeddings of the WHOLE global batch: mean InfoNCE, or RI-weighted InfoNCE with
RI = clamp(L(q)/(L(q')+1e-6), 0, clamp) from q' against the same detached passages and weights
normalised over the global batch. Each process holds one share of the global batch; with
cross-device negatives the shares are gathered, every rank computes the same global loss, and
summing parameter gradients over ranks (`apply_gradients`) gives the gradient of that loss.

`forward_backward(encoder, batch, ..., chunk_queries)` computes the loss of this process's share
and leaves its gradient in the parameters' `.grad`:
- the share fits in one chunk (`chunk_queries` None or >= its queries): one forward with
  gradients (`compute_loss`), then backward;
- otherwise gradient accumulation with cached representations (GradCache, Gao et al. 2021):
  1. embed the share chunk by chunk without gradients (queries, their passage groups, and the
     reasoning queries for RI), recording the RNG state before each chunk;
  2. gather the cached embeddings, compute the global loss and its gradient with respect to the
     embeddings (not the model);
  3. re-embed each chunk with gradients under its recorded RNG state (the same dropout masks) and
     backpropagate the cached embedding gradients through it: Σ <embedding, its gradient>.
  Memory is one chunk's activations; the result equals the unchunked step (the loss, RI and its
  weights see the whole global batch). Cost: one extra forward of queries and passages.
Within a forward with gradients, texts are embedded in calls of at most `EMBED_TOKENS` padded
tokens joined in one graph (`_embed`): no extra compute, and under gradient checkpointing the
backward then holds one call's layer at a time instead of the whole share's.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reasonembed.retrieval.encoder import Encoder
from reasonembed.train.data import Batch
from reasonembed.train.distributed import (
    all_reduce_gradients,
    gather_with_grad,
    process_group_rank,
)
from reasonembed.train.losses import (
    DEFAULT_RI_CLAMP_MAX,
    infonce_per_sample,
    reasoning_intensity,
    ri_weighted_loss,
    ri_weights,
)

# padded tokens per forward call with gradients (`_embed`): the paper's per-GPU share of 128
# passages x 420 tokens runs as 4 calls of 32 passages
EMBED_TOKENS = 16_384


@dataclass
class StepResult:
    loss: torch.Tensor  # the global batch's loss (compute_loss: with its graph; else detached)
    infonce_mean: float  # plain mean InfoNCE of the global batch (comparable across losses)
    ri: torch.Tensor | None  # RI per global query, when RI weighting was used
    chunks: int = 1  # forward chunks per process (1: no accumulation)


def batch_loss(
    q: torch.Tensor,
    p: torch.Tensor,
    q_prime: torch.Tensor | None,
    group_size: int,
    temperature: float,
    use_ri: bool,
    ri_clamp_max: float = DEFAULT_RI_CLAMP_MAX,
) -> StepResult:
    """The loss of a global batch from its embeddings (query i's positive is p[i * group_size])."""
    positive_index = torch.arange(q.size(0), device=q.device) * group_size
    loss_q = infonce_per_sample(q, p, positive_index, temperature)
    if not use_ri:
        mean = loss_q.mean()
        return StepResult(loss=mean, infonce_mean=float(mean.detach()), ri=None)
    if q_prime is None:
        raise ValueError("RI weighting needs the reasoning queries' embeddings")
    with torch.no_grad():
        loss_q_prime = infonce_per_sample(q_prime, p.detach(), positive_index, temperature)
    ri = reasoning_intensity(loss_q, loss_q_prime, ri_clamp_max)
    loss = ri_weighted_loss(loss_q, ri_weights(ri))
    return StepResult(loss=loss, infonce_mean=float(loss_q.detach().mean()), ri=ri)


def _embed(encoder: Encoder, texts: list[str], embed_tokens: int = EMBED_TOKENS) -> torch.Tensor:
    """L2-normalised embeddings of `texts` from forward calls of at most `embed_tokens` padded
    tokens (texts x max_length), joined in one graph. Same result and FLOPs as one call; under
    gradient checkpointing the backward recomputes one layer of one call at a time, so that
    memory (Qwen3-8B: ~270 KiB per token) follows the call, not the whole share."""
    calls = max(1, math.ceil(len(texts) * encoder.max_length / embed_tokens))
    size = math.ceil(len(texts) / calls)
    parts = [encoder.embed(texts[start : start + size]) for start in range(0, len(texts), size)]
    return F.normalize(parts[0] if len(parts) == 1 else torch.cat(parts), dim=-1)


def compute_loss(
    encoder: Encoder,
    batch: Batch,
    temperature: float,
    use_ri: bool,
    ri_clamp_max: float = DEFAULT_RI_CLAMP_MAX,
    cross_device: bool = True,
    autocast: contextlib.AbstractContextManager | None = None,
    embed_tokens: int = EMBED_TOKENS,
) -> StepResult:
    """Forward pass and loss of this process's share in one piece (the loss keeps its graph)."""
    with autocast or contextlib.nullcontext():
        q = _embed(encoder, batch.queries, embed_tokens)
        p = _embed(encoder, batch.passages, embed_tokens)
    if cross_device:
        q, p = gather_with_grad(q), gather_with_grad(p)
    q_prime = None
    if use_ri:
        if batch.reasoning_queries is None:
            raise ValueError("RI weighting needs the batch's reasoning queries")
        # no graph: nothing of this forward outlives it
        with torch.no_grad(), autocast or contextlib.nullcontext():
            q_prime = _embed(encoder, batch.reasoning_queries, embed_tokens)
            if cross_device:
                q_prime = gather_with_grad(q_prime)
    return batch_loss(q, p, q_prime, batch.group_size, temperature, use_ri, ri_clamp_max)


# --- accumulation with cached representations ------------------------------------------------
@dataclass
class _RngState:
    """The torch RNG state (CPU, and the device's when on CUDA) at one point of a step."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None
    device: torch.device

    @classmethod
    def capture(cls, device: torch.device) -> _RngState:
        cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), cuda, device)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def _chunks(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def accumulate_cached(
    encoder: Encoder,
    batch: Batch,
    temperature: float,
    use_ri: bool,
    chunk_queries: int,
    ri_clamp_max: float = DEFAULT_RI_CLAMP_MAX,
    cross_device: bool = True,
    autocast: contextlib.AbstractContextManager | None = None,
    embed_tokens: int = EMBED_TOKENS,
) -> StepResult:
    """The GradCache step (module doc, steps 1-3); gradients land in the parameters' `.grad`."""
    if use_ri and batch.reasoning_queries is None:
        raise ValueError("RI weighting needs the batch's reasoning queries")
    group = batch.group_size
    spans = _chunks(len(batch.queries), chunk_queries)
    autocast = autocast or contextlib.nullcontext()
    states: list[_RngState] = []
    q_parts: list[torch.Tensor] = []
    p_parts: list[torch.Tensor] = []
    with torch.no_grad():
        for start, stop in spans:
            states.append(_RngState.capture(encoder.device))
            with autocast:
                q_parts.append(_embed(encoder, batch.queries[start:stop], embed_tokens).float())
                p_parts.append(
                    _embed(
                        encoder, batch.passages[start * group : stop * group], embed_tokens
                    ).float()
                )
        q_local, p_local = torch.cat(q_parts), torch.cat(p_parts)
        q_prime = None
        if use_ri:
            with autocast:
                parts = [
                    _embed(encoder, batch.reasoning_queries[start:stop], embed_tokens).float()
                    for start, stop in spans
                ]
            q_prime = torch.cat(parts)
        if cross_device:
            q_all, p_all = gather_with_grad(q_local), gather_with_grad(p_local)
            q_prime = gather_with_grad(q_prime) if q_prime is not None else None
        else:
            q_all, p_all = q_local, p_local
    q_all = q_all.detach().requires_grad_(True)
    p_all = p_all.detach().requires_grad_(True)
    result = batch_loss(q_all, p_all, q_prime, group, temperature, use_ri, ri_clamp_max)
    grad_q, grad_p = torch.autograd.grad(result.loss, [q_all, p_all])
    rank = process_group_rank()[0] if cross_device else 0
    offset = rank * len(batch.queries)  # this share's rows in the gathered batch
    grad_q = grad_q[offset : offset + len(batch.queries)]
    grad_p = grad_p[offset * group : (offset + len(batch.queries)) * group]

    after = _RngState.capture(encoder.device)
    for (start, stop), state in zip(spans, states, strict=True):
        state.restore()  # the dropout masks of this chunk's cached forward
        with autocast:
            q = _embed(encoder, batch.queries[start:stop], embed_tokens)
            p = _embed(encoder, batch.passages[start * group : stop * group], embed_tokens)
        surrogate = (q.float() * grad_q[start:stop]).sum() + (
            p.float() * grad_p[start * group : stop * group]
        ).sum()
        surrogate.backward()
    after.restore()
    result.loss = result.loss.detach()
    result.chunks = len(spans)
    return result


def forward_backward(
    encoder: Encoder,
    batch: Batch,
    temperature: float,
    use_ri: bool,
    chunk_queries: int | None = None,
    ri_clamp_max: float = DEFAULT_RI_CLAMP_MAX,
    cross_device: bool = True,
    autocast: contextlib.AbstractContextManager | None = None,
    embed_tokens: int = EMBED_TOKENS,
) -> StepResult:
    """Loss of the global batch; its gradient (for this process's share) left in `.grad`."""
    if chunk_queries is not None and chunk_queries < len(batch.queries):
        return accumulate_cached(
            encoder,
            batch,
            temperature,
            use_ri,
            chunk_queries,
            ri_clamp_max=ri_clamp_max,
            cross_device=cross_device,
            autocast=autocast,
            embed_tokens=embed_tokens,
        )
    result = compute_loss(
        encoder,
        batch,
        temperature,
        use_ri,
        ri_clamp_max,
        cross_device=cross_device,
        autocast=autocast,
        embed_tokens=embed_tokens,
    )
    result.loss.backward()
    result.loss = result.loss.detach()
    return result


def apply_gradients(
    trainable: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scheduler,
    max_grad_norm: float,
    average_over: int = 1,
) -> None:
    """Sum gradients over ranks (then divide by `average_over`), clip, step, zero.

    With cross-device negatives every rank's loss is the global loss and only its shard has
    gradients, so the sum is the exact gradient (average_over=1); without them each rank has its
    own loss and the gradients are averaged (average_over=world size), as DDP does.
    """
    all_reduce_gradients(trainable)
    if average_over > 1:
        for param in trainable:
            if param.grad is not None:
                param.grad.div_(average_over)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
