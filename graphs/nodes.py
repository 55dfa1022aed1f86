"""The nodes of the investigation graph.  Each returns a ``Command`` naming its next step, and
the allowed next steps are in its return type.

Round one works from the coarse index and memory (search tools, then the looking tools on the
spans they point at, which reuse cached perception); later rounds *refine*: decode only the best
spans (and their neighbours) at the zoom rate, or widen the search when nothing fitted.  The
model is used for a short plan and one short JSON reply per evidence group (map); merging the
partial answers (reduce) and the stop decision are arithmetic.

Failures never end a run: a tool error becomes a trace entry, an unusable model reply (after the
model layer's own repair and retries) is recorded and skipped, and an unexpected exception inside
a node is caught by :func:`node` and routed to the node's safe fallback.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite, interrupt

from vidsleuth.agent import prompts
from vidsleuth.graphs import routing
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.state import PER_QUESTION, REDUCED, AgentState, Finding
from vidsleuth.graphs.stop import confidence

#: tools the retrieve node may call (query in, spans out)
SEARCH_TOOLS = ("search_memory", "retrieve_chunks", "recall_entity")
#: tools the perceive node runs on a span (t_start, t_end in; findings out)
LOOK_TOOLS = ("read_text", "transcribe", "detect_objects", "look_at_frames")
#: the zoom tool of the refine node
ZOOM_TOOL = "inspect_interval"
#: the whole-video evidence locator the map node checks options with before asking the model
LOCATE_TOOL = "find_mentions"
#: the session-memory writer called when an answer is confident
REMEMBER_TOOL = "remember_fact"

Deps = Runtime[AgentDeps]


# ------------------------------------------------------------------------------ plumbing
def node(
    name: str, fallback: str
) -> Callable[[Callable[..., Command[Any]]], Callable[..., Command[Any]]]:
    """Time a node into ``usage.node_seconds`` and turn an unexpected exception into a trace
    entry plus a jump to ``fallback`` (so a bug in one step cannot kill the run)."""

    def deco(fn: Callable[..., Command[Any]]) -> Callable[..., Command[Any]]:
        @functools.wraps(fn)
        def run(state: AgentState, runtime: Deps) -> Command[Any]:
            t0 = time.perf_counter()
            try:
                return fn(state, runtime)
            except GraphBubbleUp:  # interrupt() and friends are control flow, not failures
                raise
            except Exception as err:  # a node's bug becomes a recorded step, never a crash
                entry = {"node": name, "error": f"{type(err).__name__}: {err}"}
                return Command(goto=fallback, update={"trace": [entry]})
            finally:
                runtime.context.ctx.usage.add_node_time(name, time.perf_counter() - t0)

        return run

    return deco


def _call(
    deps: AgentDeps, node_name: str, tool: str, args: dict[str, Any], trace: list[dict[str, Any]]
) -> list[Finding]:
    """Call a tool by name; findings out, errors recorded in ``trace`` (never raised)."""
    entry: dict[str, Any] = {"node": node_name, "tool": tool, "args": args}
    try:
        out = deps.registry.call(deps.ctx, tool, args)
    except Exception as err:
        entry["error"] = str(err)
        trace.append(entry)
        return []
    found = [f.model_dump() for f in getattr(out, "findings", [])]
    entry["found"] = len(found)
    if getattr(out, "frames_decoded", 0):
        entry["frames_decoded"] = out.frames_decoded
    if getattr(out, "note", ""):
        entry["note"] = out.note
    trace.append(entry)
    return found


def _chat(
    deps: AgentDeps,
    node_name: str,
    messages: list[dict[str, Any]],
    schema: type[Any],
    max_tokens: int,
    trace: list[dict[str, Any]],
) -> Any:
    """One structured model call, charged to the budget; None (recorded) when it failed."""
    ctx = deps.ctx
    if ctx.chat is None:
        trace.append({"node": node_name, "model": "none", "error": "no chat model configured"})
        return None
    try:
        res = ctx.chat.chat(messages, max_tokens=max_tokens, temperature=0.0, schema=schema)
    except Exception as err:  # the model could not run at all (server down, context full)
        trace.append({"node": node_name, "model": ctx.chat.id, "error": str(err)})
        return None
    ctx.charge_model(res.usage)
    entry: dict[str, Any] = {
        "node": node_name,
        "model": ctx.chat.id,
        "tokens": res.usage.prompt_tokens + res.usage.completion_tokens,
    }
    if res.usage.retries:
        entry["retries"] = res.usage.retries
    if not res.ok:
        entry["error"] = str(res.failure)
        trace.append(entry)
        return None
    entry["reply"] = res.parsed.model_dump() if res.parsed is not None else res.text
    trace.append(entry)
    return res.parsed


def _span(f: Finding) -> list[float]:
    return [round(float(f["t_start"]), 3), round(float(f["t_end"]), 3)]


def _ranked(items: Sequence[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (-(f.get("score") or 0.0), f["t_start"]))


def _merge_spans(spans: Sequence[Finding], gap: float) -> list[Finding]:
    """Candidate spans merged when they touch (so neighbouring chunks are looked at once)."""
    out: list[Finding] = []
    for f in sorted(spans, key=lambda f: f["t_start"]):
        if out and f["t_start"] <= out[-1]["t_end"] + gap:
            last = out[-1]
            last["t_end"] = max(last["t_end"], f["t_end"])
            last["score"] = max(last.get("score") or 0.0, f.get("score") or 0.0)
        else:
            out.append(
                {"t_start": f["t_start"], "t_end": f["t_end"], "score": f.get("score") or 0.0}
            )
    return out


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


# ------------------------------------------------------------------------------ nodes
@node("plan", fallback="retrieve")
def plan(state: AgentState, runtime: Deps) -> Command[Literal["retrieve"]]:
    """Start a question: clear the per-question channels and decide what to look for."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    update: dict[str, Any] = {
        k: Overwrite(v) if k in REDUCED else v for k, v in PER_QUESTION.items()
    }
    trace: list[dict[str, Any]] = [{"node": "plan", "question": question, "options": options}]
    # Option texts are the best search phrases for a multiple-choice needle question.
    look_for = [question, *options]
    sees = deps.ctx.chat is not None and deps.ctx.chat.supports_images
    tools = [t for t in LOOK_TOOLS if t in deps.registry and (t != "look_at_frames" or sees)]
    # With options and a whole-video locator, the option texts are the plan (the map node
    # checks each against the video); the model plans the rest.
    if (
        s.agent_plan_with_model
        and not (options and LOCATE_TOOL in deps.registry)
        and deps.ctx.chat is not None
        and routing.tokens_left(deps) > 0
    ):
        parsed = _chat(
            deps, "plan", prompts.plan_messages(question, options, tools), prompts.Plan, 80, trace
        )
        if parsed is not None:
            extra = [p.strip() for p in parsed.look_for if p and p.strip()][:4]
            look_for = list(dict.fromkeys([*look_for, *extra]))
            chosen = [t for t in parsed.tools if t in tools]
            tools = chosen or tools
    update["plan"] = {"look_for": look_for, "tools": tools}
    update["trace"] = Overwrite(trace)
    return Command(goto="retrieve", update=update)


