"""The calibrated stop rule: a small logistic model over evidence features, not a model's flag.

Six features, each in a known range:

* ``agreement`` (0..1): share of the vote weight backing the winner, counting each *piece of
  evidence* once: partial answers that cite the same moment are one vote, not several (the
  model restating one line from two groups is not a second opinion).
* ``stated`` (0..1): the highest confidence the model stated for the winner, halved when its
  cited time matches no evidence line (small models are over-confident, so this gets a weight
  fitted on data rather than trusted as is).
* ``margin`` (-1..1): retrieval score of the best span backing the winner minus that of the best
  span backing anything else (or of the best span not backing it).
* ``exact`` (0 or 1): the winner rests on exact evidence: text read on screen, words heard,
  subtitles, or arithmetic over located moments of those.
* ``label`` (0 or 1): the winner rests on a detector label, a scene tag or a frame colour
  (often wrong on real footage: an ImageNet tag names a volleyball in a basketball gym).
* ``computed`` (0 or 1): the winner was computed from located moments (a count, an order, the
  time window holding them: see :func:`graphs.routing.computed_answers`), not chosen by the
  model; ``agreement`` and ``stated`` then say how far the model's own reading agrees.

``confidence = sigmoid(b + w . features)``; the weights live in ``Settings.agent_stop_weights``
and :func:`fit_weights` fits them on labelled runs (``python -m vidsleuth.evals.fit_stop``),
:func:`reliability_table` checks the result.  How reliable each kind of evidence is therefore
comes from labelled questions, not from a number set by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

FEATURES = ("agreement", "stated", "margin", "exact", "label", "computed")
#: evidence kinds read or heard exactly
EXACT_KINDS = frozenset({"ocr", "speech", "subtitle"})
#: evidence kinds named by a classifier
LABEL_KINDS = frozenset({"object", "tag", "colour"})


@dataclass(frozen=True)
class StopFeatures:
    agreement: float = 0.0
    stated: float = 0.0
    margin: float = 0.0
    exact: float = 0.0
    label: float = 0.0
    computed: float = 0.0

    def vector(self) -> list[float]:
        return [getattr(self, f) for f in FEATURES]

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def confidence(features: StopFeatures, weights: Sequence[float]) -> float:
    """The calibrated probability that the current answer is right."""
    if len(weights) == len(FEATURES):
        # weights fitted before ``computed`` existed: that feature gets weight 0
        weights = (*weights, 0.0)
    if len(weights) != 1 + len(FEATURES):
        raise ValueError(
            f"stop weights need {1 + len(FEATURES)} numbers (bias, {', '.join(FEATURES)})"
        )
    b, *w = weights
    return _sigmoid(b + sum(wi * xi for wi, xi in zip(w, features.vector(), strict=True)))


#: features whose weight may not be negative: more agreement, a higher stated confidence or a
#: wider retrieval margin never makes an answer less likely right.  Without this prior a fit on
#: a few dozen questions learned a negative margin weight from one video's wrong answers and
#: then called real-footage answers with a margin of -0.9 confident (held out, 4 of 5 wrong).
MONOTONE = ("agreement", "stated", "margin")


def weighs_model_opinion(weights: Sequence[float]) -> bool:
    """Whether ``weights`` let the model's own votes (``agreement``, ``stated``) move the
    confidence: when they do not, asking the model for its opinion of an answer arithmetic
    already computed changes nothing."""
    by_name = dict(zip(FEATURES, weights[1:], strict=False))
    return any(by_name.get(k, 0.0) != 0.0 for k in ("agreement", "stated"))


def fit_weights(
    rows: Sequence[StopFeatures],
    correct: Sequence[bool],
    *,
    l2: float = 0.01,
    steps: int = 3000,
    lr: float = 0.5,
    monotone: Sequence[str] = MONOTONE,
) -> tuple[float, ...]:
    """Fit ``(bias, w_agreement, w_stated, w_margin, w_exact, w_label, w_computed)`` by
    L2-regularised logistic regression (plain gradient descent: seven parameters, no library
    needed), the weights of the ``monotone`` features kept at zero or above."""
    if len(rows) != len(correct) or not rows:
        raise ValueError("need as many labels as feature rows, and at least one row")
    xs = [[1.0, *r.vector()] for r in rows]
    ys = [1.0 if c else 0.0 for c in correct]
    w = [0.0] * len(xs[0])
    n = len(xs)
    for _ in range(steps):
        grad = [0.0] * len(w)
        for x, y in zip(xs, ys, strict=True):
            p = _sigmoid(sum(wi * xi for wi, xi in zip(w, x, strict=True)))
            for j, xj in enumerate(x):
                grad[j] += (p - y) * xj / n
        for j in range(len(w)):
            w[j] -= lr * (grad[j] + (l2 * w[j] if j else 0.0))
            if j and FEATURES[j - 1] in monotone:
                w[j] = max(0.0, w[j])  # projected gradient: the prior holds at every step
    return tuple(round(v, 4) for v in w)


def reliability_table(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 5
) -> list[dict[str, float]]:
    """Rows ``{lo, hi, n, mean_confidence, accuracy}`` per confidence bucket (empty ones
    left out)."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not idx:
            continue
        rows.append(
            {
                "lo": lo,
                "hi": hi,
                "n": len(idx),
                "mean_confidence": round(sum(confidences[i] for i in idx) / len(idx), 4),
                "accuracy": round(sum(1 for i in idx if correct[i]) / len(idx), 4),
            }
        )
    return rows
