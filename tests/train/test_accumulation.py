"""Accumulation with cached representations (GradCache) on MiniLM: the same loss, RI and gradient
as the whole batch in one piece; with dropout on, each chunk is replayed with its own masks.
Also the memory-only ways of a step: forward calls of a few tokens, and the q' pass without a
graph. (tests/train/test_distributed.py compares it with two torchrun processes.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reasonembed.retrieval import Encoder
from reasonembed.train.data import DomainSettings, make_batch
from reasonembed.train.step import batch_loss, compute_loss, forward_backward
from tests.train.tiny_data import tiny_rows

QUERIES, GROUP = 5, 3


@pytest.fixture(scope="module")
def encoder():
    return Encoder("minilm", max_length=32, device="cpu")


@pytest.fixture(scope="module")
def batch():
    rows = tiny_rows(group=GROUP, batch=QUERIES)
    settings = DomainSettings(GROUP, QUERIES)
    return make_batch(rows, list(range(QUERIES)), settings, seed=3, step=0, with_reasoning=True)


def gradients(encoder) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in encoder.model.named_parameters() if p.grad is not None}
    encoder.model.zero_grad(set_to_none=True)
    return grads


def assert_same_gradients(first: dict, second: dict) -> None:
    assert first.keys() == second.keys() and len(first) > 50
    scale = max(float(g.abs().max()) for g in second.values())
    worst = max(float((first[n] - second[n]).abs().max()) for n in first)
    assert worst <= 1e-4 * scale, (worst, scale)


@pytest.mark.parametrize("use_ri", [True, False])
def test_chunks_give_the_loss_ri_and_gradient_of_the_whole_batch(encoder, batch, use_ri):
    encoder.model.eval()  # no dropout: both ways see the same network
    encoder.model.zero_grad(set_to_none=True)
    whole = forward_backward(encoder, batch, 0.02, use_ri, chunk_queries=None)
    whole_grads = gradients(encoder)
    for chunk in (1, 2):  # 5 queries: 5 chunks of 1, or 2 + 2 + 1
        chunked = forward_backward(encoder, batch, 0.02, use_ri, chunk_queries=chunk)
        assert chunked.chunks == -(-QUERIES // chunk) and whole.chunks == 1
        assert float(chunked.loss) == pytest.approx(float(whole.loss), rel=1e-5)
        assert chunked.infonce_mean == pytest.approx(whole.infonce_mean, rel=1e-5)
        if use_ri:
            assert torch.allclose(chunked.ri, whole.ri, rtol=1e-4, atol=1e-6)
            # RI weighting is on: the loss is not the plain mean
            assert float(chunked.loss) != pytest.approx(chunked.infonce_mean, rel=1e-4)
        assert_same_gradients(gradients(encoder), whole_grads)


def test_dropout_masks_are_replayed_chunk_by_chunk(encoder, batch):
    """Train mode: the cached step's gradient equals that of one graph built with the same
    forward calls in the same order (so the same dropout masks). Without the replay the second
    forward of each chunk would draw new masks and the gradients would differ."""
    encoder.model.train()
    torch.manual_seed(11)
    first = encoder.embed(batch.queries[:2])
    assert not torch.allclose(first, encoder.embed(batch.queries[:2]))  # dropout is active

    torch.manual_seed(5)
    cached = forward_backward(encoder, batch, 0.02, use_ri=True, chunk_queries=2)
    cached_grads = gradients(encoder)

    torch.manual_seed(5)
    q_parts, p_parts = [], []
    for start in range(0, QUERIES, 2):
        stop = min(start + 2, QUERIES)
        q_parts.append(F.normalize(encoder.embed(batch.queries[start:stop]), dim=-1))
        p_parts.append(
            F.normalize(encoder.embed(batch.passages[start * GROUP : stop * GROUP]), dim=-1)
        )
    with torch.no_grad():
        q_prime = torch.cat(
            [
                F.normalize(encoder.embed(batch.reasoning_queries[start : start + 2]), dim=-1)
                for start in range(0, QUERIES, 2)
            ]
        )
    reference = batch_loss(torch.cat(q_parts), torch.cat(p_parts), q_prime, GROUP, 0.02, True)
    reference.loss.backward()
    assert float(cached.loss) == pytest.approx(float(reference.loss.detach()), rel=1e-5)
    assert_same_gradients(cached_grads, gradients(encoder))
    encoder.model.eval()


@pytest.mark.parametrize("use_ri", [True, False])
def test_forward_calls_of_a_few_tokens_give_the_loss_and_gradient_of_one_call(
    encoder, batch, use_ri
):
    encoder.model.eval()
    encoder.model.zero_grad(set_to_none=True)
    calls = []
    hook = encoder.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        whole = forward_backward(encoder, batch, 0.02, use_ri)
        whole_grads, whole_calls = gradients(encoder), len(calls)
        # 64 tokens = 2 texts of 32: 5 queries in 3 calls, 15 passages in 8, 5 q' in 3
        split = forward_backward(encoder, batch, 0.02, use_ri, embed_tokens=64)
    finally:
        hook.remove()
    assert (whole_calls, len(calls) - whole_calls) == ((3, 14) if use_ri else (2, 11))
    assert float(split.loss) == pytest.approx(float(whole.loss), rel=1e-5)
    assert_same_gradients(gradients(encoder), whole_grads)


def test_the_reasoning_query_pass_saves_no_activations(encoder, batch):
    """RI's q' forward runs without a graph: it adds nothing to what the backward keeps."""
    encoder.model.eval()

    def saved_bytes(use_ri: bool) -> int:
        sizes = []

        def pack(tensor):
            sizes.append(tensor.numel() * tensor.element_size())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            compute_loss(encoder, batch, 0.02, use_ri)
        return sum(sizes)

    plain, with_ri = saved_bytes(False), saved_bytes(True)
    assert plain > 1_000_000  # the q and p forwards' activations (and weights)
    assert 0 <= with_ri - plain < 1_000, (plain, with_ri)  # RI weights only: a few floats
