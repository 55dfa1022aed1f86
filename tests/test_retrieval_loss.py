"""The soft matching loss, its targets and the baselines' losses, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidsleuth.tools.retrieval.losses import (  # noqa: E402
    bce_loss,
    chunk_overlap,
    infonce_loss,
    soft_matching_loss,
    soft_target,
)


def test_overlap_is_fraction_of_chunk_inside_span() -> None:
    starts = np.array([0.0, 4.0, 8.0, 12.0])
    ends = starts + 4
    o = chunk_overlap(starts, ends, [(5.0, 10.0)])
    assert o.tolist() == [0.0, 0.75, 0.5, 0.0]
    # an instant belongs to the chunk that contains it (half-open chunks)
    assert chunk_overlap(starts, ends, [(8.0, 8.0)]).tolist() == [0, 0, 1, 0]
    # two spans add up, capped at 1
    assert chunk_overlap(starts, ends, [(0, 2), (2, 4), (13, 14)]).tolist() == [1.0, 0, 0, 0.25]
    with pytest.raises(ValueError):
        chunk_overlap(starts, ends, [(3.0, 1.0)])


def test_soft_target_gaussian_smoothing_by_hand() -> None:
    o = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    q = soft_target(o, sigma=1.0)
    w = np.exp(-np.array([4, 1, 0, 1, 4]) / 2.0)
    np.testing.assert_allclose(q, w / w.sum())
    assert q.argmax() == 2 and math.isclose(q.sum(), 1.0)
    # no smoothing: the normalised overlap
    np.testing.assert_allclose(
        soft_target(np.array([0, 0.5, 1.0, 0]), sigma=0), [0, 1 / 3, 2 / 3, 0]
    )
    # the mask removes chunks from the target (and the evidence outside it)
    m = np.array([False, True, True, True, True])
    assert soft_target(o, 1.0, m)[0] == 0.0
    with pytest.raises(ValueError, match="no chunk"):
        soft_target(o, 1.0, np.array([True, True, False, True, True]))


def test_soft_matching_loss_value_by_hand() -> None:
    s = torch.tensor([[1.0, 2.0, 0.0]])
    q = torch.tensor([[0.25, 0.75, 0.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    p = np.exp([1.0, 2.0, 0.0]) / np.exp([1.0, 2.0, 0.0]).sum()
    expected = 0.25 * math.log(0.25 / p[0]) + 0.75 * math.log(0.75 / p[1])
    assert float(soft_matching_loss(s, q, mask)) == pytest.approx(expected, rel=1e-6)
    # temperature divides the scores
    p2 = np.exp([0.5, 1.0, 0.0]) / np.exp([0.5, 1.0, 0.0]).sum()
    exp2 = 0.25 * math.log(0.25 / p2[0]) + 0.75 * math.log(0.75 / p2[1])
    assert float(soft_matching_loss(s, q, mask, tau=2.0)) == pytest.approx(exp2, rel=1e-6)
    # masked chunks do not count: the same loss as the 2-chunk video alone
    s3 = torch.tensor([[1.0, 2.0, 50.0]])
    m3 = torch.tensor([[True, True, False]])
    two = soft_matching_loss(
        torch.tensor([[1.0, 2.0]]), torch.tensor([[0.25, 0.75]]), torch.ones(1, 2, dtype=torch.bool)
    )
    assert float(soft_matching_loss(s3, q, m3)) == pytest.approx(float(two), rel=1e-6)
    # zero when p == q
    logits = torch.log(torch.tensor([[0.2, 0.3, 0.5]]))
    assert float(
        soft_matching_loss(logits, torch.tensor([[0.2, 0.3, 0.5]]), mask)
    ) == pytest.approx(0, abs=1e-6)


def test_soft_matching_gradient_is_p_minus_q_over_tau() -> None:
    s = torch.tensor([[0.3, -1.0, 2.0, 0.0]], requires_grad=True)
    q = torch.tensor([[0.0, 0.1, 0.2, 0.7]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    tau = 0.5
    soft_matching_loss(s, q, mask, tau).backward()
    p = torch.softmax(s.detach() / tau, dim=1)
    torch.testing.assert_close(s.grad, (p - q) / tau)
    # gradient descent raises the score of the under-predicted target chunk
    assert s.grad[0, 3] < 0 and s.grad[0, 2] > 0


def test_bce_and_infonce() -> None:
    s = torch.tensor([[2.0, -1.0, 0.0, -3.0]], requires_grad=True)
    o = torch.tensor([[0.0, 0.2, 1.0, 0.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    # InfoNCE: the positive is the best-overlap chunk (index 2)
    logp = torch.log_softmax(s.detach(), 1)
    assert infonce_loss(s, o, mask).item() == pytest.approx(-float(logp[0, 2]), rel=1e-6)
    # BCE with balanced weights: positives {1, 2}, negatives {0, 3}, each side weight 1/2
    sp = torch.nn.functional.softplus
    sd = s.detach()[0]
    expected = 0.25 * (sp(-sd[1]) + sp(-sd[2])) + 0.25 * (sp(sd[0]) + sp(sd[3]))
    loss = bce_loss(s, o, mask)
    assert loss.item() == pytest.approx(float(expected), rel=1e-6)
    loss.backward()
    assert s.grad[0, 0] > 0 and s.grad[0, 2] < 0
