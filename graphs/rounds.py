"""The rounds the agent runs by default: the coarse first round every question starts with, and
the coarse-to-fine next round used when the model gives no usable decision.

The model's reading of the question (:func:`reading_of`) says what the target is; these defaults
search for the question, locate the target and the options over the whole video, and later zoom
into what the evidence pointed at.  Both are plain lists of tool calls, so a model-chosen call
and a default one run the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidsleuth.graphs import arithmetic, prompts, routing
from vidsleuth.graphs.calls import by_role, call_key
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.state import AgentState
from vidsleuth.tools.evidence import TEXT_KINDS


def guess_options_are(options: Sequence[str]) -> str:
    """What the options are when the model could not say: times, numbers, or things."""
    if not options:
        return "none"
    if all(arithmetic.parse_time_span(o) is not None for o in options):
        return "times"
    if all(o.strip().isdigit() for o in options):
        return "numbers"
    return "things"


def reading_of(parsed: Any, question: str, options: Sequence[str]) -> dict[str, Any]:
    """The reading as plain data, with safe defaults for what the model left out."""
    kinds = set(prompts.QUESTION_KINDS)
    r: dict[str, Any] = {
        "kind": "other",
        "target": question,
        "shows_as": ["any"],
        "options_are": guess_options_are(options),
        "search": [],
        "by": "default",
    }
    if parsed is not None:
        kind = str(getattr(parsed, "kind", "other"))
        r["kind"] = kind if kind in kinds else "other"
        target = " ".join(str(getattr(parsed, "target", "") or "").split())
        if target:
            r["target"] = target[:120]
        shows = [s for s in getattr(parsed, "shows_as", []) or [] if s in prompts.SHOWS_AS]
        r["shows_as"] = shows or ["any"]
        oa = str(getattr(parsed, "options_are", ""))
        if options and oa in prompts.OPTION_KINDS and oa != "none":
            # Clock times and digits have a form that can be checked: options that look like
            # them are read as such whatever the model said (a small model reads "how many
            # times" with options 2, 3, 1, 4 as times); other options keep the model's word
            # ("at nine" may well be a time).
            form = r["options_are"]
            r["options_are"] = form if form in ("times", "numbers") else oa
            if r["options_are"] == "sentences" and all(len(o.split()) == 1 for o in options):
                # a single word is no line of text or speech ("white", "cyan" read as lines
                # would be looked for only as text): such options are looked for everywhere
                r["options_are"] = "things"
        r["search"] = [" ".join(str(p).split())[:80] for p in getattr(parsed, "search", []) or []]
        r["search"] = [p for p in r["search"] if p][:3]
        r["by"] = "model"
    return r


def default_first_round(
    deps: AgentDeps, question: str, options: Sequence[str], reading: dict[str, Any]
) -> list[dict[str, Any]]:
    """The coarse first round: search memory and the retriever for the question (and the
    model's search phrases), and locate the target and every option over the whole video."""
    s = deps.settings
    calls: list[dict[str, Any]] = []
    searches = by_role(deps, "search")
    locates = by_role(deps, "locate")
    phrases = list(dict.fromkeys([question, *reading.get("search", [])]))
    for name in searches:
        if name == "retrieve_chunks":
            calls.append(
                {"tool": name, "args": {"query": question, "k": s.agent_top_k}, "why": "default"}
            )
            continue
        for p in phrases[:3]:
            calls.append({"tool": name, "args": {"query": p, "k": s.agent_top_k}, "why": "default"})
    if locates:
        # The default round locates over every kind of observation: a small model often
        # misreads how the target would show (a spoken phrase read as on-screen text), and a
        # wrong kind would hide the very moment asked about.  The model narrows kinds in the
        # calls it chooses itself.
        loc = locates[0]
        target = reading.get("target") or question
        args: dict[str, Any] = {"query": target, "k": 50}
        calls.append({"tool": loc, "args": args, "why": "default", "tag": "target"})
        # Options that are things or sentences are looked for themselves; options that are
        # clock times or bare counts are answered by arithmetic on the target instead.
        if guess_options_are(options) == "things":
            # Options that are lines of text or speech are looked for as text or speech: a
            # scene label sharing one of their words ("beacon") is no sighting of a line.
            lines = reading.get("options_are") == "sentences"
            for i, o in enumerate(options):
                a: dict[str, Any] = {"query": o, "k": 20}
                if lines:
                    a["kinds"] = list(TEXT_KINDS)
                calls.append({"tool": loc, "args": a, "why": "default", "tag": f"option:{i}"})
    return calls


def by_role_of(deps: AgentDeps, finding: dict[str, Any]) -> str:
    """The role of the tool a finding came from (its ``source`` starts with the tool name)."""
    name = str(finding.get("source", "")).split(":")[0]
    return deps.registry.get(name).role if name in deps.registry else ""


def scan_call(deps: AgentDeps, state: AgentState) -> dict[str, Any] | None:
    """Coarse to fine for perception: when nothing was located anywhere, perceive what coarse
    perception has not seen yet (a video asked about before its full index has only its
    keyframes perceived), if a tool of the role ``scan`` is offered and was not run for the
    target yet."""
    scans = by_role(deps, "scan")
    if not scans:
        return None
    findings = state.get("findings", [])
    if any(by_role_of(deps, f) in ("locate", "scan") for f in findings):
        return None
    called = set(state.get("called", []))
    if any(c.split(":", 1)[0] in scans for c in called):
        return None
    target = (state.get("reading") or {}).get("target") or state["question"]
    args: dict[str, Any] = {"query": target}
    options = list(state.get("options") or [])
    if guess_options_are(options) == "things":  # options that can be seen or read are looked for
        args["also"] = options[:8]
    return {"tool": scans[0], "args": args, "why": "default: scan the unseen"}


def default_next_round(deps: AgentDeps, state: AgentState) -> list[dict[str, Any]]:
    """Coarse to fine when the model gave no usable next step: zoom into the best evidence
    groups not zoomed yet, or widen the search when nothing with text was found."""
    s = deps.settings
    findings = [
        f for f in state.get("findings", []) if not str(f.get("source", "")).startswith("arith")
    ]
    zooms = by_role(deps, "zoom")
    called = set(state.get("called", []))
    calls: list[dict[str, Any]] = []
    scan = scan_call(deps, state)
    if scan is not None:
        return [scan]
    if zooms and any(f.get("text") for f in findings):
        pad = float(s.chunk_seconds)
        local = [f for f in findings if float(f["t_end"]) - float(f["t_start"]) <= 120]
        for g in routing.group_findings(local, gap=pad):
            args = {
                "t_start": round(max(0.0, g["t_start"] - pad), 3),
                "t_end": round(g["t_end"] + pad, 3),
                "fps": s.agent_zoom_fps,
                "max_side": s.agent_zoom_max_side,
            }
            if call_key(zooms[0], args) not in called:
                calls.append({"tool": zooms[0], "args": args, "why": "default: zoom"})
            if len(calls) >= s.agent_zoom_spans:
                break
        return calls
    widen = 2 * (1 + state.get("round", 0))
    for name in by_role(deps, "search"):
        args = {"query": state["question"], "k": min(50, s.agent_top_k * widen)}
        if call_key(name, args) not in called:
            calls.append({"tool": name, "args": args, "why": "default: widen"})
    return calls
