"""The nodes of the investigation graph.  Each returns a ``Command`` naming its next step, and
the allowed next steps are in its return type.

The model decides what to do::

    plan ──► act ──► map ──► reduce ──► answer
               ▲                │
               └──── decide ◄───┘   (not confident, budget left)

* ``plan`` asks the model for a structured reading of the question (kind, target, how it would
  show, what the options are) and queues the default coarse first round: search memory and the
  chunk retriever, locate the target and each option over the whole video, plus any tool calls
  the model asked for (it sees every tool's schema, plug-ins included).
* ``act`` runs the queued calls (each validated against its tool's input model; an unknown tool
  or bad arguments becomes a trace entry), looks at the spans search pointed at, and adds
  arithmetic on located evidence (counts, order, which time option holds a moment).
* ``map`` asks the model for one partial answer per evidence group; ``reduce`` merges them by
  vote and computes the calibrated confidence; budgets and the stop rule end the loop.
* ``decide`` shows the model the evidence so far, the budget left and the tool schemas; it
  replies with tool calls or "answer".  An unusable reply falls back to the coarse-to-fine
  default (zoom into the best evidence, or widen the search), recorded as such.

Failures never end a run: a tool error becomes a trace entry, an unusable model reply (after the
model layer's own repair and retries) is recorded and skipped, and an unexpected exception inside
a node is caught by :func:`node` and routed to the node's safe fallback.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite, interrupt
from pydantic import BaseModel

from vidsleuth.graphs import arithmetic, prompts, routing
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.state import PER_QUESTION, REDUCED, AgentState, Finding
from vidsleuth.graphs.stop import confidence
from vidsleuth.options import LETTERS

Deps = Runtime[AgentDeps]

#: most tool calls one round runs (the model's and the defaults together)
MAX_CALLS_PER_ROUND = 12
#: most evidence lines shown to the model when it decides the next step
DECIDE_LINES = 24


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


def call_key(tool: str, args: dict[str, Any]) -> str:
    """A canonical name for a call, so the same call is never run twice in one question."""
    return f"{tool}:{json.dumps(args, sort_keys=True, default=str)}"


def _call(
    deps: AgentDeps, node_name: str, tool: str, args: dict[str, Any], trace: list[dict[str, Any]]
) -> list[Finding] | None:
    """Call a tool by name; findings out, errors recorded in ``trace`` (never raised).  None
    when the call could not run (unknown tool, bad arguments, a failure inside the tool)."""
    entry: dict[str, Any] = {"node": node_name, "tool": tool, "args": args}
    try:
        out = deps.registry.call(deps.ctx, tool, args)
    except Exception as err:
        entry["error"] = str(err)
        trace.append(entry)
        return None
    found = [f.model_dump() for f in getattr(out, "findings", [])]
    entry["found"] = len(found)
    if found:  # where it found things (the evidence view draws them on the timeline)
        entry["spans"] = [[f["t_start"], f["t_end"]] for f in found[:8]]
    if getattr(out, "frames_decoded", 0):
        entry["frames_decoded"] = out.frames_decoded
    if getattr(out, "note", ""):
        entry["note"] = out.note
    if not hasattr(out, "findings"):  # a plug-in with its own output model: show it as text
        text = json.dumps(out.model_dump(mode="json"), default=str)[:400]
        found = [{"t_start": 0.0, "t_end": 0.0, "kind": tool, "text": text, "source": tool}]
        entry["found"] = 1
    trace.append(entry)
    for f in found:
        f.setdefault("source", tool)
        f["source"] = f.get("source") or tool
    return found


def _chat(
    deps: AgentDeps,
    node_name: str,
    messages: list[dict[str, Any]],
    schema: type[BaseModel],
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
    if not res.ok or res.parsed is None:
        entry["error"] = str(res.failure or "no reply")
        trace.append(entry)
        return None
    entry["reply"] = res.parsed.model_dump()
    trace.append(entry)
    return res.parsed


def _call_schema(deps: AgentDeps, strict: type[BaseModel], kind: str) -> type[BaseModel]:
    """The schema a reply with tool calls is asked in.  A backend that constrains decoding gets
    the strict one (each call typed by its tool's input model, so the grammar writes only valid
    calls); an unconstrained one gets the lenient twin, so a call naming an unknown tool or bad
    arguments is refused on its own when it runs (a recorded step) instead of failing the whole
    reply.  Arguments are validated against the tool's input model when the call runs, either
    way."""
    if getattr(deps.ctx.chat, "supports_json_schema", False):
        return strict
    return _lenient(kind)


def _ranked(items: Sequence[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (-(f.get("score") or 0.0), f["t_start"]))


def _span(f: Finding) -> list[float]:
    return [round(float(f["t_start"]), 3), round(float(f["t_end"]), 3)]


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


# ------------------------------------------------------------------------------ tools offered
def offered(deps: AgentDeps) -> list[Any]:
    """The tools the model may choose: every registered tool (built-in or plug-in) except those
    that write memory, and the image look when no model can see."""
    from vidsleuth.tools.builtin import can_look

    sees = can_look(deps.ctx)
    out = []
    for t in deps.registry:
        if t.role == "write":
            continue
        if t.name == "look_at_frames" and not sees:
            continue
        out.append(t)
    return out


def _schema_key(tools: Sequence[Any]) -> tuple[tuple[str, type[BaseModel]], ...]:
    return tuple((t.name, t.input_model) for t in tools)


def _by_role(deps: AgentDeps, role: str) -> list[str]:
    return [t.name for t in offered(deps) if t.role == role]


def _requests(parsed: Any) -> list[dict[str, Any]]:
    """The tool calls of a reading or decision, as plain ``{"tool", "args"}`` dicts."""
    out = []
    for c in getattr(parsed, "calls", None) or []:
        args = c.args.model_dump() if isinstance(c.args, BaseModel) else dict(c.args or {})
        out.append({"tool": str(c.tool), "args": args, "why": "model"})
    return out


def _lenient(kind: str) -> type[BaseModel]:
    """Looser twins of the reading and decision schemas: any tool name, any arguments."""
    from pydantic import Field

    calls: Any = (list[prompts.CallRequest], Field(default_factory=list))
    if kind == "decision":
        return prompts.model("DecisionAny", "A decision.", action=(str, "call"), calls=calls)
    return prompts.model(
        "ReadingAny",
        "A question reading.",
        kind=(str, "other"),
        target=(str, ""),
        shows_as=(list[str], Field(default_factory=list)),
        options_are=(str, "things"),
        search=(list[str], Field(default_factory=list)),
        calls=calls,
    )


# ------------------------------------------------------------------------------ reading
def guess_options_are(options: Sequence[str]) -> str:
    """What the options are when the model could not say: times, numbers, or things."""
    if not options:
        return "none"
    if all(arithmetic.parse_time_span(o) is not None for o in options):
        return "times"
    if all(o.strip().isdigit() for o in options):
        return "numbers"
    return "things"


def _reading(parsed: Any, question: str, options: Sequence[str]) -> dict[str, Any]:
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
            r["options_are"] = oa
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
    searches = _by_role(deps, "search")
    locates = _by_role(deps, "locate")
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
            for i, o in enumerate(options):
                a: dict[str, Any] = {"query": o, "k": 20}
                calls.append({"tool": loc, "args": a, "why": "default", "tag": f"option:{i}"})
    return calls


def default_next_round(deps: AgentDeps, state: AgentState) -> list[dict[str, Any]]:
    """Coarse to fine when the model gave no usable next step: zoom into the best evidence
    groups not zoomed yet, or widen the search when nothing with text was found."""
    s = deps.settings
    findings = [
        f for f in state.get("findings", []) if not str(f.get("source", "")).startswith("arith")
    ]
    zooms = _by_role(deps, "zoom")
    called = set(state.get("called", []))
    calls: list[dict[str, Any]] = []
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
    for name in _by_role(deps, "search"):
        args = {"query": state["question"], "k": min(50, s.agent_top_k * widen)}
        if call_key(name, args) not in called:
            calls.append({"tool": name, "args": args, "why": "default: widen"})
    return calls


# ------------------------------------------------------------------------------ nodes
@node("plan", fallback="act")
def plan(state: AgentState, runtime: Deps) -> Command[Literal["act"]]:
    """Start a question: clear the per-question channels, read the question, queue round one."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    update: dict[str, Any] = {
        k: Overwrite(v) if k in REDUCED else v for k, v in PER_QUESTION.items()
    }
    trace: list[dict[str, Any]] = [{"node": "plan", "question": question, "options": options}]
    tools = offered(deps)
    parsed = None
    if s.agent_plan_with_model and deps.ctx.chat is not None and routing.tokens_left(deps) > 0:
        msgs = prompts.reading_messages(question, options, [t.schema() for t in tools])
        schema = _call_schema(deps, prompts.reading_schema(_schema_key(tools)), "reading")
        parsed = _chat(deps, "plan", msgs, schema, s.agent_plan_tokens, trace)
    reading = _reading(parsed, question, options)
    calls = default_first_round(deps, question, options, reading) + _requests(parsed)
    # Observations earlier questions of this session made (what was read, heard, seen: never
    # their answers) are evidence again when they share words with this question.
    want = routing.words(" ".join([question, *options, reading["target"], *reading["search"]]))
    reused = []
    for n in state.get("notes", []):
        overlap = len(want & routing.words(str(n.get("text", ""))))
        if overlap and not routing.is_remembered_answer(n):
            src = str(n.get("source", ""))
            src = src if src.startswith("session:") else f"session:{src}"
            reused.append({**n, "source": src, "score": min(1.0, 0.2 * overlap)})
    update["findings"] = Overwrite(reused)
    update["reading"] = reading
    update["calls"] = calls
    update["trace"] = Overwrite(trace)
    return Command(goto="act", update=update)


