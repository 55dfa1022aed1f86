"""The answering methods the evaluation harness compares: the product agent, the single-pass
baseline and the model-free locate-rules baseline are registered and build.

The locator and the rules baseline have their own tests (tests/test_evidence_locate.py,
tests/test_locate_rules.py); the agent's own behaviour is tested in tests/test_graph_agent.py.
"""

from __future__ import annotations


def test_agent_and_baseline_methods_are_registered() -> None:
    from vidsleuth.evals.methods import MethodContext, build_method, method_names
    from vidsleuth.settings import Settings

    assert {"agent", "single-pass", "locate-rules"} <= set(method_names())
    ctx = MethodContext(task="needle_haystack", settings=Settings(), options={"frames": 8})
    agent = build_method("agent", ctx)
    single = build_method("single-pass", ctx)
    rules = build_method("locate-rules", ctx)
    assert (agent.name, single.name, rules.name) == ("agent", "single-pass", "locate-rules")
    assert single.frames == 8  # type: ignore[attr-defined]
    assert agent.needs_video and single.needs_video and rules.needs_video
