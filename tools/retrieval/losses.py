"""Training targets and the three losses compared in the ablation.

The **soft matching loss** (R-VLM, arXiv 2312.04931, re-derived here because the paper has no code)
treats retrieval as matching two distributions over one video's chunks.  For a question whose
evidence is the set of time spans ``S`` and a video of chunks ``c_1..c_n`` (chunk ``i`` covers
``[a_i, b_i)``):

1. overlap     ``o_i = |[a_i, b_i) ∩ S| / (b_i - a_i)``   (an instantaneous span counts 1 for the
   chunk that contains it);
2. smoothing   ``õ_i = Σ_j exp(-(i - j)² / (2 σ²)) · o_j``  (Gaussian over the chunk index, so a
   chunk next to the evidence is "almost right" rather than as wrong as one an hour away);
3. target      ``q_i = õ_i / Σ_k õ_k``;
4. prediction  ``p_i = exp(s_i / τ) / Σ_k exp(s_k / τ)``  (``s_i`` the retriever's score);
5. loss        ``L = KL(q ‖ p) = Σ_i q_i (log q_i − log p_i)``,

averaged over the questions of a batch.  Chunks outside a question's window (padding, or the part
of the video an example crops away) are masked out of every sum.  ``KL(q ‖ p)`` and the
cross-entropy ``H(q, p)`` differ by the entropy of ``q``, a constant, so their gradients are the
same: ``∂L/∂s_i = (p_i − q_i) / τ``.

The baselines are the plain per-chunk binary cross-entropy on ``y_i = [o_i > 0]`` and InfoNCE,
whose single positive is the chunk of largest overlap (the others in the video are negatives).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

LossName = Literal["soft", "bce", "infonce"]
LOSSES: tuple[LossName, ...] = ("soft", "bce", "infonce")
Span = tuple[float, float]


def chunk_overlap(starts: np.ndarray, ends: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """``o_i``: the fraction of chunk ``i`` that lies inside any evidence span (in [0, 1]).

    A zero-length span (an instant) gives 1 to the chunk that contains it, so a question about
    a single moment still has a positive chunk.
    """
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    lengths = np.maximum(ends - starts, 1e-9)
    o = np.zeros(len(starts), dtype=np.float64)
    for s, e in spans:
        if e < s:
            raise ValueError(f"evidence span ({s}, {e}) ends before it starts")
        if e - s < 1e-9:
            o[(starts <= s) & (s < ends)] = 1.0
            continue
        inter = np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0.0, None)
        o += inter / lengths
    return np.clip(o, 0.0, 1.0)


def soft_target(
    overlap: np.ndarray, sigma: float = 1.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """``q``: the overlap smoothed by a Gaussian over chunk index and normalised over ``mask``.

    ``sigma <= 0`` disables smoothing (the target is then the normalised overlap).  Raises
    ``ValueError`` when no chunk inside the mask overlaps the evidence: such an example has no
    target and must be dropped by the caller.
    """
    o = np.asarray(overlap, dtype=np.float64)
    m = np.ones_like(o, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    o = np.where(m, o, 0.0)
    if o.sum() <= 0:
        raise ValueError("no chunk inside the window overlaps the evidence span")
    if sigma > 0:
        idx = np.arange(len(o), dtype=np.float64)
        kernel = np.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma**2))
        o = kernel @ o
    o = np.where(m, o, 0.0)
    return o / o.sum()


def soft_matching_loss(
    scores: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """Mean over the batch of ``KL(q ‖ softmax(s / τ))`` (module docstring), masked.

    ``scores``, ``target`` and ``mask`` are ``(B, N)``; ``target`` rows sum to 1 over ``mask``.
    """
    import torch

    logp = _masked_log_softmax(scores / tau, mask)
    q = torch.where(mask, target, torch.zeros_like(target))
    qlogq = torch.where(q > 0, q * torch.log(q.clamp_min(1e-30)), torch.zeros_like(q))
    kl = (qlogq - q * logp.masked_fill(~mask, 0.0)).sum(dim=1)
    return kl.mean()


def bce_loss(scores: torch.Tensor, overlap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain per-chunk binary cross-entropy on ``y_i = [o_i > 0]``, positives re-weighted.

    Positives are rare (a few chunks among hundreds), so each question's positives and negatives
    get equal total weight; without it the trivial "everything is irrelevant" solution wins.
    """
    import torch
    import torch.nn.functional as F

    y = (overlap > 0).to(scores.dtype)
    m = mask.to(scores.dtype)
    pos = (y * m).sum(dim=1, keepdim=True).clamp_min(1.0)
    neg = ((1 - y) * m).sum(dim=1, keepdim=True).clamp_min(1.0)
    w = m * torch.where(y > 0, 0.5 / pos, 0.5 / neg)
    per = F.binary_cross_entropy_with_logits(scores, y, reduction="none")
    return (per * w).sum(dim=1).mean()


def infonce_loss(
    scores: torch.Tensor, overlap: torch.Tensor, mask: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """InfoNCE: ``−log p_pos`` with the best-overlap chunk as the one positive."""
    logp = _masked_log_softmax(scores / tau, mask)
    pos = overlap.masked_fill(~mask, -1.0).argmax(dim=1, keepdim=True)
    return -logp.gather(1, pos).mean()


def _masked_log_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.log_softmax(x.masked_fill(~mask, float("-inf")), dim=1)