@node("retrieve", fallback="perceive")
def retrieve(state: AgentState, runtime: Deps) -> Command[Literal["perceive"]]:
    """Search memory and the chunk retriever (and session notes) for spans worth a look."""
    deps = runtime.context
    s = deps.settings
    k = s.agent_top_k * (1 + state.get("widen", 0))
    look_for = state.get("plan", {}).get("look_for") or [state["question"]]
    trace: list[dict[str, Any]] = []
    candidates: list[Finding] = []
    evidence: list[Finding] = []
    if "search_memory" in deps.registry:
        for q in look_for:
            for f in _call(deps, "retrieve", "search_memory", {"query": q, "k": k}, trace):
                candidates.append(f)
                if f.get("text"):
                    evidence.append(f)
    if "retrieve_chunks" in deps.registry:
        candidates += _call(
            deps, "retrieve", "retrieve_chunks", {"query": state["question"], "k": k}, trace
        )
    if "recall_entity" in deps.registry and "recall_entity" in state.get("plan", {}).get(
        "tools", []
    ):
        for q in look_for[1:]:
            evidence += _call(deps, "retrieve", "recall_entity", {"name": q}, trace)
    # Session memory: what earlier questions of this session found, matched by shared words.
    want = set().union(*(_words(q) for q in look_for))
    for n in state.get("notes", []):
        overlap = len(want & _words(str(n.get("text", ""))))
        if overlap:
            evidence.append({**n, "source": "session", "score": min(1.0, 0.2 * overlap)})
    # An earlier answer to this very question is not evidence for it: re-asking re-investigates.
    asked = " ".join(state["question"].lower().split())
    evidence = [
        f
        for f in evidence
        if not (
            routing.is_remembered_answer(f)
            and asked in " ".join(str(f.get("text", "")).lower().split())
        )
    ]
    trace.append({"node": "retrieve", "candidates": len(candidates), "evidence": len(evidence)})
    return Command(
        goto="perceive", update={"candidates": candidates, "findings": evidence, "trace": trace}
    )


