"""What a tool is, and the runtime context every tool call receives.

A tool is a small typed unit: a name and description the model reads, a pydantic input model
whose JSON schema is what the model fills in, a pydantic output model, and a function
``fn(ctx, inp) -> out``.  Runtime handles (the store, the models, the video being investigated,
settings, budgets and cost accounting) travel in :class:`ToolContext`, which never appears in any
schema shown to a model (the pydantic-ai "deps" idea): the model cannot invent or see them.

The contract is checked when a :class:`Tool` is built (a bad name, an input model that cannot
produce a JSON schema, a function of the wrong shape all fail at import), not when a model first
calls the tool (the smolagents lesson).
"""

from __future__ import annotations

import inspect
import re
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from vidsleuth.errors import VidsleuthError

if TYPE_CHECKING:
    from vidsleuth.memory.store import Store, VideoRecord
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.base import ChatModel, Cost

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
I = TypeVar("I", bound=BaseModel)  # noqa: E741 - the conventional input/output pair
O = TypeVar("O", bound=BaseModel)  # noqa: E741


class ToolDefinitionError(VidsleuthError, TypeError):
    """A tool whose contract is broken (raised when it is defined or registered, never later)."""


class ToolCallError(VidsleuthError):
    """A tool call that could not run: unknown tool, arguments that do not fit its schema, or a
    failure inside the tool.  The agent records it in its trace and carries on."""


# --------------------------------------------------------------------------------------------
# Budgets and accounting
# --------------------------------------------------------------------------------------------


@dataclass
class Budget:
    """Limits of one question.  Every limit is enforced by the graph; ``None`` means unlimited."""

    max_rounds: int | None = 3
    max_frames: int | None = 600
    max_tokens: int | None = 12_000
    max_seconds: float | None = 600.0


@dataclass
class Usage:
    """What one question has spent so far (the ``cost`` of an answer).

    ``frames_decoded`` counts frames decoded *for this question* (cached frames are free);
    model figures come from each :class:`~vidsleuth.tools.models.base.Cost` the chat model
    returns; ``node_seconds`` is wall time per graph node.
    """

    frames_decoded: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    retries: int = 0
    failures: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    node_seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def add_model_cost(self, cost: Cost) -> None:
        self.model_calls += cost.calls
        self.prompt_tokens += cost.prompt_tokens
        self.completion_tokens += cost.completion_tokens
        self.cached_tokens += cost.cached_tokens
        self.retries += cost.retries
        self.failures += cost.failures

    def add_node_time(self, node: str, seconds: float) -> None:
        self.node_seconds[node] = round(self.node_seconds.get(node, 0.0) + seconds, 4)

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_decoded": self.frames_decoded,
            "model_calls": self.model_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "retries": self.retries,
            "failures": self.failures,
            "tool_calls": self.tool_calls,
            "tool_errors": self.tool_errors,
            "seconds": round(self.seconds, 3),
            "node_seconds": dict(self.node_seconds),
        }


BudgetName = Literal["max_rounds", "max_frames", "max_tokens", "max_seconds"]


def exhausted(budget: Budget, usage: Usage, rounds_done: int) -> BudgetName | None:
    """The first budget that has run out, or None.  The order is the one the trace reports."""
    if budget.max_rounds is not None and rounds_done >= budget.max_rounds:
        return "max_rounds"
    if budget.max_frames is not None and usage.frames_decoded >= budget.max_frames:
        return "max_frames"
    if budget.max_tokens is not None and usage.tokens >= budget.max_tokens:
        return "max_tokens"
    if budget.max_seconds is not None and usage.seconds >= budget.max_seconds:
        return "max_seconds"
    return None


# --------------------------------------------------------------------------------------------
# The context
# --------------------------------------------------------------------------------------------


