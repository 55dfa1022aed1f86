"""Routing decisions and the arithmetic behind them: budgets, evidence groups, the vote.

Kept apart from the nodes so each rule is a small pure function with its own tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.state import Finding
from vidsleuth.graphs.stop import EXACT_KINDS, LABEL_KINDS, StopFeatures
from vidsleuth.options import LETTERS
from vidsleuth.tools.base import exhausted

#: times the search may be widened when nothing fitted, before the agent gives up
MAX_WIDEN = 2
#: longest evidence group (seconds): one map prompt stays about one moment
MAX_GROUP_SECONDS = 60.0


def tokens_left(deps: AgentDeps) -> float:
    b = deps.ctx.budget.max_tokens
    return math.inf if b is None else b - deps.ctx.usage.tokens


def budget_stop(deps: AgentDeps, rounds_done: int) -> str | None:
    """The budget that has run out (``max_rounds``, ``max_frames``, ``max_tokens``,
    ``max_seconds``), or None."""
    return exhausted(deps.ctx.budget, deps.ctx.usage, rounds_done)


def stop_reason(deps: AgentDeps, conf: float, rounds_done: int, pending: str = "") -> str:
    """Why to stop now ("" = keep investigating).  Confidence first: a confident answer found
    on the last affordable round is reported as confident, not as out of budget."""
    if conf >= deps.settings.agent_stop_threshold:
        return "confident"
    if pending:
        return pending
    return budget_stop(deps, rounds_done) or ""


def group_findings(findings: Sequence[Finding], gap: float) -> list[dict[str, Any]]:
    """Findings with text, clustered in time (touching within ``gap`` s, at most
    :data:`MAX_GROUP_SECONDS` long), best group first.  Each group is ``{key, t_start, t_end,
    score, findings}`` with its findings best first; ``key`` changes when a group grows, so a
    group that zooming added evidence to is answered again."""
    items = sorted((f for f in findings if f.get("text")), key=lambda f: (f["t_start"], f["t_end"]))
    groups: list[dict[str, Any]] = []
    for f in items:
        g = groups[-1] if groups else None
        if (
            g is not None
            and f["t_start"] <= g["t_end"] + gap
            and max(g["t_end"], f["t_end"]) - g["t_start"] <= MAX_GROUP_SECONDS
        ):
            g["t_end"] = max(g["t_end"], f["t_end"])
            g["findings"].append(f)
        else:
            groups.append({"t_start": f["t_start"], "t_end": f["t_end"], "findings": [f]})
    for g in groups:
        g["findings"].sort(key=lambda f: (-(f.get("score") or 0.0), f["t_start"]))
        g["score"] = float(max((f.get("score") or 0.0) for f in g["findings"]))
        g["key"] = f"{g['t_start']:.1f}-{g['t_end']:.1f}:{len(g['findings'])}"
    groups.sort(key=lambda g: (-g["score"], g["t_start"]))
    return groups


def cited_finding(group: dict[str, Any], time_s: float) -> tuple[Finding, bool]:
    """The evidence line a partial answer citing ``time_s`` rests on, and whether the citation
    matched one: the finding at that time in the group, else the group's best finding (small
    models often cite a wrong time; an unmatched citation is *grounded* = False)."""
    fs = group["findings"]
    at = [f for f in fs if f["t_start"] - 1.0 <= time_s <= f["t_end"] + 1.0]

    def fit(f: Finding) -> tuple[bool, float]:  # inside [start, end) first, then the shortest
        return (not f["t_start"] <= time_s < f["t_end"], f["t_end"] - f["t_start"])

    return (min(at, key=fit), True) if at else (fs[0], False)


def cited_span(group: dict[str, Any], time_s: float) -> tuple[float, float]:
    """The evidence span for a partial answer citing ``time_s`` (see :func:`cited_finding`)."""
    best, _ = cited_finding(group, time_s)
    return float(best["t_start"]), float(best["t_end"])


_PUNCT = re.compile(r"[^\w\s]")


def normalise_answer(answer: str) -> str:
    a = " ".join(_PUNCT.sub(" ", answer.lower()).split())
    return "" if a in ("", "none", "unknown", "n a") else a


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _basis(p: dict[str, Any]) -> str:
    return str(p.get("basis") or p.get("kind") or "")


#: observation kinds that show a thing without naming it in words
SIGHT_KINDS = frozenset({"object", "tag", "colour", "caption"})


def trust(p: dict[str, Any]) -> float:
    """How much of a partial's stated confidence counts: half when its citation matched no
    evidence line (``grounded`` False), a fifth when it chose an option its evidence cannot bear
    (``supported`` False: see the map node)."""
    t = 1.0 if p.get("grounded", True) else 0.5
    return t * (1.0 if p.get("supported", True) else 0.2)


def option_support(group: dict[str, Any], option: str) -> float:
    """The largest share of ``option``'s words that one observation of the group holds.

    Lines that restate the options (the arithmetic summaries) and the agent's own earlier
    answers are not observations and do not count."""
    want = _tokens(option)
    if not want:
        return 1.0
    best = 0.0
    for f in group["findings"]:
        if str(f.get("source", "")).startswith("arithmetic") or is_remembered_answer(f):
            continue
        # OCR often merges words ("HANGAR9LOCKS"): a word of 3 letters or more counts when it
        # is inside the text, a shorter one only as a word of its own
        words = _TOKEN.findall(str(f.get("text", "")).lower())
        joined, alone = "".join(words), set(words)
        got = sum(w in alone or (len(w) >= 3 and w in joined) for w in want)
        best = max(best, got / len(want))
    return best


def has_sightings(group: dict[str, Any]) -> bool:
    """Whether the group holds something seen rather than read or heard (a detector or scene
    label, a full-frame colour, a VLM caption)."""
    return any(str(f.get("kind", "")) in SIGHT_KINDS for f in group["findings"])


def computed_answers(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The option letters that arithmetic on located evidence singled out (the count that is
    one option's number, the only time window holding the target, the option located first),
    as partial answers with ``source = "arithmetic"``."""
    out = []
    for f in findings:
        letter = f.get("option")
        if not (isinstance(letter, str) and letter in LETTERS):
            continue
        out.append(
            {
                "answer": letter,
                "confidence": 1.0,
                "t_start": float(f["t_start"]),
                "t_end": float(f["t_end"]),
                "kind": str(f.get("kind", "")),
                "basis": str(f.get("basis") or ""),
                "grounded": True,
                "supported": True,
                "why": str(f.get("text", ""))[:160],
                "group_score": float(f.get("score") or 0.0),
                "source": "arithmetic",
            }
        )
    return out