def _confirm(deps: AgentDeps, call: dict[str, Any]) -> bool:
    """Ask the user before an expensive tool call when the session is set to (interrupt)."""
    if not deps.settings.agent_confirm_expensive:
        return True
    args = call["args"]
    spans = [[args["t_start"], args["t_end"]]] if "t_start" in args and "t_end" in args else []
    fps = float(args.get("fps", 1.0))
    frames = int(sum((b - a) * fps for a, b in spans)) or 1
    return bool(interrupt({"step": "act", "tool": call["tool"], "spans": spans, "frames": frames}))


def _located_summary(options: Sequence[str], located: dict[int, list[Finding]]) -> list[Finding]:
    """One line per option: where its words or things were located over the whole video."""
    out = []
    for i, o in enumerate(options):
        if i not in located:
            continue
        hits = sorted(located[i], key=lambda h: float(h["t_start"]))
        if hits:
            best = max(hits, key=lambda h: float(h.get("score") or 0.0))
            text = (
                f"option {LETTERS[i]} '{o}' located {len(hits)} time(s), first at "
                f"{prompts.fmt_ts(float(hits[0]['t_start']))}; best match "
                f"{best.get('kind')}: {str(best.get('text', ''))[:60]}"
            )
            a, b, score = float(best["t_start"]), float(best["t_end"]), best.get("score")
            kind = str(best.get("kind", ""))
        else:
            text = f"option {LETTERS[i]} '{o}' not located anywhere in the video"
            a, b, score, kind = 0.0, 0.0, 0.0, ""
        out.append(
            {
                "t_start": a,
                "t_end": b,
                "kind": "located",
                "text": text,
                "score": score,
                "source": "arithmetic:options",
                "basis": kind,
            }
        )
    return out


