"""The tool contract: validation at registration, calls validated against the schema, runtime
handles kept out of schemas, entry-point discovery, and the README's custom tool."""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from vidsleuth.settings import Settings
from vidsleuth.tools.base import (
    Finding,
    Findings,
    Tool,
    ToolCallError,
    ToolContext,
    ToolDefinitionError,
    Usage,
)
from vidsleuth.tools.registry import ENTRY_POINT_GROUP, ToolRegistry, default_registry, tool

ROOT = Path(__file__).resolve().parents[1]


class EchoIn(BaseModel):
    text: str = Field(description="what to echo")
    times: int = Field(1, ge=1, le=3, description="how often")


def ctx() -> ToolContext:
    return ToolContext(settings=Settings(store="/nonexistent"), usage=Usage())


def test_decorator_builds_a_checked_tool_without_runtime_handles_in_its_schema():
    reg = ToolRegistry()

    @tool(registry=reg)
    def echo(c: ToolContext, inp: EchoIn) -> Findings:
        """Repeat a text back, as a finding at time zero."""
        return Findings(
            findings=[Finding(t_start=0, t_end=0, kind="echo", text=inp.text * inp.times)]
        )

    assert isinstance(echo, Tool) and reg.get("echo") is echo
    schema = reg.schemas()[0]
    assert schema["name"] == "echo"
    assert schema["description"].startswith("Repeat a text back")
    assert set(schema["parameters"]["properties"]) == {"text", "times"}
    assert "ctx" not in str(schema) and "ToolContext" not in str(schema)
    c = ctx()
    out = reg.call(c, "echo", {"text": "ab", "times": 2})
    assert out.findings[0].text == "abab" and c.usage.tool_calls == 1


def test_bad_arguments_are_refused_before_the_function_runs():
    ran = []
    reg = ToolRegistry()

    @tool(registry=reg)
    def echo(c: ToolContext, inp: EchoIn) -> Findings:
        """Repeat a text back, as a finding at time zero."""
        ran.append(inp)
        return Findings()

    with pytest.raises(ToolCallError, match="times"):
        reg.call(ctx(), "echo", {"text": "a", "times": 9})
    with pytest.raises(ToolCallError, match="unknown tool 'ech'"):
        reg.call(ctx(), "ech", {})
    assert ran == []


def test_a_failing_tool_becomes_one_typed_error_and_is_counted():
    reg = ToolRegistry()

    @tool(registry=reg)
    def broken(c: ToolContext, inp: EchoIn) -> Findings:
        """Always fails, to test error handling."""
        raise ZeroDivisionError("boom")

    c = ctx()
    with pytest.raises(ToolCallError, match="broken failed: ZeroDivisionError: boom"):
        reg.call(c, "broken", {"text": "x"})
    assert c.usage.tool_errors == 1


def test_wrong_output_type_is_an_error():
    reg = ToolRegistry()

    @tool(registry=reg)
    def liar(c: ToolContext, inp: EchoIn) -> Findings:
        """Returns the wrong type on purpose."""
        return EchoIn(text="x")  # type: ignore[return-value]

    with pytest.raises(ToolCallError, match="returned EchoIn, not Findings"):
        reg.call(ctx(), "liar", {"text": "x"})


class Handle:
    pass


class Leaky(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    store: Handle = Field(description="a runtime handle in the arguments")


class NoDoc(BaseModel):
    x: int


def _f(c: ToolContext, inp: EchoIn) -> Findings:
    """A valid function for the negative cases."""
    return Findings()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "Bad-Name"}, "tool name 'Bad-Name' is invalid"),
        ({"name": "ok_name", "description": "short"}, "description"),
        ({"name": "leaky", "input_model": Leaky}, "no JSON schema"),
        ({"name": "nodoc", "input_model": NoDoc}, "has no description"),
        ({"name": "arity", "fn": lambda c: None}, "exactly \\(ctx, inp\\)"),
        ({"name": "notmodel", "output_model": dict}, "output model must be a pydantic model"),
    ],
)
def test_contract_is_checked_at_definition(kwargs, match):
    base = {
        "name": "t",
        "description": "A valid description.",
        "input_model": EchoIn,
        "output_model": Findings,
        "fn": _f,
    }
    with pytest.raises(ToolDefinitionError, match=match):
        Tool(**(base | kwargs))


def test_decorator_without_annotations_fails_at_import_time():
    with pytest.raises(ToolDefinitionError, match="annotate"):

        @tool(registry=ToolRegistry())
        def untyped(c, inp):
            """No type hints at all here."""


def test_duplicate_names_are_refused_but_reregistering_the_same_tool_is_harmless():
    reg = ToolRegistry()
    t = Tool(
        name="echo",
        description="A valid description.",
        input_model=EchoIn,
        output_model=Findings,
        fn=_f,
    )
    reg.register(t)
    reg.register(t)
    assert len(reg) == 1
    other = Tool(
        name="echo",
        description="Another echo tool.",
        input_model=EchoIn,
        output_model=Findings,
        fn=_f,
    )
    with pytest.raises(ToolDefinitionError, match="already registered"):
        reg.register(other)