@node("perceive", fallback="remember")
def perceive(state: AgentState, runtime: Deps) -> Command[Literal["remember"]]:
    """Run the looking tools on the best candidate spans not looked at yet (cached perception
    makes this cheap on an indexed video; decoded frames are charged to the budget)."""
    deps = runtime.context
    s = deps.settings
    tools = [t for t in state.get("plan", {}).get("tools", []) if t in deps.registry]
    looked = state.get("looked", [])
    spans = [
        sp
        for sp in _ranked(_merge_spans(state.get("candidates", []), gap=0.0))
        if _span(sp) not in looked
    ][: 2 * s.agent_map_groups]
    trace: list[dict[str, Any]] = []
    found: list[Finding] = []
    for sp in spans:
        for name in tools:
            if deps.registry.get(name).expensive and deps.ctx.frames_left() == 0:
                trace.append({"node": "perceive", "tool": name, "skipped": "frame budget spent"})
                continue
            got = _call(
                deps, "perceive", name, {"t_start": sp["t_start"], "t_end": sp["t_end"]}, trace
            )
            # A finding inherits the retrieval score of the span it was found in.
            found += [{**f, "score": max(f.get("score") or 0.0, sp["score"])} for f in got]
    return Command(
        goto="remember",
        update={"findings": found, "looked": [_span(sp) for sp in spans], "trace": trace},
    )


@node("remember", fallback="reflect")
def remember(state: AgentState, runtime: Deps) -> Command[Literal["reflect"]]:
    """Keep what this question found in the session's notes (checkpointed with the thread), so
    later questions of the session start from it."""
    keep = [
        {k: f.get(k) for k in ("t_start", "t_end", "kind", "text", "score", "source")}
        for f in state.get("findings", [])
        if f.get("text") and f.get("source") != "session"
    ]
    return Command(goto="reflect", update={"notes": _ranked(keep)[:50]})


@node("reflect", fallback="map")
def reflect(state: AgentState, runtime: Deps) -> Command[Literal["map", "refine", "answer"]]:
    """Judge the evidence: answer from it, look closer, or stop when there is none to be had."""
    deps = runtime.context
    has_text = any(f.get("text") for f in state.get("findings", []))
    spent = routing.budget_stop(deps, state.get("round", 0))
    if has_text:
        return Command(goto="map", update={"pending_stop": spent or ""})
    if spent is None and state.get("widen", 0) < routing.MAX_WIDEN:
        return Command(
            goto="refine",
            update={"trace": [{"node": "reflect", "decision": "no evidence: refine"}]},
        )
    return Command(goto="answer", update={"stop_reason": spent or "no_evidence"})


