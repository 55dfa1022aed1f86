"""The agent's graph state: what flows between nodes and what a checkpoint keeps.

Input and output schemas are separate (the caller gives a question, gets an answer); the full
state adds the investigation's working set.  List channels have reducers, so nodes return only
what they add.  Per-question channels are cleared by the ``plan`` node with
:class:`langgraph.types.Overwrite`; ``notes`` and ``history`` are *session* channels: they stay in
the checkpointed thread, which is how a later question in the same session uses what earlier ones
learned.  Everything here is plain JSON-able data (the checkpointer serialises it); runtime
handles live in :class:`~vidsleuth.graphs.deps.AgentDeps`.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict, get_origin, get_type_hints

Finding = dict[str, Any]
"""``{"t_start", "t_end", "kind", "text", "score", "source"}`` (a :class:`tools.base.Finding`)."""


def _span_key(f: Finding) -> tuple[Any, ...]:
    return (
        f.get("kind"),
        round(float(f["t_start"]), 2),
        round(float(f["t_end"]), 2),
        f.get("text"),
    )


def add_findings(left: list[Finding] | None, right: list[Finding] | None) -> list[Finding]:
    """Append new findings; the same finding found again keeps its best score."""
    out = list(left or [])
    index = {_span_key(f): i for i, f in enumerate(out)}
    for f in right or []:
        k = _span_key(f)
        if k in index:
            old = out[index[k]]
            if (f.get("score") or 0) > (old.get("score") or 0):
                out[index[k]] = {**old, "score": f.get("score")}
        else:
            index[k] = len(out)
            out.append(f)
    return out


def add_unique(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Append items not already present (spans zoomed into, groups already mapped)."""
    out = list(left or [])
    for x in right or []:
        if x not in out:
            out.append(x)
    return out


class AgentInput(TypedDict):
    """What a caller gives: one question about one (already registered) video."""

    question: str
    options: list[str]
    video_id: str


class AgentOutput(TypedDict, total=False):
    """What a caller gets back."""

    answer: str  # the option letter when options were given, else the answer text
    answer_text: str
    confidence: float
    evidence: list[dict[str, Any]]  # [{"t_start", "t_end", "why"}]
    stop_reason: str
    # "model", "arithmetic" (computed on located moments from the model's reading of the
    # question: a count, an order, a time window), "rule" (no usable model reply: the
    # text-match fallback) or "none"
    answered_by: str


class AgentState(AgentInput, AgentOutput, total=False):
    """Input, output and the working set of one investigation."""

    round: int  # rounds completed (a round ends at ``reduce``)
    reading: dict[str, Any]  # the model's structured reading of the question (QuestionReading)
    calls: list[dict[str, Any]]  # the tool calls the next ``act`` runs: [{"tool", "args", "why"}]
    called: Annotated[list[str], add_unique]  # calls already run (name + canonical args)
    candidates: Annotated[list[Finding], add_findings]  # spans retrieval pointed at
    findings: Annotated[list[Finding], add_findings]  # evidence read/heard/seen/located
    looked: Annotated[list[list[float]], add_unique]  # spans the look tools ran on
    mapped: Annotated[list[str], add_unique]  # evidence groups already answered
    partials: Annotated[list[dict[str, Any]], operator.add]  # one per mapped group
    features: dict[str, float]  # stop-rule inputs of the last reduce
    pending_stop: str  # why the loop should stop at the next decision ("" = keep going)
    trace: Annotated[list[dict[str, Any]], operator.add]
    notes: Annotated[
        list[Finding], add_findings
    ]  # session memory: observations kept across questions
    history: Annotated[list[dict[str, Any]], operator.add]  # earlier questions and answers


#: channels cleared at the start of every question (the rest belong to the session)
PER_QUESTION: dict[str, Any] = {
    "round": 0,
    "reading": {},
    "calls": [],
    "called": [],
    "candidates": [],
    "findings": [],
    "looked": [],
    "mapped": [],
    "partials": [],
    "features": {},
    "pending_stop": "",
    "trace": [],
    "answer": "",
    "answer_text": "",
    "confidence": 0.0,
    "evidence": [],
    "stop_reason": "",
    "answered_by": "none",
}

#: channels with a reducer (clearing them needs ``Overwrite``; the others are plain values)
REDUCED = frozenset(
    k
    for k, v in get_type_hints(AgentState, include_extras=True).items()
    if get_origin(v) is Annotated
)
