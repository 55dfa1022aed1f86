"""The perceiver VLM over HTTP, against a loopback OpenAI-compatible server that records what
it receives: images per request, requests in flight, retries with backoff after a 500 or a
timeout, and one clear line for a server that keeps failing or refuses images.  Also the
in-process vLLM batch path (a stand-in ``vllm`` module: no GPU here)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from vidsleuth.errors import ModelError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.factory import load_vlm
from vidsleuth.tools.models.openai_compat import OpenAICompatibleChatModel, ServerError
from vidsleuth.tools.models.testing import LoopbackVLMServer
from vidsleuth.tools.perception.caption import CaptionPerceiver, frame_messages
from vidsleuth.tools.video import Frame

RED = np.full((48, 64, 3), (220, 30, 30), np.uint8)


@pytest.fixture
def server():
    with LoopbackVLMServer() as srv:
        yield srv


def settings(url: str, **kw: Any) -> Settings:
    base = {
        "vlm_backend": "openai-compatible",
        "vlm_model": "loopback-vlm",
        "vlm_base_url": url,
        "vlm_timeout": 5.0,
    }
    return Settings(**{**base, **kw})


def convs(n: int, frames: int = 4) -> list[Any]:
    return [
        frame_messages([RED] * frames, f"chunk {i}", max_side=64, max_images=8) for i in range(n)
    ]


def test_requests_carry_their_frames_and_run_n_in_flight(server) -> None:
    server.delay_s = 0.15
    vlm = load_vlm(settings(server.url, vlm_concurrency=4))
    done: list[int] = []
    out = vlm.chat_many(convs(12), max_tokens=20, on_result=lambda i, r: done.append(i))
    assert [r.text for r in out] == ["4 frames showing a red screen."] * 12
    assert sorted(done) == list(range(12))
    assert [r["images"] for r in server.requests] == [4] * 12
    assert server.max_in_flight == 4  # never more than the setting, and really concurrent
    assert all(r["max_tokens"] == 20 and r["response_format"] is None for r in server.requests)


def test_default_concurrency_is_eight(server) -> None:
    server.delay_s = 0.1
    vlm = load_vlm(settings(server.url))
    vlm.chat_many(convs(16, frames=1), max_tokens=8)
    assert Settings().vlm_concurrency == 8 and server.max_in_flight == 8


def test_a_500_is_retried_with_backoff(server) -> None:
    server.script.append((500, {"error": "overloaded"}))
    vlm = OpenAICompatibleChatModel(server.url, "m", retries=2, backoff=0.01)
    res = vlm.chat(convs(1)[0])
    assert res.text == "4 frames showing a red screen."
    assert len(server.requests) == 2 and vlm.resends == 1


def test_a_timeout_is_retried(server) -> None:
    server.script.append((0, None))  # the first request hangs
    server.hang_s = 2.0
    vlm = OpenAICompatibleChatModel(server.url, "m", timeout=0.5, retries=1, backoff=0.01)
    assert vlm.chat(convs(1)[0]).text.startswith("4 frames")
    assert vlm.resends == 1


def test_a_server_that_keeps_failing_is_one_line(server) -> None:
    server.script += [(503, {"error": "down for maintenance"})] * 3
    vlm = OpenAICompatibleChatModel(server.url, "m", retries=2, backoff=0.01)
    with pytest.raises(ServerError) as err:
        vlm.chat(convs(1)[0])
    msg = str(err.value)
    assert "HTTP 503" in msg and "3 attempts" in msg and "\n" not in msg


def test_a_server_that_keeps_timing_out_is_one_line(server) -> None:
    server.script += [(0, None)] * 2
    server.hang_s = 1.5
    vlm = OpenAICompatibleChatModel(server.url, "m", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(ServerError, match=r"timed out after 0\.3 s \(2 attempts\)"):
        vlm.chat(convs(1)[0])


def test_a_fatal_error_stops_the_batch(server) -> None:
    server.refuse_images = True
    vlm = load_vlm(settings(server.url, vlm_concurrency=2))
    with pytest.raises(ServerError, match="does not accept images"):
        vlm.chat_many(convs(10), max_tokens=8)
    assert len(server.requests) <= 3  # not ten refusals


def test_a_chat_model_that_refuses_images_is_one_line(server) -> None:
    server.refuse_images = True
    p = CaptionPerceiver(settings(server.url))
    frames = [Frame(t=float(i), image=RED) for i in range(4)]
    with pytest.raises(ModelError, match="'loopback-vlm' does not accept images") as err:
        p.perceive_frames(frames)
    assert "\n" not in str(err.value)


def test_an_8000_px_frame_is_shrunk_before_it_is_sent(server) -> None:
    huge = np.zeros((4500, 8000, 3), np.uint8)
    huge[:, :, 2] = 220
    p = CaptionPerceiver(settings(server.url, vlm_max_side=512))
    (obs,) = p.perceive_frames([Frame(t=3.0, image=huge), Frame(t=4.0, image=huge)])
    assert obs.kind == "caption" and obs.text == "2 frames showing a blue screen."
    assert server.requests[0]["sizes"] == [(512, 288), (512, 288)]


def test_frames_beyond_the_cap_are_thinned_evenly(server) -> None:
    p = CaptionPerceiver(settings(server.url, caption_frames=8, vlm_max_images=3))
    frames = [Frame(t=float(i), image=RED) for i in range(8)]
    p.perceive_frames(frames)
    assert server.requests[0]["images"] == 3 and "3 frames" in server.requests[0]["text"]


def test_the_caption_prompt_is_plain_text(server) -> None:
    p = CaptionPerceiver(settings(server.url))
    p.perceive_frames([Frame(t=10.0, image=RED), Frame(t=13.0, image=RED)])
    req = server.requests[0]
    assert req["response_format"] is None
    assert "from 0:10.0 to 0:13.0" in req["text"]


# ------------------------------------------------------------------------------------ vLLM
class _FakeLLM:
    instances: ClassVar[list[_FakeLLM]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[Any] = []
        _FakeLLM.instances.append(self)

    def chat(self, messages: Any, params: Any, use_tqdm: bool = False) -> list[Any]:
        self.calls.append(messages)
        batch = messages if isinstance(messages[0], list) else [messages]
        out = []
        for conv in batch:
            n = sum(
                1
                for m in conv
                for p in (m["content"] if isinstance(m["content"], list) else [])
                if p.get("type") == "image_url"
            )
            o = types.SimpleNamespace(text=f"{n} images", token_ids=[1, 2], finish_reason="stop")
            out.append(types.SimpleNamespace(outputs=[o], prompt_token_ids=[0] * (10 + n)))
        return out


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[_FakeLLM]:
    mod = types.ModuleType("vllm")
    mod.LLM = _FakeLLM  # type: ignore[attr-defined]
    mod.SamplingParams = lambda **kw: kw  # type: ignore[attr-defined]
    mod.__spec__ = importlib_spec("vllm")
    monkeypatch.setitem(sys.modules, "vllm", mod)
    _FakeLLM.instances.clear()
    return _FakeLLM


def importlib_spec(name: str) -> Any:
    import importlib.machinery

    return importlib.machinery.ModuleSpec(name, None)


def test_vllm_captions_many_chunks_in_one_generate_call(fake_vllm: type[_FakeLLM]) -> None:
    cfg = Settings(vlm_backend="vllm", vlm_model="Qwen/Qwen2.5-VL-7B-Instruct", vlm_max_images=6)
    p = CaptionPerceiver(cfg)
    got: dict[int, Any] = {}
    units = [
        (4.0 * i, 4.0 * i + 4, [Frame(t=4.0 * i + k, image=RED) for k in range(4)])
        for i in range(20)
    ]
    p.perceive_units(units, lambda i, obs, problem: got.setdefault(i, obs))
    (llm,) = fake_vllm.instances
    assert len(llm.calls) == 1 and len(llm.calls[0]) == 20  # one batched call for 20 chunks
    assert llm.kwargs["limit_mm_per_prompt"] == {"image": 6}
    assert llm.kwargs["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert [got[i][0].text for i in range(20)] == ["4 images"] * 20
    assert p.usage.prompt_tokens == 20 * 14 and p.vlm_id == "vllm:Qwen/Qwen2.5-VL-7B-Instruct"


def test_models_check_vlm_runs_one_image_request(
    server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from vidsleuth.agent.cli.main import main

    monkeypatch.setenv("VIDSLEUTH_VLM_BACKEND", "openai-compatible")
    monkeypatch.setenv("VIDSLEUTH_VLM_MODEL", "served-vlm")
    monkeypatch.setenv("VIDSLEUTH_VLM_BASE_URL", server.url)
    assert main(["models", "check", "vlm", "--json", "--store", str(tmp_path)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["ok"] is True and "red screen" in row["detail"]
    assert server.requests[0]["images"] == 1 and server.requests[0]["model"] == "served-vlm"
    server.refuse_images = True
    assert main(["models", "check", "vlm", "--json", "--store", str(tmp_path)]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["ok"] is False and "does not accept images" in row["detail"]