@node("refine", fallback="reflect")
def refine(state: AgentState, runtime: Deps) -> Command[Literal["remember", "retrieve", "map"]]:
    """Zoom into the best spans (and their neighbours) at the zoom rate, or widen the search
    when nothing fitted.  Only what is zoomed into is decoded."""
    deps = runtime.context
    s = deps.settings
    trace: list[dict[str, Any]] = []
    findings = state.get("findings", [])
    if not any(f.get("text") for f in findings) or ZOOM_TOOL not in deps.registry:
        trace.append({"node": "refine", "decision": "widen search"})
        return Command(goto="retrieve", update={"widen": state.get("widen", 0) + 1, "trace": trace})
    pad = float(s.chunk_seconds)
    zoomed = state.get("zoomed", [])
    groups = routing.group_findings(findings, gap=pad)
    targets = []
    for g in groups:
        span = [round(max(0.0, g["t_start"] - pad), 3), round(g["t_end"] + pad, 3)]
        if span not in zoomed:
            targets.append(span)
        if len(targets) >= s.agent_zoom_spans:
            break
    if not targets:
        trace.append({"node": "refine", "decision": "nothing left to zoom into"})
        return Command(goto="map", update={"pending_stop": "exhausted", "trace": trace})
    if s.agent_confirm_expensive:
        frames = int(sum((b - a) * s.agent_zoom_fps for a, b in targets))
        ok = interrupt({"step": "refine", "spans": targets, "frames": frames})
        if not ok:
            trace.append({"node": "refine", "decision": "user declined the zoom"})
            return Command(goto="map", update={"pending_stop": "user", "trace": trace})
    found: list[Finding] = []
    done = []
    for a, b in targets:
        left = deps.ctx.frames_left()
        if left is not None and left <= 0:
            trace.append({"node": "refine", "skipped": [a, b], "why": "frame budget spent"})
            continue
        args = {
            "t_start": a,
            "t_end": b,
            "fps": s.agent_zoom_fps,
            "max_side": s.agent_zoom_max_side,
            "looks": state.get("plan", {}).get("tools", []),
        }
        found += _call(deps, "refine", ZOOM_TOOL, args, trace)
        done.append([a, b])
    return Command(goto="remember", update={"findings": found, "zoomed": done, "trace": trace})


