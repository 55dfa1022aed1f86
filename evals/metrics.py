"""Numbers a report is made of, computed from saved questions and result rows only.

Two accuracies are always given side by side: *official* (LVBench's rule: a question without a
prediction is skipped, so the denominator shrinks) and *strict* (a missing prediction counts as
wrong).  Questions a loader excluded (unparseable options, broken labels) are in neither and
are counted separately, so nothing is scored silently.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vidsleuth.evals.schema import COST_KEYS, Span

LENGTH_BUCKETS_MIN: tuple[tuple[float, float], ...] = (
    (0, 10),
    (10, 30),
    (30, 60),
    (60, 120),
    (120, math.inf),
)
CONFIDENCE_BUCKETS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class Accuracy:
    """Correct answers over answered (official) and over all scorable (strict) questions."""

    correct: int = 0
    answered: int = 0
    total: int = 0  # scorable questions

    @property
    def missing(self) -> int:
        return self.total - self.answered

    @property
    def official(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    @property
    def strict(self) -> float | None:
        return self.correct / self.total if self.total else None

    def add(self, answered: bool, correct: bool) -> None:
        self.total += 1
        self.answered += int(answered)
        self.correct += int(correct)

    def to_json(self) -> dict[str, Any]:
        return {
            "correct": self.correct,
            "answered": self.answered,
            "total": self.total,
            "missing": self.missing,
            "official": self.official,
            "strict": self.strict,
        }


@dataclass
class Scores:
    """Accuracy by leaderboard key (overall first) plus what could not be scored."""

    by_key: dict[str, Accuracy]
    excluded: int = 0
    unknown_uids: list[str] = field(default_factory=list)
    invalid_letters: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "by_key": {k: v.to_json() for k, v in self.by_key.items()},
            "excluded": self.excluded,
            "unknown_uids": self.unknown_uids,
            "invalid_letters": self.invalid_letters,
        }


def score_answers(
    questions: Sequence[Mapping[str, Any]],
    answers: Mapping[str, str | None],
    categories: Sequence[str] = (),
    overall_key: str = "Overall",
) -> Scores:
    """Score ``uid -> letter`` against question dicts (``QARecord.to_json`` form).

    A question with several categories counts toward each.  Prediction uids that match no
    question are returned in ``unknown_uids``; letters outside the options count as wrong.
    """
    by_key: dict[str, Accuracy] = {overall_key: Accuracy()}
    for c in categories:
        by_key[c] = Accuracy()
    excluded = invalid = 0
    uids = set()
    for q in questions:
        uids.add(q["uid"])
        if q.get("excluded"):
            excluded += 1
            continue
        ans = answers.get(q["uid"])
        answered = ans is not None
        if answered and ans not in (q.get("options") or {}):
            invalid += 1
        correct = answered and ans == q.get("answer")
        by_key[overall_key].add(answered, correct)
        for c in q.get("categories") or []:
            by_key.setdefault(c, Accuracy()).add(answered, correct)
    unknown = sorted((u for u in answers if u not in uids), key=_uid_sort)
    return Scores(by_key, excluded=excluded, unknown_uids=unknown, invalid_letters=invalid)


def _uid_sort(u: str) -> tuple[int, Any]:
    return (0, int(u)) if u.isdigit() else (1, u)


def accuracy_by_length(
    questions: Sequence[Mapping[str, Any]], answers: Mapping[str, str | None]
) -> dict[str, Accuracy]:
    """Accuracy per video-length bucket (minutes); questions of unknown length go to "unknown"."""
    out: dict[str, Accuracy] = {}
    for q in questions:
        if q.get("excluded"):
            continue
        d = q.get("duration_s")
        if d is None:
            label = "unknown"
        else:
            lo, hi = next(b for b in LENGTH_BUCKETS_MIN if b[0] <= d / 60 < b[1])
            label = f"{lo:g}-{hi:g} min" if hi != math.inf else f">={lo:g} min"
        ans = answers.get(q["uid"])
        right = ans is not None and ans == q["answer"]
        out.setdefault(label, Accuracy()).add(ans is not None, right)
    order = [
        f"{lo:g}-{hi:g} min" if hi != math.inf else f">={lo:g} min" for lo, hi in LENGTH_BUCKETS_MIN
    ]
    return {k: out[k] for k in [*order, "unknown"] if k in out}


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[list[float]] = []
    for a, b in sorted((min(s), max(s)) for s in spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def overlaps(evidence: Iterable[Span], reference: Iterable[Span]) -> bool:
    """True when any cited span touches any reference span (an instant inside counts)."""
    ref = list(reference)
    return any(a <= d and c <= b for a, b in evidence for c, d in ref)


def interval_iou(evidence: Iterable[Span], reference: Iterable[Span]) -> float:
    """IoU of the unions of two span sets (0 when both are empty or share no time)."""
    e, r = _merge(evidence), _merge(reference)
    inter = 0.0
    for a, b in e:
        for c, d in r:
            inter += max(0.0, min(b, d) - max(a, c))
    union = sum(b - a for a, b in e) + sum(d - c for c, d in r) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Grounding:
    with_reference: int = 0  # answered questions that have a reference span
    cited: int = 0  # ...of which the answer cited some evidence
    overlapping: int = 0
    iou_sum: float = 0.0

    @property
    def overlap_share(self) -> float | None:
        return self.overlapping / self.with_reference if self.with_reference else None

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.with_reference if self.with_reference else None

    def to_json(self) -> dict[str, Any]:
        return {
            "with_reference": self.with_reference,
            "cited": self.cited,
            "overlapping": self.overlapping,
            "overlap_share": self.overlap_share,
            "mean_iou": self.mean_iou,
        }


def grounding(
    questions: Sequence[Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]]
) -> Grounding:
    """Share of answers whose evidence overlaps the reference, and mean IoU (no evidence = 0)."""
    g = Grounding()
    for q in questions:
        row = rows.get(q["uid"])
        ref = [tuple(s) for s in q.get("reference_spans") or []]
        if q.get("excluded") or row is None or row.get("answer") is None or not ref:
            continue
        ev = [tuple(s) for s in row.get("evidence") or []]
        g.with_reference += 1
        g.cited += int(bool(ev))
        g.overlapping += int(overlaps(ev, ref))
        g.iou_sum += interval_iou(ev, ref)
    return g


def calibration(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Reliability table (confidence bucket -> count, mean confidence, accuracy) and ECE."""
    edges = CONFIDENCE_BUCKETS
    buckets = [
        {"lo": edges[i], "hi": edges[i + 1], "n": 0, "conf": 0.0, "correct": 0}
        for i in range(len(edges) - 1)
    ]
    n = 0
    for row in rows:
        c = row.get("confidence")
        if row.get("answer") is None or c is None:
            continue
        c = min(max(float(c), 0.0), 1.0)
        i = min(int(c * (len(edges) - 1)), len(edges) - 2)
        b = buckets[i]
        b["n"] += 1
        b["conf"] += c
        b["correct"] += int(bool(row.get("correct")))
        n += 1
    ece = 0.0
    for b in buckets:
        if b["n"]:
            b["mean_confidence"] = b.pop("conf") / b["n"]
            b["accuracy"] = b["correct"] / b["n"]
            ece += b["n"] / n * abs(b["accuracy"] - b["mean_confidence"])
        else:
            b.pop("conf")
            b["mean_confidence"] = b["accuracy"] = None
    return {"buckets": buckets, "n": n, "ece": ece if n else None}


def cost_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, median, max and total of each cost key over the questions a method was asked."""
    values: dict[str, list[float]] = {k: [] for k in COST_KEYS}
    for row in rows:
        cost = row.get("cost") or {}
        for k in COST_KEYS:
            if isinstance(cost.get(k), int | float):
                values[k].append(float(cost[k]))
    return {
        k: {
            "mean": statistics.fmean(v),
            "median": statistics.median(v),
            "max": max(v),
            "total": sum(v),
            "n": len(v),
        }
        for k, v in values.items()
        if v
    }


def letter_counts(values: Iterable[str | None]) -> dict[str, int]:
    c = Counter(v if v else "(empty)" for v in values)
    return dict(sorted(c.items()))
