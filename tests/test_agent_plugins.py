"""A plug-in tool installed by another package reaches the model: declared exactly like the
README's example, registered through the ``vidsleuth.tools`` entry-point group, offered to the
model with its schema, and called when the model chooses it."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from agent_world import brain, reading, world_registry

from vidsleuth.graphs.build import build_graph
from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.settings import Settings
from vidsleuth.tools.base import Budget, ToolContext, Usage
from vidsleuth.tools.models.testing import ScriptedChatModel
from vidsleuth.tools.registry import REGISTRY, default_registry

ROOT = Path(__file__).resolve().parents[1]
MODULE = "vidsleuth_plugin_shelf_scale"

#: a third-party module written the way the README's "Adding a tool" section shows
PLUGIN = '''
from pydantic import BaseModel, Field

from vidsleuth.tools.base import Finding, Findings, ToolContext
from vidsleuth.tools.registry import tool

CALLS = []


class ShelfArgs(BaseModel):
    shelf: int = Field(ge=1, le=9, description="shelf number")


@tool(expensive=True)
def weigh_shelf(ctx: ToolContext, inp: ShelfArgs) -> Findings:
    """Weigh a warehouse shelf and report its load in kilograms."""
    CALLS.append(inp.shelf)
    hit = Finding(t_start=50, t_end=54, kind="scale", text=f"shelf {inp.shelf} holds 42 kg")
    return Findings(findings=[hit])
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A package installed the way pip leaves one: its module and a dist-info folder whose
    entry_points.txt names the module in the ``vidsleuth.tools`` group."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{MODULE}.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "shelf_scale-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shelf-scale\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[vidsleuth.tools]\nshelf = {MODULE}\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield MODULE
    REGISTRY.unregister("weigh_shelf")
    sys.modules.pop(MODULE, None)


def test_readme_example_shape_is_what_the_plugin_uses():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Adding a tool.*?```python\n(.*?)```", readme, re.S).group(1)
    assert "@tool(" in block and "def " in block and "Findings" in block
    assert '"vidsleuth.tools"' in readme


def test_an_installed_plugin_is_offered_and_used(installed_plugin):
    reg = default_registry(builtins=False)  # the plug-ins of installed packages only
    assert "weigh_shelf" in reg, reg.problems
    for t in world_registry():
        reg.register(t)
    decide = json.dumps(
        {"action": "call", "calls": [{"tool": "weigh_shelf", "args": {"shelf": 3}}]}
    )
    chat = ScriptedChatModel(
        [brain({"42 kg": "42 kg"}, decide=[decide], read=reading("shelf 3"))] * 30
    )
    s = Settings(store="/nonexistent-never-opened", agent_stop_threshold=0.7)
    ctx = ToolContext(settings=s, chat=chat, budget=Budget(), usage=Usage())
    out = build_graph().invoke(
        {
            "question": "How heavy is shelf 3?",
            "options": ["1 kg", "5 kg", "42 kg", "9 kg"],
            "video_id": "v",
        },
        context=AgentDeps(ctx=ctx, registry=reg),
    )
    plugin = sys.modules[installed_plugin]
    assert plugin.CALLS == [3]
    assert out["answer"] == "C" and out["answered_by"] == "model"
    offered = "\n".join(m[0]["content"] for m in chat.calls if "Budget left" in m[-1]["content"])
    assert "- weigh_shelf(shelf: integer (shelf number)): Weigh a warehouse shelf" in offered
