"""The question-conditioned look (``vlm_look``) and the frame ranking the agent's look tool
builds on: JSON schema where the server takes one, parse-and-repair where it does not."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from vidsleuth.tools.models.openai_compat import OpenAICompatibleChatModel
from vidsleuth.tools.models.testing import LoopbackVLMServer, ScriptedChatModel
from vidsleuth.tools.perception.vlm_look import (
    LookAnswer,
    normalise_answer,
    rank_frames,
    vlm_look,
)
from vidsleuth.tools.video import Frame

OPTIONS = ["a red screen", "a green screen", "a blue screen"]


def frames(n: int = 4) -> list[Frame]:
    return [Frame(t=10.0 + i, image=np.full((40, 60, 3), 20 * i, np.uint8)) for i in range(n)]


def test_look_sends_frames_question_context_and_options_and_reads_the_json() -> None:
    reply = '{"answer": "B", "confidence": 0.8, "frame": 3, "evidence": "green fills frame 3"}'
    vlm = ScriptedChatModel([reply], constrained=True)
    res = vlm_look(
        vlm,
        frames(),
        "What colour is shown?",
        "Segment: a screen changes colour. Video: a colour test card.",
        OPTIONS,
    )
    assert (res.answer, res.confidence, res.time_index, res.t) == ("B", 0.8, 2, 12.0)
    assert res.text == "green fills frame 3" and res.ok and res.frames_sent == 4
    (msgs,) = vlm.calls
    parts = msgs[-1]["content"]
    assert [p["type"] for p in parts[:8]] == ["text", "image_url"] * 4
    assert parts[0]["text"] == "Frame 1 at 0:10.0:"
    text = "\n".join(p["text"] for p in parts if p["type"] == "text")
    assert "Context:\nSegment: a screen changes colour." in text
    assert "Question: What colour is shown?" in text and "B. a green screen" in text
    assert vlm.schemas[0] is not None and vlm.schemas[0]["title"] == "LookAnswer"


def test_an_unconstrained_reply_is_repaired() -> None:
    vlm = ScriptedChatModel(
        ["Sure! ```json\n{'answer': 'c) a blue screen', 'confidence': 0.6, 'frame': 9,}\n```"]
    )
    res = vlm_look(vlm, frames(), "What colour?", options=OPTIONS)
    assert res.ok and res.answer == "C" and res.confidence == 0.6
    assert res.time_index is None  # frame 9 of 4 does not exist


def test_an_unusable_reply_is_a_failed_look_not_a_crash() -> None:
    vlm = ScriptedChatModel(["I cannot tell.", "still no json", "no"], max_retries=2)
    res = vlm_look(vlm, frames(), "What colour?", options=OPTIONS)
    assert not res.ok and res.answer == "" and res.confidence == 0.0
    assert "no JSON object" in (res.problem or "") and res.usage.calls == 3


def test_many_frames_are_thinned_to_the_image_cap() -> None:
    reply = '{"answer": "A", "confidence": 0.5, "frame": 2}'
    vlm = ScriptedChatModel([reply])
    res = vlm_look(vlm, frames(10), "q", max_images=3)
    images = [p for p in vlm.calls[0][-1]["content"] if p["type"] == "image_url"]
    assert len(images) == 3 and res.frames_sent == 3
    assert res.time_index == 4 and res.t == 14.0  # frame 2 of (0, 4, 9)... is index 4 (even)


def test_look_over_http_uses_the_schema_and_falls_back_when_refused() -> None:
    answer = {"answer": "A", "confidence": 0.9, "frame": 1, "evidence": "red"}

    def reply(body: dict[str, Any], images: list[Any]) -> str:
        return json.dumps(answer)

    with LoopbackVLMServer(reply=reply) as srv:
        srv.script.append((400, {"error": {"message": "response_format is not supported"}}))
        vlm = OpenAICompatibleChatModel(srv.url, "m")
        res = vlm_look(vlm, frames(2), "What colour?", options=OPTIONS)
        assert res.answer == "A" and res.ok
        assert srv.requests[0]["response_format"]["type"] == "json_schema"
        assert srv.requests[1]["response_format"] is None and srv.requests[1]["images"] == 2
        assert '"LookAnswer"' in srv.requests[1]["text"] or "JSON schema" in srv.requests[1]["text"]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("B", "B"),
        ("(c)", "C"),
        ("A. a red screen", "A"),
        ("a green screen", "B"),
        ("purple", "purple"),
    ],
)
def test_normalise_answer(raw: str, want: str) -> None:
    assert normalise_answer(raw, OPTIONS) == want


def test_rank_frames_keeps_the_most_similar_in_time_order() -> None:
    q = np.array([1.0, 0.0])
    vecs = np.array([[0, 1], [1, 0.1], [0.2, 1], [1, 0], [0.9, 0.5]], np.float32)
    assert rank_frames(q, vecs, 2) == [1, 3]
    assert rank_frames(q, vecs, 3) == [1, 3, 4]
    assert rank_frames(q, vecs, 10) == [0, 1, 2, 3, 4]
    assert rank_frames(q, np.zeros((0, 2)), 3) == []
    with pytest.raises(ValueError, match="dims"):
        rank_frames(np.ones(3), vecs, 2)


def test_look_answer_schema_bounds_confidence() -> None:
    with pytest.raises(ValueError):
        LookAnswer(answer="A", confidence=1.5)


def test_the_agents_look_tool_sends_several_frames_of_the_span_to_the_vlm(tmp_path) -> None:
    """``look_at_frames`` with a perceiver VLM configured: K frames of the span in one request
    with the model's question; the answer comes back as a caption finding at the cited frame."""
    from agent_world import make_tiny_video

    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings
    from vidsleuth.tools.base import Budget, ToolContext
    from vidsleuth.tools.registry import default_registry

    video = make_tiny_video(tmp_path / "tiny.mp4", seconds=6.0)
    reply = '{"answer": "white", "confidence": 0.9, "frame": 2, "evidence": "all white"}'
    with LoopbackVLMServer(reply=lambda req, imgs: reply) as srv, Store.open(tmp_path / "s") as st:
        s = Settings(
            store=tmp_path / "s",
            vlm_backend="openai-compatible",
            vlm_model="loopback-vlm",
            vlm_base_url=srv.url,
        )
        ctx = ToolContext(settings=s, store=st, record=st.register(video), budget=Budget())
        out = default_registry(plugins=False).call(
            ctx, "look_at_frames", {"t_start": 3.0, "t_end": 6.0, "prompt": "What colour?"}
        )
    (req,) = srv.requests
    assert req["images"] == 3 and "What colour?" in req["text"]
    (f,) = out.findings
    assert f.kind == "caption" and "white" in f.text and 3.0 <= f.t_start <= 6.0
    assert out.frames_decoded == 3 and ctx.usage.frames_decoded == 3
