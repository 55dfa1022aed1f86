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


# --- who answered, which tools, how sure ----------------------------------------------------

CONFIDENT_THRESHOLD = 0.75
UNREPORTED = "unreported"  # the method did not say who answered
NOT_ASKED = "not asked"  # the question has no result row


def answered_by_label(row: Mapping[str, Any] | None) -> str:
    """``model`` / ``rule`` / ``none`` as the row says; ``unreported`` when it does not say."""
    if row is None:
        return NOT_ASKED
    if row.get("answer") is None:
        return "none"
    by = row.get("answered_by")
    return str(by) if by else UNREPORTED


def _scorable(questions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [q for q in questions if not q.get("excluded")]


def _right(q: Mapping[str, Any], row: Mapping[str, Any] | None) -> tuple[bool, bool]:
    ans = row.get("answer") if row else None
    return ans is not None, ans is not None and ans == q.get("answer")


def accuracy_by_answered_by(
    questions: Sequence[Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]]
) -> dict[str, Accuracy]:
    """Accuracy per answerer (``model``, ``rule``, ``none``, ``unreported``, ``not asked``).

    Each scorable question falls in exactly one group, so the totals add up to the overall.
    """
    out: dict[str, Accuracy] = {}
    for q in _scorable(questions):
        row = rows.get(q["uid"])
        answered, right = _right(q, row)
        out.setdefault(answered_by_label(row), Accuracy()).add(answered, right)
    order = ["model", "rule", UNREPORTED, "none", NOT_ASKED]
    return {k: out[k] for k in [*order, *sorted(set(out) - set(order))] if k in out}


def accuracy_by_tool(
    questions: Sequence[Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per tool: accuracy over the questions that called it at least once, and its calls.

    A question that called several tools counts toward each; ``(no tool)`` holds the questions
    with a result row and no recorded call (rows from before ``tools_used`` existed land there).
    """
    acc: dict[str, Accuracy] = {}
    calls: Counter[str] = Counter()
    for q in _scorable(questions):
        row = rows.get(q["uid"])
        if row is None:
            continue
        answered, right = _right(q, row)
        tools = {k: int(v) for k, v in (row.get("tools_used") or {}).items() if v}
        for name in tools or {"(no tool)": 0}:
            acc.setdefault(name, Accuracy()).add(answered, right)
        calls.update(tools)
    names = sorted(acc, key=lambda k: (k == "(no tool)", -acc[k].total, k))
    return {k: {**acc[k].to_json(), "calls": calls.get(k, 0)} for k in names}


def _confidence(row: Mapping[str, Any] | None) -> float | None:
    if row is None or row.get("answer") is None or row.get("confidence") is None:
        return None
    try:
        c = float(row["confidence"])
    except (TypeError, ValueError):
        return None
    return min(max(c, 0.0), 1.0) if math.isfinite(c) else None


def risk_coverage(
    questions: Sequence[Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Coverage-accuracy curve over all scorable questions, most confident answers first.

    Answers without a confidence rank below every confident answer, and questions without an
    answer rank last (they are wrong at any coverage).  Ties are averaged: inside a group of
    equal confidence the curve is the expected one over every order of the group, so the
    result does not depend on row order.  ``aurc`` is the mean selective risk (1 - accuracy)
    over the coverages 1/N .. N/N; ``aurc_oracle`` is the same with every right answer ranked
    first (the best any confidence could do with these answers); lower is better for both.
    """
    items: list[tuple[float, bool]] = []
    for q in _scorable(questions):
        row = rows.get(q["uid"])
        answered, right = _right(q, row)
        c = _confidence(row)
        rank = c if c is not None else (-1.0 if answered else -2.0)
        items.append((rank, right))
    n = len(items)
    if not n:
        return {"n": 0, "aurc": None, "aurc_oracle": None, "points": []}
    groups: dict[float, list[int]] = {}
    for rank, right in items:
        g = groups.setdefault(rank, [0, 0])
        g[0] += 1
        g[1] += int(not right)
    points: list[tuple[float, float]] = []
    risks: list[float] = []
    k = errors = 0
    for rank in sorted(groups, reverse=True):
        size, wrong = groups[rank]
        for j in range(1, size + 1):
            risk = (errors + wrong * j / size) / (k + j)
            risks.append(risk)
            points.append((round((k + j) / n, 6), round(1 - risk, 6)))
        k += size
        errors += wrong
    n_right = sum(r for _, r in items)
    oracle = [max(0, i - n_right) / i for i in range(1, n + 1)]
    return {
        "n": n,
        "aurc": statistics.fmean(risks),
        "aurc_oracle": statistics.fmean(oracle),
        "points": points,
    }


def calibration_summary(
    questions: Sequence[Mapping[str, Any]],
    rows: Mapping[str, Mapping[str, Any]],
    threshold: float = CONFIDENT_THRESHOLD,
) -> dict[str, Any]:
    """How sure a method was and whether that was earned, over all scorable questions.

    ``confident_wrong_rate``: wrong answers with confidence >= ``threshold``, as a share of all
    scorable questions (the answers a user would have trusted and been misled by);
    ``confident_accuracy``: accuracy among the answers at or above the threshold;
    ``confident_coverage``: their share of all questions.  ``ece`` and the buckets come from
    :func:`calibration` over the answers that carry a confidence.
    """
    scorable = _scorable(questions)
    n = len(scorable)
    answered = correct = confident = confident_right = no_conf = 0
    chosen = []
    for q in scorable:
        row = rows.get(q["uid"])
        a, r = _right(q, row)
        answered += int(a)
        correct += int(r)
        c = _confidence(row)
        if a and c is None:
            no_conf += 1
        if c is not None and c >= threshold:
            confident += 1
            confident_right += int(r)
        if row is not None:
            chosen.append({**row, "correct": r})
    cal = calibration(chosen)
    rc = risk_coverage(questions, rows)
    return {
        "threshold": threshold,
        "questions": n,
        "answered": answered,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "answered_without_confidence": no_conf,
        "confident": confident,
        "confident_wrong": confident - confident_right,
        "confident_wrong_rate": (confident - confident_right) / n if n else None,
        "confident_accuracy": confident_right / confident if confident else None,
        "confident_coverage": confident / n if n else None,
        "ece": cal["ece"],
        "ece_n": cal["n"],
        "buckets": cal["buckets"],
        "aurc": rc["aurc"],
        "aurc_oracle": rc["aurc_oracle"],
        "curve": rc["points"],
    }
