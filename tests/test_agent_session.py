"""Sessions: checkpointed in the store, resumable by id from a fresh agent (another process),
later questions using what earlier ones learned, pausing before expensive steps."""

from __future__ import annotations

import pytest
from agent_world import (
    NEEDLE_T,
    OPTIONS,
    PLAN_REPLY,
    QUESTION,
    make_tiny_video,
    map_reply,
    world_registry,
)

from vidsleuth.agent.session import Answer, VideoAgent, sessions_path
from vidsleuth.errors import ConfigError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.testing import ScriptedChatModel

MARTA_Q = "What does the sign after the warehouse 17 notice ask?"
MARTA_OPTS = ["ask for Paul", "ask for a map", "ask for Marta", "ask for help"]


@pytest.fixture
def video(tmp_path):
    return make_tiny_video(tmp_path / "tiny.mp4")


def agent(tmp_path, replies, **overrides) -> VideoAgent:
    s = Settings(store=tmp_path / "store", **overrides)
    return VideoAgent(s, chat=ScriptedChatModel(replies), registry=world_registry(), index=False)


def test_ask_returns_a_full_answer_and_checkpoints_the_session(tmp_path, video):
    updates = []
    with agent(tmp_path, [PLAN_REPLY] + [map_reply({"NINE": "at nine"})] * 2) as a:
        ans = a.ask(video, QUESTION, OPTIONS, on_step=lambda n, u: updates.append((n, u)))
    steps = [n for n, _ in updates]
    assert isinstance(ans, Answer)
    assert ans.answer == "B" and ans.answer_text == "at nine" and ans.stop_reason == "confident"
    assert ans.evidence[0].t_start == NEEDLE_T
    assert ans.cost["model_calls"] == 3 and ans.cost["frames_decoded"] == 0
    assert "map" in ans.cost["node_seconds"]
    assert [t["node"] for t in ans.trace][:2] == ["plan", "plan"]  # question, then model plan
    assert steps[:3] == ["plan", "act", "map"] and steps[-1] == "answer"
    assert ans.answered_by == "model" and ans.tools_used["search_memory"] == 2
    assert sessions_path(tmp_path / "store").exists()
    js = ans.as_json()
    assert set(js) >= {
        "answer",
        "confidence",
        "evidence",
        "stop_reason",
        "cost",
        "answered_by",
        "tools_used",
    }
    assert js["evidence"][0]["t_start"] == NEEDLE_T and js["evidence"][0]["t_end"] == NEEDLE_T + 4
    assert all(isinstance(u.get("trace", []), list) for _, u in updates)


def test_later_question_in_the_session_uses_what_earlier_ones_found(tmp_path, video):
    # Question 1 zooms and finds "ASK FOR MARTA", which the coarse index never saw.
    with agent(
        tmp_path, [map_reply({"MARTA": "ask for Marta"})] * 10, agent_plan_with_model=False
    ) as a:
        first = a.ask(video, MARTA_Q, MARTA_OPTS)
        sid = first.session_id
    assert first.answer == "C"
    q2, opts2 = "Who is Marta?", ["a clerk", "a pilot"]
    # Question 2 in a *fresh* agent (another process) resuming the session by id: its words
    # match nothing in the coarse index, only what question 1 learned.
    with agent(tmp_path, [map_reply({"MARTA": "a clerk"})] * 4, agent_plan_with_model=False) as a:
        second = a.ask(video, q2, opts2, session=sid)
        notes = a.session_state(sid)["notes"]
        assert len(a.session_state(sid)["history"]) == 2
    assert second.answer == "A"
    assert any("MARTA" in n["text"] for n in notes)
    # Without the session, the same question finds nothing.
    with agent(tmp_path, [], agent_plan_with_model=False) as a:
        fresh = a.ask(video, q2, opts2)
    assert fresh.stop_reason == "insufficient_evidence" and fresh.answered_by == "none"
    assert fresh.answer in ("A", "B") and fresh.confidence == 0.5
    assert fresh.session_id != sid


def test_pause_before_zoom_and_resume_from_another_agent(tmp_path, video):
    class Killed(Exception):
        pass

    def die(payload):
        assert payload["step"] == "act" and payload["tool"] == "inspect_interval"
        assert payload["frames"] > 0
        raise Killed

    replies = [map_reply({"MARTA": "ask for Marta"})] * 10
    a = agent(tmp_path, replies, agent_plan_with_model=False, agent_confirm_expensive=True)
    with pytest.raises(Killed):
        a.ask(video, MARTA_Q, MARTA_OPTS, on_pause=die)
    sid = a.session_id
    a.close()
    b = agent(tmp_path, replies, agent_plan_with_model=False, agent_confirm_expensive=True)
    asked = []
    ans = b.resume(sid, on_pause=lambda p: asked.append(p) or True)
    assert ans is not None and ans.answer == "C" and ans.stop_reason == "confident"
    assert ans.cost["frames_decoded"] > 0
    assert asked and asked[0]["step"] == "act"
    assert b.resume(sid) is None  # nothing left unfinished
    b.close()


def test_declining_the_pause_stops_without_decoding(tmp_path, video):
    with agent(
        tmp_path,
        [map_reply({"MARTA": "ask for Marta"})] * 10,
        agent_plan_with_model=False,
        agent_confirm_expensive=True,
    ) as a:
        ans = a.ask(video, MARTA_Q, MARTA_OPTS, on_pause=lambda p: False)
    assert ans.stop_reason == "user" and ans.cost["frames_decoded"] == 0


def test_session_is_tied_to_its_video(tmp_path, video):
    other = make_tiny_video(tmp_path / "other.mp4", seconds=2.0)
    with agent(tmp_path, [PLAN_REPLY] + [map_reply({"NINE": "at nine"})] * 2) as a:
        sid = a.ask(video, QUESTION, OPTIONS).session_id
        with pytest.raises(ConfigError, match="is about video"):
            a.ask(other, QUESTION, OPTIONS, session=sid)
        with pytest.raises(ConfigError, match="options"):
            a.ask(video, QUESTION, ["only one"])
        with pytest.raises(ConfigError, match="no session"):
            a.resume("nope")
