"""Calling tools and the model from the graph: every call validated, recorded, never raised.

A tool call runs through the registry (its arguments validated against the tool's input model)
and becomes findings plus one trace entry; a model call is charged to the budget and becomes a
parsed reply or a recorded failure.  :func:`offered` is the one place that says which tools the
model may choose, and :func:`call_schema` which schema its tool calls are asked in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from vidsleuth.graphs import prompts
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.state import Finding


def call_key(tool: str, args: dict[str, Any]) -> str:
    """A canonical name for a call, so the same call is never run twice in one question."""
    return f"{tool}:{json.dumps(args, sort_keys=True, default=str)}"


def call_tool(
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
    if getattr(deps.registry.get(tool), "role", "") == "write":
        entry["write"] = True  # a write finds nothing: the trace shows its note instead
    if not hasattr(out, "findings"):  # a plug-in with its own output model: show it as text
        text = json.dumps(out.model_dump(mode="json"), default=str)[:400]
        found = [{"t_start": 0.0, "t_end": 0.0, "kind": tool, "text": text, "source": tool}]
        entry["found"] = 1
    trace.append(entry)
    for f in found:
        f.setdefault("source", tool)
        f["source"] = f.get("source") or tool
    return found


def ask_model(
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


def call_schema(deps: AgentDeps, strict: type[BaseModel], kind: str) -> type[BaseModel]:
    """The schema a reply with tool calls is asked in.  A backend that constrains decoding gets
    the strict one (each call typed by its tool's input model, so the grammar writes only valid
    calls); an unconstrained one gets the lenient twin, so a call naming an unknown tool or bad
    arguments is refused on its own when it runs (a recorded step) instead of failing the whole
    reply.  Arguments are validated against the tool's input model when the call runs, either
    way."""
    if getattr(deps.ctx.chat, "supports_json_schema", False):
        return strict
    return lenient(kind)


def offered(deps: AgentDeps) -> list[Any]:
    """The tools the model may choose: every registered tool (built-in or plug-in) except those
    that write memory, the image look when no model can see, and the learned retriever when
    the video has no full chunk index (the quick first pass of ``ask``), and the scan of unseen
    chunks when every chunk is perceived."""
    from vidsleuth.tools.builtin import can_look, can_retrieve, unseen_chunks

    sees = can_look(deps.ctx)
    out = []
    for t in deps.registry:
        if t.role == "write":
            continue
        if t.name == "look_at_frames" and not sees:
            continue
        if t.name == "retrieve_chunks" and not can_retrieve(deps.ctx):
            continue
        if t.name == "scan_unseen" and not unseen_chunks(deps.ctx):
            continue
        out.append(t)
    return out


def schema_key(tools: Sequence[Any]) -> tuple[tuple[str, type[BaseModel]], ...]:
    return tuple((t.name, t.input_model) for t in tools)


def by_role(deps: AgentDeps, role: str) -> list[str]:
    return [t.name for t in offered(deps) if t.role == role]


def requests(parsed: Any) -> list[dict[str, Any]]:
    """The tool calls of a reading or decision, as plain ``{"tool", "args"}`` dicts."""
    out = []
    for c in getattr(parsed, "calls", None) or []:
        args = c.args.model_dump() if isinstance(c.args, BaseModel) else dict(c.args or {})
        out.append({"tool": str(c.tool), "args": args, "why": "model"})
    return out


def lenient(kind: str) -> type[BaseModel]:
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
