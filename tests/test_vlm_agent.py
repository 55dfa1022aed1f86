"""The agent end to end with a perceiver VLM configured: indexing on demand captions every chunk
(``perceivers=caption``), the captions become memory, and the agent answers from them.  The chat
model is scripted (``agent_world.brain``); the VLM is the loopback server (deterministic
captions) or a tiny random-weight Qwen2-VL run by transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_world import brain, reading
from test_vlm_caption import write_colour_video

from vidsleuth.agent.session import VideoAgent
from vidsleuth.settings import Settings
from vidsleuth.tools.models.testing import LoopbackVLMServer, ScriptedChatModel, build_tiny_vlm

QUESTION = "What colour is the screen at the end of the video?"
OPTIONS = ["red", "green", "blue", "yellow"]


def ask(cfg: Settings, video: Path) -> Any:
    chat = ScriptedChatModel(
        [brain({"blue screen": "blue"}, read=reading("blue screen", shows_as=["scene"]))] * 12
    )
    with VideoAgent(cfg, chat=chat, checkpoint=False) as agent:
        return agent.ask(video, QUESTION, OPTIONS), chat


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_colour_video(tmp_path_factory.mktemp("vid") / "colours.mp4")


def test_the_agent_answers_from_vlm_captions(video: Path, tmp_path: Path) -> None:
    with LoopbackVLMServer() as srv:
        cfg = Settings(
            store=tmp_path / "store",
            perceivers="caption",
            vlm_backend="openai-compatible",
            vlm_model="loopback-vlm",
            vlm_base_url=srv.url,
        )
        ans, chat = ask(cfg, video)
    seen = f"requests {[r['images'] for r in srv.requests]}, answer {ans.as_json()}"
    # coarse perception: one request of 4 frames per chunk (a zoom may ask more later)
    assert [r["images"] for r in srv.requests[:3]] == [4, 4, 4], seen
    assert ans.answer == "C" and ans.answer_text == "blue", seen
    assert any(8.0 <= e.t_start < 12.0 for e in ans.evidence), seen
    prompts = "\n".join(str(m.get("content")) for call in chat.calls for m in call)
    assert "blue screen" in prompts  # the captions reached the model's evidence


def test_the_agent_runs_end_to_end_with_a_tiny_transformers_vlm(
    video: Path, tmp_path: Path
) -> None:
    folder = build_tiny_vlm(tmp_path / "tiny", family="qwen2_vl")
    cfg = Settings(
        store=tmp_path / "store",
        perceivers="caption",
        vlm_backend="transformers",
        vlm_model=str(folder),
        model_device="cpu",
        caption_max_tokens=8,
    )
    ans, _ = ask(cfg, video)
    # random weights caption nonsense: the agent still finishes and says why it stopped
    assert ans.stop_reason and ans.cost["model_calls"] >= 1
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.perception.cache import stored_observations

    with Store.open(cfg.store) as store:
        (rec,) = store.videos()
        obs = stored_observations(store, rec.video_id, ["caption"], cfg)
    assert len(obs) == 3 and all(o.kind == "caption" and o.text for o in obs)