def _same_moment(a: tuple[float, float], b: tuple[float, float], slack: float = 1.0) -> bool:
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def vote(
    partials: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
    computed: Sequence[dict[str, Any]] = (),
) -> tuple[str, list[dict[str, Any]], StopFeatures]:
    """Merge partial answers: weight = stated confidence x :func:`trust` x (0.5 + group
    retrieval score), each piece of evidence counted once per answer (partials citing the
    same or an overlapping moment for the same answer are one vote: the strongest; the same
    line heard by two tools is one observation).

    ``computed`` answers (:func:`computed_answers`) decide when there are any: a count, an
    order or a time window computed from located moments is what the model would be asked to
    read off the same lines, and a small model misreads them.  The model's partials then only
    say how far it agrees (``agreement``, ``stated``).

    Returns the winning answer (an option letter as given, or the first spelling of an open
    answer; "" when every partial abstained), the partials backing it, and the stop features.
    """
    best: dict[tuple[str, tuple[float, float]], float] = {}
    spelled: dict[str, str] = {}
    for p in partials:
        key = normalise_answer(str(p["answer"]))
        if not key:
            continue
        stated = max(0.0, float(p["confidence"])) * trust(p)
        w = stated * (0.5 + max(0.0, float(p.get("group_score") or 0.0)))
        cite = (round(float(p["t_start"]), 1), round(float(p["t_end"]), 1))
        same = next((c for k, c in best if k == key and _same_moment(c, cite)), None)
        cite = same or cite
        best[(key, cite)] = max(best.get((key, cite), 0.0), w)
        spelled.setdefault(key, str(p["answer"]).strip())
    if computed:
        return _computed_vote(partials, groups, computed, best)
    if not best:
        return "", [], StopFeatures()
    weights: dict[str, float] = {}
    for (key, _), w in best.items():
        weights[key] = weights.get(key, 0.0) + w

    def best_score(key: str) -> float:
        return max(
            float(p.get("group_score") or 0.0)
            for p in partials
            if normalise_answer(str(p["answer"])) == key
        )

    win = max(weights, key=lambda k: (weights[k], best_score(k)))
    support = [p for p in partials if normalise_answer(str(p["answer"])) == win]
    total = sum(weights.values())
    agreement = weights[win] / total if total > 0 else 1.0 / len(weights)
    stated = max(float(p["confidence"]) * trust(p) for p in support)
    s_win = best_score(win)
    margin = _margin(s_win, partials, groups, win, support)
    feats = StopFeatures(agreement=agreement, stated=stated, margin=margin, **_kinds(support))
    return spelled[win], support, feats