def located_arithmetic(
    reading: dict[str, Any],
    question: str,
    options: Sequence[str],
    target_hits: list[Finding] | None,
    located: dict[int, list[Finding]],
    settings: Any,
) -> list[Finding]:
    """Arithmetic on what was located over the whole video, as evidence lines the model reads.

    The model's reading says what the target is; the facts computed about it are all offered
    (a small model often misnames the question's kind, and a count it did not ask for costs
    one line): how many separate times the target was located, which option's time window
    holds it (when the options name clock times), and the order in which the options were
    first (and last) located."""
    out: list[Finding] = []
    gap = 2.0 * float(settings.chunk_seconds)
    target = str(reading.get("target") or question)
    times = reading.get("options_are") == "times" or guess_options_are(options) == "times"
    if target_hits:
        line = arithmetic.count_line(target, target_hits, gap)
        if line:
            out.append(line)
        if options and times:
            out += arithmetic.window_lines(target, options, target_hits, gap)
    if located:
        out += _located_summary(options, located)
        seq = [located.get(i, []) for i in range(len(options))]
        if sum(1 for hits in seq if hits) >= 2:
            latest = reading.get("kind") == "which_last"
            line = arithmetic.order_line(options, seq, latest=latest)
            if line:
                out.append(line)
    return out