def _resolve(
    deps: AgentDeps, state: AgentState, trace: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A partial answer decided by located evidence (once per question), or None."""
    options = list(state.get("options") or [])
    if not options or LOCATE_TOOL not in deps.registry:
        return None
    if any(p.get("source") == "resolve" for p in state.get("partials", [])):
        return None
    if any(t.get("node") == "map" and t.get("resolve") for t in state.get("trace", [])):
        return None  # tried in an earlier round and undecided: the model decides now

    def locate(description: str) -> list[Finding]:
        return _call(deps, "map", LOCATE_TOOL, {"query": description, "k": 50}, trace)

    got = routing.resolve_choice(state["question"], options, locate)
    trace.append(
        {
            "node": "map",
            "resolve": got["answer"] if got else "undecided",
            **({"why": got["why"]} if got else {}),
        }
    )
    if got is None:
        return None
    got.update(group="resolve", group_score=1.0, round=state.get("round", 0) + 1)
    return got


@node("map", fallback="reduce")
def map_(state: AgentState, runtime: Deps) -> Command[Literal["reduce"]]:
    """Each new or grown evidence group -> one partial answer citing a time."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    schema = prompts.choice_schema(len(options)) if options else prompts.OpenPartial
    mapped = state.get("mapped", [])
    groups = [
        g
        for g in routing.group_findings(state.get("findings", []), gap=s.chunk_seconds)
        if g["key"] not in mapped
    ]
    trace: list[dict[str, Any]] = []
    partials: list[dict[str, Any]] = []
    done: list[str] = []
    pending = state.get("pending_stop", "")
    resolved = _resolve(deps, state, trace)
    if resolved is not None:
        # Located evidence decided the question: no model call (each costs 5-60 s on a CPU).
        partials.append(resolved)
        groups = []
    for g in groups[: s.agent_map_groups]:
        matched = routing.option_matches(g, options) if options else None
        if matched is not None:
            matched.update(group=g["key"], group_score=g["score"], round=state.get("round", 0) + 1)
            partials.append(matched)
            trace.append({"node": "map", "match": matched["answer"], "why": matched["why"]})
        if routing.tokens_left(deps) <= 0:
            pending = pending or "max_tokens"
            trace.append({"node": "map", "skipped": g["key"], "why": "token budget spent"})
            break
        lines = [prompts.finding_line(f) for f in g["findings"][: s.agent_group_lines]]
        msgs = prompts.map_messages(question, options, lines)
        parsed = _chat(deps, "map", msgs, schema, s.agent_answer_tokens, trace)
        done.append(g["key"])
        if parsed is None:
            continue
        t0, t1 = routing.cited_span(g, float(parsed.time_s))
        partials.append(
            {
                "answer": str(parsed.answer).strip(),
                "confidence": float(parsed.confidence),
                "t_start": t0,
                "t_end": t1,
                "why": parsed.why or "",
                "group": g["key"],
                "group_score": g["score"],
                "round": state.get("round", 0) + 1,
            }
        )
    return Command(
        goto="reduce",
        update={"partials": partials, "mapped": done, "trace": trace, "pending_stop": pending},
    )


@node("reduce", fallback="answer")
def reduce(state: AgentState, runtime: Deps) -> Command[Literal["answer", "refine"]]:
    """Merge the partial answers by weighted vote, compute the calibrated confidence, and decide
    whether to stop."""
    deps = runtime.context
    s = deps.settings
    options = list(state.get("options") or [])
    groups = routing.group_findings(state.get("findings", []), gap=s.chunk_seconds)
    winner, support, feats = routing.vote(state.get("partials", []), groups)
    conf = confidence(feats, s.agent_stop_weights) if winner else 0.0
    rounds = state.get("round", 0) + 1
    answer_text = winner
    if options and winner and winner in prompts.LETTERS[: len(options)]:
        answer_text = options[prompts.LETTERS.index(winner)]
    evidence = [
        {"t_start": p["t_start"], "t_end": p["t_end"], "why": p["why"] or f"supports {winner}"}
        for p in sorted(support, key=lambda p: -p["confidence"])[:3]
    ]
    stop = routing.stop_reason(deps, conf, rounds, state.get("pending_stop", ""))
    update = {
        "round": rounds,
        "answer": winner,
        "answer_text": answer_text,
        "confidence": round(conf, 4),
        "evidence": evidence,
        "features": feats.as_dict(),
        "trace": [
            {
                "node": "reduce",
                "answer": winner,
                "confidence": round(conf, 4),
                **feats.as_dict(),
                "stop": stop,
            }
        ],
    }
    if stop:
        update["stop_reason"] = stop
        return Command(goto="answer", update=update)
    return Command(goto="refine", update=update)


@node("answer", fallback=END)
def answer(state: AgentState, runtime: Deps) -> Command[Literal["__end__"]]:
    """Finish the question: record it in the session history and, when confident, remember the
    answer as a fact in session memory."""
    deps = runtime.context
    s = deps.settings
    trace: list[dict[str, Any]] = []
    stop = state.get("stop_reason") or "no_evidence"
    answer_text = state.get("answer_text", "")
    evidence = state.get("evidence", [])
    conf = state.get("confidence", 0.0)
    if (
        answer_text
        and evidence
        and conf >= s.agent_stop_threshold
        and REMEMBER_TOOL in deps.registry
    ):
        fact = f"{state['question']} -> {answer_text}"
        args = {
            "fact": fact,
            "question": state["question"],
            "spans": [[e["t_start"], e["t_end"]] for e in evidence],
        }
        _call(deps, "answer", REMEMBER_TOOL, args, trace)
    note = []
    if answer_text and evidence:
        e = evidence[0]
        note = [
            {
                "t_start": e["t_start"],
                "t_end": e["t_end"],
                "kind": "answer",
                "text": f"Q: {state['question']} A: {answer_text}",
                "score": conf,
                "source": "session",
            }
        ]
    hist = {
        "question": state["question"],
        "answer": state.get("answer", ""),
        "confidence": conf,
        "stop_reason": stop,
    }
    trace.append({"node": "answer", "stop_reason": stop})
    return Command(
        goto=END,
        update={"stop_reason": stop, "history": [hist], "notes": note, "trace": trace},
    )


NODES: dict[str, Callable[..., Command[Any]]] = {
    "plan": plan,
    "retrieve": retrieve,
    "perceive": perceive,
    "remember": remember,
    "reflect": reflect,
    "refine": refine,
    "map": map_,
    "reduce": reduce,
    "answer": answer,
}
