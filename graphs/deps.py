"""What a graph run carries beside its state: runtime handles, never checkpointed.

Passed to ``graph.invoke(..., context=AgentDeps(...))``; nodes read it as ``runtime.context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidsleuth.tools.base import ToolContext
    from vidsleuth.tools.registry import ToolRegistry


@dataclass
class AgentDeps:
    """The tool context (store, models, video, settings, budget, usage) and the tool registry."""

    ctx: ToolContext
    registry: ToolRegistry

    @property
    def settings(self) -> Any:
        return self.ctx.settings