@node("act", fallback="map")
def act(state: AgentState, runtime: Deps) -> Command[Literal["map"]]:
    """Run the queued tool calls, look at the spans search pointed at, and add arithmetic on
    what was located over the whole video."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    reading = state.get("reading") or {}
    called = set(state.get("called", []))
    trace: list[dict[str, Any]] = []
    findings: list[Finding] = []
    candidates: list[Finding] = []
    done: list[str] = []
    target_hits: list[Finding] | None = None
    located: dict[int, list[Finding]] = {}
    declined = False
    for call in state.get("calls", [])[:MAX_CALLS_PER_ROUND]:
        name, args = str(call.get("tool", "")), dict(call.get("args") or {})
        key = call_key(name, args)
        if key in called or key in done:
            trace.append({"node": "act", "tool": name, "args": args, "skipped": "already run"})
            continue
        done.append(key)
        t = deps.registry.get(name) if name in deps.registry else None
        if t is not None and t.expensive and not _confirm(deps, call):
            trace.append({"node": "act", "tool": name, "decision": "user declined", "args": args})
            declined = True
            continue
        got = _call(deps, "act", name, args, trace)
        if call.get("why") == "model":
            trace[-1]["chosen_by"] = "model"
        if got is None:
            continue
        tag = str(call.get("tag", ""))
        if tag == "target":
            target_hits = got
        elif tag.startswith("option:"):
            located[int(tag.split(":")[1])] = got
        for f in got:
            if f.get("text"):
                findings.append(f)
            # What search pointed at is worth a look, text or not (a memory summary is only
            # a hint of what the span shows).
            if not f.get("text") or (t is not None and t.role == "search"):
                candidates.append(f)
    findings += located_arithmetic(reading, question, options, target_hits, located, s)
    # Coarse to fine: look at the best spans search pointed at (cached perception, cheap).
    looks = [
        t.name
        for t in offered(deps)
        if t.role == "look" and not t.expensive and t.name in deps.registry
    ]
    pool = [*state.get("candidates", []), *candidates]
    looked = state.get("looked", [])
    spans = [sp for sp in _ranked(_merge_spans(pool, gap=0.0)) if _span(sp) not in looked]
    spans = spans[: 2 * s.agent_map_groups]
    for sp in spans:
        for name in looks:
            got = _call(deps, "act", name, {"t_start": sp["t_start"], "t_end": sp["t_end"]}, trace)
            findings += [{**f, "score": max(f.get("score") or 0.0, sp["score"])} for f in got or []]
    return Command(
        goto="map",
        update={
            "findings": findings,
            "candidates": candidates,
            "looked": [_span(sp) for sp in spans],
            "called": done,
            "calls": [],
            "trace": trace,
            **({"pending_stop": "user"} if declined else {}),
        },
    )


def _is_whole_video(f: Finding) -> bool:
    src = str(f.get("source", ""))
    return src.startswith("arithmetic") or src.startswith("find_mentions")


def evidence_groups(findings: Sequence[Finding], gap: float) -> list[dict[str, Any]]:
    """Evidence groups for map: one whole-video group (what was located over the whole video,
    and the arithmetic on it), then local groups clustered in time, best first."""
    whole = [f for f in findings if f.get("text") and _is_whole_video(f)]
    local = [f for f in findings if f.get("text") and not _is_whole_video(f)]
    groups = []
    if whole:
        # Summary lines first, then the located moments in time order.
        ordered = [f for f in whole if str(f.get("source", "")).startswith("arithmetic")]
        ordered += sorted(
            (f for f in whole if not str(f.get("source", "")).startswith("arithmetic")),
            key=lambda f: (-(f.get("score") or 0.0), f["t_start"]),
        )
        groups.append(
            {
                "key": f"located:{len(whole)}",
                "t_start": min(float(f["t_start"]) for f in whole),
                "t_end": max(float(f["t_end"]) for f in whole),
                "score": float(max((f.get("score") or 0.0) for f in whole)),
                "findings": ordered,
            }
        )
    return groups + routing.group_findings(local, gap=gap)


def _earlier(state: AgentState) -> list[str]:
    """This session's earlier questions and answers, as context lines (never evidence)."""
    out = []
    for h in state.get("history", [])[-5:]:
        a = h.get("answer_text") or h.get("answer") or "no answer"
        out.append(
            f"Q: {prompts.clean(h.get('question', ''), 200)} -> A: {prompts.clean(a, 120)} "
            f"(confidence {float(h.get('confidence', 0.0)):.2f})"
        )
    return out


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
        for g in evidence_groups(state.get("findings", []), gap=s.chunk_seconds)
        if g["key"] not in mapped
    ]
    trace: list[dict[str, Any]] = []
    partials: list[dict[str, Any]] = []
    done: list[str] = []
    pending = state.get("pending_stop", "")
    earlier = _earlier(state)
    schemas = [t.schema() for t in offered(deps)]
    model_ok = False
    for g in groups[: s.agent_map_groups]:
        if routing.tokens_left(deps) <= 0:
            pending = pending or "max_tokens"
            trace.append({"node": "map", "skipped": g["key"], "why": "token budget spent"})
            break
        lines = [prompts.finding_line(f) for f in g["findings"][: s.agent_group_lines]]
        msgs = prompts.map_messages(question, options, lines, earlier, schemas)
        parsed = _chat(deps, "map", msgs, schema, s.agent_answer_tokens, trace)
        done.append(g["key"])
        if parsed is None:
            continue
        model_ok = True
        cited, grounded = routing.cited_finding(g, float(parsed.time_s))
        partials.append(
            {
                "answer": str(parsed.answer).strip(),
                "confidence": float(parsed.confidence),
                "t_start": float(cited["t_start"]),
                "t_end": float(cited["t_end"]),
                "kind": str(cited.get("kind", "")),
                "basis": str(cited.get("basis") or cited.get("kind", "")),
                "grounded": grounded,
                "why": parsed.why or "",
                "group": g["key"],
                "group_score": g["score"],
                "round": state.get("round", 0) + 1,
                "source": "model",
            }
        )
    if (
        options
        and not model_ok
        and not any(p.get("source") == "model" for p in state.get("partials", []))
    ):
        # No model reply to be had: plain text matching of the options is the fallback, and
        # the answer says a rule gave it.
        for g in groups[: s.agent_map_groups]:
            matched = routing.option_matches(g, options)
            if matched is not None:
                matched.update(
                    group=g["key"], group_score=g["score"], round=state.get("round", 0) + 1
                )
                partials.append(matched)
                trace.append({"node": "map", "match": matched["answer"], "why": matched["why"]})
                done.append(g["key"])
    return Command(
        goto="reduce",
        update={"partials": partials, "mapped": done, "trace": trace, "pending_stop": pending},
    )


