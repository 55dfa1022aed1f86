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
import time
from collections.abc import Callable
from typing import Any, Literal

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite, interrupt

from vidsleuth.graphs import prompts, routing
from vidsleuth.graphs.calls import (
    ask_model,
    by_role,
    call_key,
    call_schema,
    call_tool,
    offered,
    requests,
    schema_key,
)
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.evidence import (
    abstention,
    earlier_answers,
    evidence_groups,
    located_arithmetic,
    merge_candidates,
    ranked,
    span_of,
)
from vidsleuth.graphs.rounds import (
    default_first_round,
    default_next_round,
    reading_of,
    scan_call,
)
from vidsleuth.graphs.state import PER_QUESTION, REDUCED, AgentState, Finding
from vidsleuth.graphs.stop import confidence, weighs_model_opinion
from vidsleuth.options import LETTERS, shown_order

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


# ------------------------------------------------------------------------------ tools offered
# ------------------------------------------------------------------------------ reading
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
        schema = call_schema(deps, prompts.reading_schema(schema_key(tools)), "reading")
        parsed = ask_model(deps, "plan", msgs, schema, s.agent_plan_tokens, trace)
    reading = reading_of(parsed, question, options)
    calls = default_first_round(deps, question, options, reading) + requests(parsed)
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
        got = call_tool(deps, "act", name, args, trace)
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
    computed = located_arithmetic(reading, question, options, target_hits, located, s)
    if by_role(deps, "scan"):
        # Part of the video is not perceived yet (the quick first pass): a count, an order or
        # "the only one found" over what was perceived is no answer, only a lead; the model
        # reads it and the scan of the unseen parts stays open.
        for f in computed:
            if f.pop("option", None) is not None:
                f["text"] = f"{f['text']} (in the parts perceived so far)"
    findings += computed
    # Coarse to fine: look at the best spans search pointed at (cached perception, cheap).
    looks = [
        t.name
        for t in offered(deps)
        if t.role == "look" and not t.expensive and t.name in deps.registry
    ]
    pool = [*state.get("candidates", []), *candidates]
    looked = state.get("looked", [])
    spans = [sp for sp in ranked(merge_candidates(pool, gap=0.0)) if span_of(sp) not in looked]
    spans = spans[: 2 * s.agent_map_groups]
    for sp in spans:
        for name in looks:
            got = call_tool(
                deps, "act", name, {"t_start": sp["t_start"], "t_end": sp["t_end"]}, trace
            )
            findings += [{**f, "score": max(f.get("score") or 0.0, sp["score"])} for f in got or []]
    return Command(
        goto="map",
        update={
            "findings": findings,
            "candidates": candidates,
            "looked": [span_of(sp) for sp in spans],
            "called": done,
            "calls": [],
            "trace": trace,
            **({"pending_stop": "user"} if declined else {}),
        },
    )