@dataclass
class ToolContext:
    """Runtime handles a tool may use; never serialised, never shown to a model.

    ``resource(name, factory)`` builds an expensive handle (a perceiver, a memory store) once per
    context and hands the same object to every later call, so models load on first use only.
    """

    settings: Settings
    store: Store | None = None
    record: VideoRecord | None = None
    chat: ChatModel | None = None
    budget: Budget = field(default_factory=Budget)
    usage: Usage = field(default_factory=Usage)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def video_id(self) -> str:
        if self.record is None:
            raise ToolCallError("this tool needs a video, and the context has none")
        return self.record.video_id

    def resource(self, name: str, factory: Callable[[], Any]) -> Any:
        if name not in self.resources:
            self.resources[name] = factory()
        return self.resources[name]

    def frames_left(self) -> int | None:
        """Frames this question may still decode (None: unlimited)."""
        if self.budget.max_frames is None:
            return None
        return max(0, self.budget.max_frames - self.usage.frames_decoded)

    def charge_frames(self, n: int) -> None:
        """Record ``n`` freshly decoded frames."""
        self.usage.frames_decoded += int(n)

    def charge_model(self, cost: Cost) -> None:
        self.usage.add_model_cost(cost)


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool(Generic[I, O]):
    """One callable unit the agent (or a model) can use; built and checked by :func:`make_tool`.

    ``expensive`` marks tools that decode frames or run heavy models: a session configured to
    pause before expensive steps (``agent_confirm_expensive``) asks the user before calling one.
    ``role`` is metadata for the agent's defaults and budgets (``search``, ``look``, ``zoom``,
    ``locate``, ``recall``, ``write``); any other value, or none, is an ordinary tool the model
    may choose.  Tools with role ``write`` change memory and are never offered to the model.
    """

    name: str
    description: str
    input_model: type[I]
    output_model: type[O]
    fn: Callable[[ToolContext, I], O]
    expensive: bool = False
    role: str = ""

    def __post_init__(self) -> None:
        validate_tool(self)

    def schema(self) -> dict[str, Any]:
        """What a model sees: name, description and the JSON schema of the arguments."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.input_model.model_json_schema(),
        }

    def parse_args(self, args: BaseModel | dict[str, Any] | None) -> I:
        """Validate a call's arguments against the input model (a model's JSON or an object)."""
        if isinstance(args, self.input_model):
            return args
        raw = args.model_dump() if isinstance(args, BaseModel) else (args or {})
        try:
            return self.input_model.model_validate(raw)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in err.errors()
            )
            raise ToolCallError(f"tool {self.name}: bad arguments ({problems})") from None

    def __call__(self, ctx: ToolContext, args: BaseModel | dict[str, Any] | None = None) -> O:
        inp = self.parse_args(args)
        ctx.usage.tool_calls += 1
        try:
            out = self.fn(ctx, inp)
        except ToolCallError:
            ctx.usage.tool_errors += 1
            raise
        except Exception as err:  # a tool's failure becomes one typed error the agent records
            ctx.usage.tool_errors += 1
            raise ToolCallError(f"tool {self.name} failed: {type(err).__name__}: {err}") from err
        if not isinstance(out, self.output_model):
            ctx.usage.tool_errors += 1
            raise ToolCallError(
                f"tool {self.name} returned {type(out).__name__}, not {self.output_model.__name__}"
            )
        return out


def _check_model(tool_name: str, what: str, model: object) -> None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: {what} must be a pydantic model, got {model!r}"
        )
    try:
        model.model_json_schema()
    except Exception as err:  # arbitrary types (a Store, an ndarray) have no JSON schema
        raise ToolDefinitionError(
            f"tool {tool_name!r}: {what} {model.__name__} has no JSON schema ({err}); "
            "runtime handles belong in ToolContext, not in the arguments"
        ) from None


def validate_tool(t: Tool[Any, Any]) -> None:
    """Check a tool's whole contract; :class:`ToolDefinitionError` names the first problem."""
    if not isinstance(t.name, str) or not NAME_RE.match(t.name):
        raise ToolDefinitionError(
            f"tool name {t.name!r} is invalid: use 2-64 lowercase letters, digits and '_', "
            "starting with a letter"
        )
    if not isinstance(t.description, str) or len(t.description.strip()) < 10:
        raise ToolDefinitionError(
            f"tool {t.name!r}: a description of at least 10 characters is required"
        )
    _check_model(t.name, "input model", t.input_model)
    _check_model(t.name, "output model", t.output_model)
    for fname, finfo in t.input_model.model_fields.items():
        if not finfo.description:
            raise ToolDefinitionError(
                f"tool {t.name!r}: input field {fname!r} has no description "
                "(the model reads it to fill the argument in)"
            )
    if not callable(t.fn):
        raise ToolDefinitionError(f"tool {t.name!r}: fn is not callable")
    try:
        params = [
            p
            for p in inspect.signature(t.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return  # builtins without a signature: trust the caller
    if len(params) != 2:
        raise ToolDefinitionError(
            f"tool {t.name!r}: fn must take exactly (ctx, inp), it takes {len(params)} "
            "required positional argument(s)"
        )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as err:
        raise ToolDefinitionError(
            f"tool {fn.__name__!r}: cannot resolve type hints ({err})"
        ) from None


def make_tool(
    fn: Callable[[ToolContext, Any], Any],
    *,
    name: str | None = None,
    description: str | None = None,
    expensive: bool = False,
    role: str = "",
) -> Tool[Any, Any]:
    """Build a :class:`Tool` from ``fn(ctx, inp: In) -> Out``: models come from its type hints,
    the description from its docstring (first paragraph) unless given."""
    hints = _hints(fn)
    params = list(inspect.signature(fn).parameters)
    tname = str(name or getattr(fn, "__name__", ""))
    if len(params) != 2:
        raise ToolDefinitionError(f"tool {tname!r}: fn must take exactly (ctx, inp)")
    in_model = hints.get(params[1])
    out_model = hints.get("return")
    if in_model is None or out_model is None:
        raise ToolDefinitionError(
            f"tool {tname!r}: annotate the input argument and the return type with pydantic models"
        )
    doc = description or inspect.getdoc(fn) or ""
    doc = doc.split("\n\n")[0].replace("\n", " ").strip()
    return Tool(
        name=tname,
        description=doc,
        input_model=in_model,
        output_model=out_model,
        fn=fn,
        expensive=expensive,
        role=role,
    )


# --------------------------------------------------------------------------------------------
# The shared result shape of the evidence-producing tools
# --------------------------------------------------------------------------------------------


class Finding(BaseModel):
    """One piece of evidence at a span of the video: what was read, heard or seen there."""

    t_start: float = Field(ge=0, description="start of the span, seconds from the video start")
    t_end: float = Field(ge=0, description="end of the span, seconds")
    kind: str = Field(description="ocr, speech, subtitle, object, tag, chunk, memory, vlm, ...")
    text: str = Field("", description="what was read, heard or seen")
    score: float | None = Field(None, description="relevance or detector score, higher is better")
    source: str = Field("", description="the tool or producer that found it")


class Findings(BaseModel):
    """A tool's findings, best first, with a short note (what was skipped, what was reused)."""

    findings: list[Finding] = Field(default_factory=list)
    frames_decoded: int = 0
    note: str = ""