PLUGIN = '''
from pydantic import BaseModel, Field
from vidsleuth.tools.base import Findings, Finding, ToolContext, make_tool


class In(BaseModel):
    word: str = Field(description="a word")


def shout(ctx: ToolContext, inp: In) -> Findings:
    """Shout a word back in capitals."""
    return Findings(findings=[Finding(t_start=0, t_end=0, kind="shout", text=inp.word.upper())])


shout_tool = make_tool(shout)
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    name = "vidsleuth_test_plugin_tools"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_entry_point_discovery_of_a_module(plugin_module):
    ep = md.EntryPoint(name="shouting", value=plugin_module, group=ENTRY_POINT_GROUP)
    reg = ToolRegistry()
    added = reg.load_entry_points([ep], strict=True)
    assert [t.name for t in added] == ["shout"]
    assert reg.call(ctx(), "shout", {"word": "hey"}).findings[0].text == "HEY"


def test_entry_point_discovery_of_an_attribute(plugin_module):
    ep = md.EntryPoint(
        name="shouting", value=f"{plugin_module}:shout_tool", group=ENTRY_POINT_GROUP
    )
    reg = ToolRegistry()
    reg.load_entry_points([ep])
    assert reg.names() == ["shout"]


def test_a_broken_plugin_is_reported_not_fatal(plugin_module):
    good = md.EntryPoint(name="ok", value=plugin_module, group=ENTRY_POINT_GROUP)
    bad = md.EntryPoint(name="bad", value="no_such_module_xyz:thing", group=ENTRY_POINT_GROUP)
    reg = ToolRegistry()
    reg.load_entry_points([bad, good])
    assert reg.names() == ["shout"]
    assert len(reg.problems) == 1 and "no_such_module_xyz" in reg.problems[0]
    with pytest.raises(ModuleNotFoundError):
        ToolRegistry().load_entry_points([bad], strict=True)


def test_default_registry_has_the_builtins_whose_layers_are_installed():
    reg = default_registry(plugins=False)
    for name in (
        "search_memory",
        "read_text",
        "transcribe",
        "detect_objects",
        "inspect_interval",
        "recall_entity",
        "remember_fact",
    ):
        assert name in reg, name
    for t in reg:
        assert "ToolContext" not in str(t.schema())


def test_readme_custom_tool_works(tmp_path):
    from agent_world import make_tiny_video

    from vidsleuth.memory.store import Store
    from vidsleuth.tools.registry import REGISTRY

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Adding a tool.*?```python\n(.*?)```", readme, re.S).group(1)
    assert 12 <= len(block.strip().splitlines()) <= 30
    REGISTRY.unregister("brightness")
    ns: dict = {}
    try:
        exec(compile(block, "README.md", "exec"), ns)
        t = REGISTRY.get("brightness")
        assert t.expensive
        video = make_tiny_video(tmp_path / "tiny.mp4")
        with Store.open(tmp_path / "store") as st:
            rec = st.register(video)
            c = ToolContext(settings=Settings(store=tmp_path / "store"), store=st, record=rec)
            dark = default_registry(plugins=False).call(c, "brightness", {"t": 0.5}).findings[0]
            light = t(c, {"t": 2.5}).findings[0]
        assert dark.score < 0.1 and light.score > 0.9
        assert c.usage.frames_decoded == 2
    finally:
        REGISTRY.unregister("brightness")


def test_retrieve_chunks_ranks_a_stored_video_with_the_shipped_rvlm(
    tmp_path: Path, counter_video
) -> None:
    """The learned retriever as an agent tool: real store, real coarse tag features, the
    shipped checkpoint; every chunk of the video comes back ranked once."""
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.base import ToolContext
    from vidsleuth.tools.perception.cache import perceive_video

    video = counter_video(seconds=16.0, fps=5, size=(128, 96))
    cfg = Settings(store=tmp_path / "store", perceivers="tags")
    with Store.open(cfg.store) as st:
        summary = index_video(st, video, cfg)
        rec = st.video(summary.video_id)
        plan = chunk_plan_for(rec, cfg)
        perceive_video(st, rec, plan, ["tags"], None, settings=cfg, frames_plan=plan_key(plan, cfg))
        c = ToolContext(settings=cfg, store=st, record=rec)
        out = default_registry(plugins=False).call(
            c, "retrieve_chunks", {"query": "a grey bar", "k": 10}
        )
    spans = [(f.t_start, f.t_end) for f in out.findings]
    assert sorted(spans) == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 16.0)]
    scores = [f.score for f in out.findings]
    assert scores == sorted(scores, reverse=True)
    assert all(f.source == "retrieve_chunks:rvlm" for f in out.findings)
    assert all(0.0 <= s <= 1.0 for s in scores) and sum(scores) == pytest.approx(1.0, abs=1e-5)