@node("reduce", fallback="answer")
def reduce(state: AgentState, runtime: Deps) -> Command[Literal["answer", "decide"]]:
    """Merge the partial answers by weighted vote, compute the calibrated confidence, and decide
    whether to stop."""
    deps = runtime.context
    s = deps.settings
    options = list(state.get("options") or [])
    groups = routing.group_findings(state.get("findings", []), gap=s.chunk_seconds)
    partials = state.get("partials", [])
    by_model = [p for p in partials if p.get("source") == "model"]
    # The model's partials decide whenever there are any; the text-match rule only without.
    voters = by_model or partials
    winner, support, feats = routing.vote(voters, groups)
    conf = confidence(feats, s.agent_stop_weights) if winner else 0.0
    rounds = state.get("round", 0) + 1
    answer_text = winner
    if options and winner and winner in LETTERS[: len(options)]:
        answer_text = options[LETTERS.index(winner)]
    answered_by = "none"
    if winner:
        answered_by = "model" if any(p.get("source") == "model" for p in support) else "rule"
    evidence: list[dict[str, Any]] = []
    for p in sorted(support, key=lambda p: -p["confidence"]):
        e = {"t_start": p["t_start"], "t_end": p["t_end"], "why": p["why"] or f"supports {winner}"}
        if len(evidence) < 3 and all(
            (x["t_start"], x["t_end"]) != (e["t_start"], e["t_end"]) for x in evidence
        ):
            evidence.append(e)
    stop = routing.stop_reason(deps, conf, rounds, state.get("pending_stop", ""))
    update = {
        "round": rounds,
        "answer": winner,
        "answer_text": answer_text,
        "confidence": round(conf, 4),
        "evidence": evidence,
        "features": feats.as_dict(),
        "answered_by": answered_by,
        "trace": [
            {
                "node": "reduce",
                "answer": winner,
                "confidence": round(conf, 4),
                "answered_by": answered_by,
                **feats.as_dict(),
                "stop": stop,
            }
        ],
    }
    if stop:
        update["stop_reason"] = stop
        return Command(goto="answer", update=update)
    return Command(goto="decide", update=update)


