"""The data that crosses the evaluation harness: questions, problems, predictions, result rows.

Every benchmark loader turns its own format into :class:`QARecord` objects so the runner, the
methods and the metrics never see a benchmark-specific shape.  Anything odd about the input is a
:class:`Problem` (with the file and line it came from) rather than an exception, so one bad line
never hides the rest of a benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

Span = tuple[float, float]


@dataclass
class Problem:
    """One thing wrong with the input data, reported instead of raised."""

    source: str  # file (and line) or uid the problem is about
    message: str
    uid: str | None = None
    kind: str = "data"  # data | label | video | predictions
    blocking: bool = True  # the question cannot be asked/scored because of it

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class QARecord:
    """One multiple-choice question about one video, in the harness's common shape."""

    uid: str
    video_key: str
    question: str  # the stem, without the options
    options: dict[str, str]  # letter -> option text, letters in order
    answer: str | None  # gold letter; None when the label is unusable
    categories: list[str] = field(default_factory=list)  # a multi-type question counts toward each
    reference_spans: list[Span] = field(default_factory=list)  # seconds on the video's timeline
    duration_s: float | None = None
    video_path: Path | None = None
    excluded: str | None = None  # why this question is neither asked nor scored
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def askable(self) -> bool:
        return self.excluded is None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["video_path"] = str(self.video_path) if self.video_path else None
        d["reference_spans"] = [list(s) for s in self.reference_spans]
        return d


@dataclass
class LoadResult:
    """What a task's ``load`` hook returns: the questions and every problem met on the way."""

    records: list[QARecord]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Prediction:
    """What an answering method returns for one question.

    ``cost`` uses the keys ``frames_decoded``, ``model_calls``, ``tokens`` and ``seconds`` (the
    runner fills ``seconds`` with the wall time when the method leaves it out).

    ``answered_by`` says who chose the answer: ``"model"`` (a language or vision model's reply),
    ``"rule"`` (code: a matcher, a heuristic, a random or fixed baseline) or ``"none"`` (no
    answer).  ``None`` means the method did not say; reports show it as ``unreported`` rather than
    guessing.  ``tools_used`` counts the tool calls made for the question, by tool name.
    """

    answer: str | None
    confidence: float | None = None
    evidence: list[Span] = field(default_factory=list)
    stop_reason: str = "answered"
    cost: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)
    answered_by: str | None = None
    tools_used: dict[str, int] = field(default_factory=dict)


COST_KEYS: tuple[str, ...] = ("frames_decoded", "model_calls", "tokens", "seconds")
ANSWERED_BY: tuple[str, ...] = ("model", "rule", "none")
SESSION_MODES: tuple[str, ...] = ("isolated", "shared")


def tools_from_trace(trace: list[dict[str, Any]]) -> dict[str, int]:
    """Tool calls a trace records: entries with both ``tool`` and ``args`` and not ``skipped``
    (the agent graph writes one such entry per call it ran, failed calls included)."""
    counts: dict[str, int] = {}
    for t in trace or []:
        if isinstance(t, dict) and isinstance(t.get("tool"), str) and "args" in t:
            if t.get("skipped"):
                continue
            counts[t["tool"]] = counts.get(t["tool"], 0) + 1
    return dict(sorted(counts.items()))


def normalize_spans(spans: Any) -> list[Span]:
    """Spans from JSON (lists of two numbers) as sorted ``(start, end)`` tuples."""
    out: list[Span] = []
    for s in spans or []:
        a, b = float(s[0]), float(s[1])
        out.append((min(a, b), max(a, b)))
    return out
