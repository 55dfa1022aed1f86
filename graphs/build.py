"""Wire the nodes into the investigation graph.

Nodes name their own next steps (``Command``), so the graph only declares the entry point;
``destinations`` come from each node's return type.  The compiled graph takes
:class:`~vidsleuth.graphs.state.AgentInput`, returns :class:`~vidsleuth.graphs.state.AgentOutput`
and runs with an :class:`~vidsleuth.graphs.deps.AgentDeps` context.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import START, StateGraph

from vidsleuth.graphs.deps import AgentDeps
from vidsleuth.graphs.nodes import NODES
from vidsleuth.graphs.state import AgentInput, AgentOutput, AgentState


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled graph (pass a LangGraph checkpointer to make runs resumable)."""
    g = StateGraph(
        AgentState, context_schema=AgentDeps, input_schema=AgentInput, output_schema=AgentOutput
    )
    for name, fn in NODES.items():
        g.add_node(name, fn)
    g.add_edge(START, "plan")
    return g.compile(checkpointer=checkpointer)