def _margin(
    s_win: float,
    partials: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
    win: str,
    support: Sequence[dict[str, Any]],
) -> float:
    """Score of the best span backing the winner minus the best backing anything else (or of
    the best evidence group the winner's spans do not cover)."""
    spans = [(float(p["t_start"]), float(p["t_end"])) for p in support]
    others = [
        float(p.get("group_score") or 0.0)
        for p in partials
        if normalise_answer(str(p["answer"])) not in ("", win)
    ]
    others += [
        float(g["score"])
        for g in groups
        if not any(_overlaps((g["t_start"], g["t_end"]), sp) for sp in spans)
    ]
    return max(-1.0, min(1.0, s_win - max(others, default=0.0)))


def _kinds(support: Sequence[dict[str, Any]]) -> dict[str, float]:
    bases = {_basis(p) for p in support}
    exact = 1.0 if bases & EXACT_KINDS else 0.0
    label = 1.0 if not exact and bases & LABEL_KINDS else 0.0
    return {"exact": exact, "label": label}


def _computed_vote(
    partials: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
    computed: Sequence[dict[str, Any]],
    best: dict[tuple[str, tuple[float, float]], float],
) -> tuple[str, list[dict[str, Any]], StopFeatures]:
    """The vote when arithmetic singled out an option (see :func:`vote`)."""
    letters = [str(c["answer"]) for c in computed]
    win_spelled = max(dict.fromkeys(letters), key=letters.count)  # most often; ties: first
    win = normalise_answer(win_spelled)
    total = sum(best.values())
    agree = sum(w for (k, _), w in best.items() if k == win)
    by_model = [p for p in partials if normalise_answer(str(p["answer"])) == win]
    support = [c for c in computed if normalise_answer(str(c["answer"])) == win] + by_model
    stated = max((float(p["confidence"]) * trust(p) for p in by_model), default=0.0)
    s_win = max(float(p.get("group_score") or 0.0) for p in support)
    feats = StopFeatures(
        agreement=agree / total if total > 0 else 0.0,
        stated=stated,
        margin=_margin(s_win, partials, groups, win, support),
        computed=1.0,
        **_kinds(support),
    )
    return win_spelled, support, feats


_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> set[str]:
    return {w for w in _TOKEN.findall(text.lower()) if len(w) > 1 or w.isdigit()}


def words(text: str) -> set[str]:
    """Content words (three letters or more) of a text, for matching notes to a question."""
    return {w for w in _TOKEN.findall(text.lower()) if len(w) > 2}


def option_matches(
    group: dict[str, Any], options: Sequence[str], *, min_share: float = 0.6, lead: float = 0.2
) -> dict[str, Any] | None:
    """A partial answer from plain text matching: the option whose words appear in a finding
    of the group, when one option clearly leads.

    Used only when no model reply could be had (no model configured, the model failed): the
    answer is then marked ``answered_by = "rule"``.  It never votes beside the model, because
    the model reading the same line is not an independent second opinion."""
    best: list[tuple[float, int, Finding]] = []
    for i, opt in enumerate(options):
        want = _tokens(opt)
        if not want:
            continue
        share, at = 0.0, group["findings"][0]
        for f in group["findings"]:
            if is_remembered_answer(f):
                continue  # the agent's own earlier answers are not evidence
            got = len(want & _tokens(str(f.get("text", "")))) / len(want)
            if got > share:
                share, at = got, f
        best.append((share, i, at))
    best.sort(key=lambda x: -x[0])
    if not best or best[0][0] < min_share:
        return None
    if len(best) > 1 and best[0][0] - best[1][0] < lead:
        return None
    share, i, f = best[0]
    letter = LETTERS[i]
    return {
        "answer": letter,
        "confidence": round(0.9 * share, 4),
        "t_start": float(f["t_start"]),
        "t_end": float(f["t_end"]),
        "why": f"{f.get('kind', '')} {str(f.get('text', ''))[:80]!r} matches option {letter}",
        "source": "match",
    }


def is_remembered_answer(f: Finding) -> bool:
    """A finding that is an answer the agent gave earlier (a remembered session fact)."""
    return f.get("kind") in ("answer", "memory.fact") or str(f.get("source", "")).endswith(
        ":session"
    )
