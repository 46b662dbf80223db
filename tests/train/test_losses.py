"""Redapter loss math against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from reasonembed.train.losses import (
    infonce_per_sample,
    reasoning_intensity,
    ri_weighted_loss,
    ri_weights,
)

E2 = math.exp(2.0)
EM2 = math.exp(-2.0)
X = [1.0, 0.0]
Y = [0.0, 1.0]
NEG_X = [-1.0, 0.0]
NEG_Y = [0.0, -1.0]

# 3 queries, group size 2: query i's positive is passage 2i.
Q = torch.tensor([X, Y, X])
P = torch.tensor([X, Y, Y, X, Y, NEG_X])
POSITIVE = torch.tensor([0, 2, 4])
TEMPERATURE = 0.5  # cosine 1 -> logit 2, 0 -> 0, -1 -> -2
# logits of X against P: [2, 0, 0, 2, 0, -2]; of Y: [0, 2, 2, 0, 2, 0]; of -Y: [0, -2, -2, 0, -2, 0]
LSE_X = math.log(2 * E2 + 3 + EM2)
LSE_Y = math.log(3 * E2 + 3)
LSE_NEG_Y = math.log(3 * EM2 + 3)
L_Q = [LSE_X - 2, LSE_Y - 2, LSE_X - 0]  # positives: logit 2, 2, 0
# reasoning queries: Y (positive logit 0), Y (2), -Y (-2)
Q_PRIME = torch.tensor([Y, Y, NEG_Y])
L_Q_PRIME = [LSE_Y - 0, LSE_Y - 2, LSE_NEG_Y + 2]


def test_per_sample_infonce_of_a_three_query_batch():
    loss = infonce_per_sample(Q, P, POSITIVE, TEMPERATURE)
    assert loss.shape == (3,)
    assert loss.tolist() == pytest.approx(L_Q, rel=1e-5)
    assert loss.tolist() == pytest.approx([0.885552, 1.225540, 2.885552], abs=1e-5)


def test_reasoning_intensity_weights_and_final_loss():
    loss_q = infonce_per_sample(Q, P, POSITIVE, TEMPERATURE)
    loss_q_prime = infonce_per_sample(Q_PRIME, P, POSITIVE, TEMPERATURE)
    assert loss_q_prime.tolist() == pytest.approx(L_Q_PRIME, rel=1e-5)

    ri = reasoning_intensity(loss_q, loss_q_prime)
    expected_ri = [lq / (lqp + 1e-6) for lq, lqp in zip(L_Q, L_Q_PRIME, strict=True)]
    assert ri.tolist() == pytest.approx(expected_ri, rel=1e-5)
    assert ri.tolist() == pytest.approx([0.274544, 0.999999, 0.894595], abs=1e-4)

    weights = ri_weights(ri)
    total = sum(expected_ri)
    assert weights.tolist() == pytest.approx([r / total for r in expected_ri], rel=1e-5)
    assert float(weights.sum()) == pytest.approx(1.0)

    final = ri_weighted_loss(loss_q, weights)
    expected = sum(r / total * lq for r, lq in zip(expected_ri, L_Q, strict=True))
    assert float(final) == pytest.approx(expected, rel=1e-5)
    # the hard query (RI ~1) gets more weight than the easy one: the loss moves off the mean
    assert float(final) != pytest.approx(sum(L_Q) / 3, rel=1e-3)


def test_ri_is_clamped_and_detached():
    loss_q = torch.tensor([3.0, 0.5, 1.0], requires_grad=True)
    loss_q_prime = torch.tensor([0.1, 1.0, 0.0])
    ri = reasoning_intensity(loss_q, loss_q_prime, clamp_max=5.0)
    assert ri.tolist() == pytest.approx([5.0, 0.5, 5.0], rel=1e-6)
    assert not ri.requires_grad


def test_equal_ri_reduces_to_mean_infonce():
    q = torch.nn.functional.normalize(torch.randn(5, 8, generator=torch.Generator().manual_seed(0)))
    p = torch.nn.functional.normalize(
        torch.randn(15, 8, generator=torch.Generator().manual_seed(1))
    )
    q.requires_grad_(True)
    positive = torch.arange(5) * 3
    loss_q = infonce_per_sample(q, p, positive, 0.5)
    weighted = ri_weighted_loss(loss_q, ri_weights(torch.full((5,), 2.7)))
    assert float(weighted.detach()) == pytest.approx(float(loss_q.detach().mean()), rel=1e-6)
    # q' identical to q: RI is 1 (up to the 1e-6 guard), so the RI loss and gradient are the mean's
    ri = reasoning_intensity(loss_q, loss_q.detach().clone())
    weighted = ri_weighted_loss(loss_q, ri_weights(ri))
    (grad_weighted,) = torch.autograd.grad(weighted, q, retain_graph=True)
    (grad_mean,) = torch.autograd.grad(loss_q.mean(), q)
    assert torch.allclose(grad_weighted, grad_mean, rtol=1e-5, atol=1e-7)


def test_all_zero_ri_falls_back_to_uniform_weights():
    assert ri_weights(torch.zeros(4)).tolist() == [0.25] * 4