@node("map", fallback="reduce")
def map_(state: AgentState, runtime: Deps) -> Command[Literal["reduce"]]:
    """Each new or grown evidence group -> one partial answer citing a time."""
    deps = runtime.context
    s = deps.settings
    question, options = state["question"], list(state.get("options") or [])
    schema = prompts.choice_schema(len(options)) if options else prompts.OpenPartial
    if (
        options
        and not s.agent_map_after_computed
        and not weighs_model_opinion(s.agent_stop_weights)
        and routing.computed_answers(state.get("findings", []))
    ):
        # Arithmetic on the located moments has singled out an option: the model's reading of
        # the groups could not change the answer (see routing.vote), and the stop weights give
        # how far it agrees no weight, so its replies would change nothing.
        skip = {"node": "map", "skipped": "all groups", "why": "answer computed"}
        return Command(goto="reduce", update={"trace": [skip]})
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
    earlier = earlier_answers(state)
    schemas = [t.schema() for t in offered(deps)]
    reading = state.get("reading") or {}
    model_ok = False
    for g in groups[: s.agent_map_groups]:
        if routing.tokens_left(deps) <= 0:
            pending = pending or "max_tokens"
            trace.append({"node": "map", "skipped": g["key"], "why": "token budget spent"})
            break
        lines = [prompts.finding_line(f) for f in g["findings"][: s.agent_group_lines]]
        order = list(range(len(options)))
        if s.agent_shuffle_options and options:
            order = shown_order(len(options), f"{question}\n{g['key']}")
        shown = [options[i] for i in order]
        msgs = prompts.map_messages(question, shown, lines, earlier, schemas)
        parsed = ask_model(deps, "map", msgs, schema, s.agent_answer_tokens, trace)
        done.append(g["key"])
        if parsed is None:
            continue
        model_ok = True
        cited, grounded = routing.cited_finding(g, float(parsed.time_s))
        answer = str(parsed.answer).strip()
        if options and order != sorted(order) and answer in LETTERS[: len(options)]:
            # The reply names a letter of the order shown; the vote is for the option itself,
            # and the recorded call says which one that was.
            answer = LETTERS[order[LETTERS.index(answer)]]
            trace[-1].update(shown_order=order, means=answer)
        # An option must be read, heard or seen in the evidence to be chosen from it: a line of
        # text or speech by its words; a thing by its words, or by a sighting (a label, a
        # caption) that may show it without naming it.  A vote the evidence cannot bear counts
        # little: small models pick an option while reading unrelated evidence.
        supported = True
        kind_of_options = reading.get("options_are")
        if options and kind_of_options in ("sentences", "things") and answer in LETTERS:
            i = LETTERS.index(answer)
            if i < len(options) and routing.option_support(g, options[i]) < 0.5:
                supported = kind_of_options == "things" and routing.has_sightings(g)
        partials.append(
            {
                "answer": answer,
                "confidence": float(parsed.confidence),
                "t_start": float(cited["t_start"]),
                "t_end": float(cited["t_end"]),
                "kind": str(cited.get("kind", "")),
                "basis": str(cited.get("basis") or cited.get("kind", "")),
                "grounded": grounded,
                "supported": supported,
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
    computed = routing.computed_answers(state.get("findings", []))
    winner, support, feats = routing.vote(voters, groups, computed)
    conf = confidence(feats, s.agent_stop_weights) if winner else 0.0
    rounds = state.get("round", 0) + 1
    answer_text = winner
    if options and winner and winner in LETTERS[: len(options)]:
        answer_text = options[LETTERS.index(winner)]
    answered_by = "none"
    if winner:
        sources = {p.get("source") for p in support}
        answered_by = (
            "arithmetic" if "arithmetic" in sources else "model" if "model" in sources else "rule"
        )
    evidence: list[dict[str, Any]] = []
    for p in sorted(support, key=lambda p: -p["confidence"]):
        e = {"t_start": p["t_start"], "t_end": p["t_end"], "why": p["why"] or f"supports {winner}"}
        if len(evidence) < 3 and all(
            (x["t_start"], x["t_end"]) != (e["t_start"], e["t_end"]) for x in evidence
        ):
            evidence.append(e)
    stop = routing.stop_reason(deps, conf, rounds, state.get("pending_stop", ""))
    if not stop and answered_by == "arithmetic":
        # The answer was computed from the moments the first round located for the model's
        # reading of the question; later rounds add the model's opinions, which do not change
        # it, so they would only cost time.
        stop = "computed"
    if (
        s.agent_stop_when_stable
        and not stop
        and winner
        and rounds >= 2
        and winner == state.get("answer")
    ):
        # Another round of looking found nothing against the answer: more rounds of the same
        # would only add the small model's guesses about unrelated evidence.
        fresh = [p for p in by_model if p.get("round") == rounds]
        against = [
            p
            for p in fresh
            if routing.normalise_answer(str(p["answer"]))
            not in ("", routing.normalise_answer(winner))
        ]
        if not against:
            stop = "stable"
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
        best_first = ranked([f for f in state.get("findings", []) if f.get("text")])
        lines = [prompts.finding_line(f, 120) for f in best_first[:DECIDE_LINES]]
        best = "none"
        if state.get("answer"):
            best = f"{state.get('answer_text') or state['answer']} (confidence "
            best += f"{float(state.get('confidence', 0.0)):.2f})"
        msgs = prompts.decision_messages(
            question, options, [t.schema() for t in tools], lines, _budget_line(deps, state), best
        )
        schema = call_schema(deps, prompts.decision_schema(schema_key(tools)), "decision")
        parsed = ask_model(deps, "decide", msgs, schema, s.agent_decide_tokens, trace)
    if parsed is not None and str(parsed.action) == "answer":
        trace.append({"node": "decide", "decision": "model: answer now"})
        return Command(goto="answer", update={"stop_reason": "model_stop", "trace": trace})
    called = set(state.get("called", []))
    calls = [c for c in requests(parsed) if call_key(c["tool"], c["args"]) not in called]
    scan = scan_call(deps, state)
    if calls and scan is not None and not any(c["tool"] == scan["tool"] for c in calls):
        # The model asked for more of the same although nothing was located anywhere: the
        # unseen parts of the video are looked at beside its calls.
        calls.append(scan)
        trace.append({"node": "decide", "decision": str(scan["why"])})
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
        call_tool(deps, "answer", writers[0], args, trace)
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
            "notes": ranked(keep)[:50],
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