def _budget_line(deps: AgentDeps, state: AgentState) -> str:
    b, u = deps.ctx.budget, deps.ctx.usage
    parts = []
    if b.max_rounds is not None:
        parts.append(f"{b.max_rounds - state.get('round', 0)} round(s)")
    if b.max_frames is not None:
        parts.append(f"{max(0, b.max_frames - u.frames_decoded)} frames")
    if b.max_tokens is not None:
        parts.append(f"{max(0, b.max_tokens - u.tokens)} tokens")
    if b.max_seconds is not None:
        parts.append(f"{max(0.0, b.max_seconds - u.seconds):.0f} s")
    return ", ".join(parts) or "unlimited"


@node("decide", fallback="answer")
def decide(state: AgentState, runtime: Deps) -> Command[Literal["act", "answer"]]:
    """The model chooses the next step: tool calls (validated when they run), or answer now."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    trace: list[dict[str, Any]] = []
    tools = offered(deps)
    parsed = None
    if deps.ctx.chat is not None and routing.tokens_left(deps) > 0:
        ranked = _ranked([f for f in state.get("findings", []) if f.get("text")])
        lines = [prompts.finding_line(f, 120) for f in ranked[:DECIDE_LINES]]
        best = "none"
        if state.get("answer"):
            best = f"{state.get('answer_text') or state['answer']} (confidence "
            best += f"{float(state.get('confidence', 0.0)):.2f})"
        msgs = prompts.decision_messages(
            question, options, [t.schema() for t in tools], lines, _budget_line(deps, state), best
        )
        schema = _call_schema(deps, prompts.decision_schema(_schema_key(tools)), "decision")
        parsed = _chat(deps, "decide", msgs, schema, s.agent_decide_tokens, trace)
    if parsed is not None and str(parsed.action) == "answer":
        trace.append({"node": "decide", "decision": "model: answer now"})
        return Command(goto="answer", update={"stop_reason": "model_stop", "trace": trace})
    called = set(state.get("called", []))
    calls = [c for c in _requests(parsed) if call_key(c["tool"], c["args"]) not in called]
    if parsed is not None and not calls:
        trace.append({"node": "decide", "decision": "model asked only for calls already run"})
    if not calls:
        calls = default_next_round(deps, state)
        if calls:
            trace.append({"node": "decide", "decision": str(calls[0]["why"])})
    if not calls:
        trace.append({"node": "decide", "decision": "nothing left to try"})
        return Command(goto="answer", update={"stop_reason": "exhausted", "trace": trace})
    return Command(goto="act", update={"calls": calls, "trace": trace})


PERCEIVED_AS = {
    "ocr": "text on screen",
    "subtitle": "subtitles",
    "speech": "speech",
    "object": "detected objects",
    "tag": "scene labels",
    "caption": "captions",
    "colour": "frame colours",
}


def abstention(state: AgentState) -> dict[str, Any]:
    """The answer when no evidence supports one: for multiple choice an evenly spread guess at
    chance confidence; for an open question a sentence naming what was perceived."""
    options = list(state.get("options") or [])
    if options:
        import zlib

        i = zlib.crc32(state["question"].encode()) % len(options)
        return {
            "answer": LETTERS[i],
            "answer_text": options[i],
            "confidence": round(1.0 / len(options), 4),
            "answered_by": "none",
            "evidence": [],
        }
    seen = sorted(
        {
            PERCEIVED_AS[k]
            for f in state.get("findings", [])
            if (k := str(f.get("kind"))) in PERCEIVED_AS
        }
    )
    what = ", ".join(seen) if seen else "nothing relevant"
    return {
        "answer": "",
        "answer_text": f"The video's perceivable content ({what}) does not show this.",
        "confidence": 0.0,
        "answered_by": "none",
        "evidence": [],
    }


@node("answer", fallback=END)
def answer(state: AgentState, runtime: Deps) -> Command[Literal["__end__"]]:
    """Finish the question: record it in the session history, keep this question's observations
    as session notes, and, when confident, remember the answer as a (tagged) fact."""
    deps = runtime.context
    s = deps.settings
    trace: list[dict[str, Any]] = []
    stop = state.get("stop_reason") or "exhausted"
    answer_text = state.get("answer_text", "")
    evidence = state.get("evidence", [])
    conf = state.get("confidence", 0.0)
    abstain: dict[str, Any] = {}
    if not state.get("answer"):
        # Nothing perceived supports any answer: say so, with a low confidence, instead of
        # inventing one.  A multiple-choice answer still carries a letter (benchmarks need
        # one): a guess spread evenly over the options, never always the same position.
        if stop not in ("user",):
            trace.append({"node": "answer", "why": f"no supported answer ({stop})"})
            stop = "insufficient_evidence"
        abstain = abstention(state)
        answer_text = abstain["answer_text"]
        conf = abstain["confidence"]
    writers = [t.name for t in deps.registry if t.role == "write"]
    if (
        s.agent_remember_answers
        and answer_text
        and evidence
        and conf >= s.agent_stop_threshold
        and writers
    ):
        args = {
            "fact": f"{state['question']} -> {answer_text}",
            "question": state["question"],
            "spans": [[e["t_start"], e["t_end"]] for e in evidence],
        }
        _call(deps, "answer", writers[0], args, trace)
    keep = [
        {k: f.get(k) for k in ("t_start", "t_end", "kind", "text", "score", "source")}
        for f in state.get("findings", [])
        if f.get("text")
        and not routing.is_remembered_answer(f)
        and not str(f.get("source", "")).startswith("arithmetic")
    ]
    hist = {
        "question": state["question"],
        "answer": abstain.get("answer", state.get("answer", "")),
        "answer_text": answer_text,
        "confidence": conf,
        "stop_reason": stop,
    }
    trace.append({"node": "answer", "stop_reason": stop})
    return Command(
        goto="__end__",
        update={
            **abstain,
            "stop_reason": stop,
            "history": [hist],
            "notes": _ranked(keep)[:50],
            "trace": trace,
        },
    )


NODES: dict[str, Callable[..., Command[Any]]] = {
    "plan": plan,
    "act": act,
    "map": map_,
    "reduce": reduce,
    "decide": decide,
    "answer": answer,
}
