"""The ``caption`` perceiver end to end: a loopback OpenAI-compatible VLM server and a tiny
random-weight VLM caption a coloured test video; captions are stored, reused, resumed after
``kill -9``, shown by ``look --json`` and ``index``, and reach episodic memory's chunk text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import ConfigError, ModelError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.testing import LoopbackVLMServer, build_tiny_vlm
from vidsleuth.tools.perception.registry import ALL_PERCEIVERS, make_perceiver, parse_names

COLOURS = [(220, 30, 30), (30, 180, 30), (30, 30, 220)]  # red, green, blue: 4 s each


def write_colour_video(
    path: Path, colours=COLOURS, seconds_each: float = 4.0, fps: int = 5
) -> Path:
    import av

    w, h = 96, 64
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "18"}
        i = 0
        for c in colours:
            for _ in range(round(seconds_each * fps)):
                img = np.empty((h, w, 3), np.uint8)
                img[:] = c
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                i += 1
                for pkt in st.encode(frame):
                    out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_colour_video(tmp_path_factory.mktemp("vid") / "colours.mp4")


@pytest.fixture
def server():
    with LoopbackVLMServer() as srv:
        yield srv


def vlm_settings(store: Path, url: str, **kw) -> Settings:
    return Settings(
        store=store,
        vlm_backend="openai-compatible",
        vlm_model="loopback-vlm",
        vlm_base_url=url,
        vlm_retries=1,
        vlm_timeout=10,
        **kw,
    )


def caption_pass(video: Path, cfg: Settings):
    from vidsleuth.memory.indexer import index_video
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.perception.cache import perceive_video, stored_observations
    from vidsleuth.tools.video.chunks import chunk_plan_for, plan_key

    with Store.open(cfg.store) as store:
        summary = index_video(store, video, cfg)
        record = store.video(summary.video_id)
        plan = chunk_plan_for(record, cfg)
        out = perceive_video(
            store, record, plan, ["caption"], settings=cfg, frames_plan=plan_key(plan, cfg)
        )
        obs = stored_observations(store, record.video_id, ["caption"], cfg)
    return out["perceivers"]["caption"], obs, plan


def test_all_includes_caption_only_with_a_vlm(tmp_path: Path) -> None:
    assert parse_names("all", Settings(store=tmp_path)) == list(ALL_PERCEIVERS)
    with_vlm = vlm_settings(tmp_path, "http://127.0.0.1:9/v1")
    assert "caption" in parse_names("all", with_vlm)
    assert parse_names("caption,ocr", with_vlm) == ["ocr", "caption"]
    with pytest.raises(ConfigError, match="VIDSLEUTH_VLM_BACKEND"):
        make_perceiver("caption", Settings(store=tmp_path))
    with pytest.raises(ConfigError, match="VIDSLEUTH_VLM_MODEL"):
        make_perceiver("caption", Settings(store=tmp_path, vlm_backend="openai-compatible"))


def test_captions_are_stored_reused_and_versioned(video: Path, server, tmp_path: Path) -> None:
    cfg = vlm_settings(tmp_path / "store", server.url)
    st, obs, plan = caption_pass(video, cfg)
    assert st["units_computed"] == len(plan.chunks) == 3 and st["problems"] == []
    # every chunk: one request with its 4 frames (1 fps samples of a 4 s chunk)
    assert [r["images"] for r in server.requests] == [4, 4, 4]
    assert all(r["model"] == "loopback-vlm" for r in server.requests)
    texts = [o.text for o in sorted(obs, key=lambda o: o.t_start)]
    assert texts == [
        "4 frames showing a red screen.",
        "4 frames showing a green screen.",
        "4 frames showing a blue screen.",
    ]
    assert [(o.t_start, o.t_end, o.kind) for o in sorted(obs, key=lambda o: o.t_start)] == [
        (0.0, 4.0, "caption"),
        (4.0, 8.0, "caption"),
        (8.0, 12.0, "caption"),
    ]
    # a second run asks nothing
    st2, _, _ = caption_pass(video, cfg)
    assert st2["units_reused"] == 3 and st2["units_computed"] == 0 and len(server.requests) == 3
    # a new prompt parameter (frames per caption) is a new version: asked again, beside the old
    st3, _, _ = caption_pass(video, cfg.model_copy(update={"caption_frames": 2}))
    assert st3["units_computed"] == 3 and [r["images"] for r in server.requests[3:]] == [2, 2, 2]
    assert st3["version"] != st["version"]
    # the server's URL is not part of the version (the same model moved to another port)
    moved = cfg.model_copy(update={"vlm_base_url": "http://127.0.0.1:1/v1"})
    assert make_perceiver("caption", moved).version == st["version"]


def test_captions_feed_episodic_chunk_text(video: Path, server, tmp_path: Path) -> None:
    from vidsleuth.memory.episodic import assign_to_chunks, chunk_text

    cfg = vlm_settings(tmp_path / "store", server.url)
    _, obs, plan = caption_pass(video, cfg)
    spans = [(c.t_start, c.t_end) for c in plan.chunks]
    texts = [chunk_text(o) for o in assign_to_chunks(obs, spans)]
    assert texts[1] == "caption: 4 frames showing a green screen."


def test_captions_reach_memory_search(video: Path, server, tmp_path: Path) -> None:
    from vidsleuth.memory.chroma import open_memory_store
    from vidsleuth.memory.episodic import EpisodicMemory
    from vidsleuth.memory.testing import HashingEmbedder

    cfg = vlm_settings(tmp_path / "store", server.url)
    _, obs, plan = caption_pass(video, cfg)
    with open_memory_store(cfg) as cs:
        mem = EpisodicMemory(cs, HashingEmbedder())
        _, written = mem.write_chunks("vid", obs, [(c.t_start, c.t_end) for c in plan.chunks])
        assert written == 3
        hits = mem.search("vid", "blue screen", k=1)
    assert hits and hits[0].t_start == 8.0 and "blue" in hits[0].text


def test_empty_replies_store_nothing_and_stop_with_one_line(
    video: Path, server, tmp_path: Path
) -> None:
    cfg = vlm_settings(tmp_path / "store", server.url)
    server.reply = lambda body, images: "   "
    with pytest.raises(ModelError, match="empty reply") as err:
        caption_pass(video, cfg)
    assert "\n" not in str(err.value)
    # nothing was stored: a later run with a working server captions every chunk
    server.reply = None
    st, obs, _ = caption_pass(video, cfg)
    assert st["units_computed"] == 3 and len(obs) == 3


def test_one_bad_reply_is_a_problem_and_is_asked_again(video: Path, server, tmp_path: Path) -> None:
    cfg = vlm_settings(tmp_path / "store", server.url, vlm_concurrency=1)
    # the first request gets non-text content, the others a caption
    server.script.append(
        (200, {"choices": [{"message": {"content": [{"type": "image"}]}}], "usage": {}})
    )
    st, obs, _ = caption_pass(video, cfg)
    assert st["units_computed"] == 2 and st["units_failed"] == 1
    assert "non-text content" in st["problems"][0] and len(obs) == 2
    st2, obs2, _ = caption_pass(video, cfg)
    assert (st2["units_reused"], st2["units_computed"], len(obs2)) == (2, 1, 3)


def test_a_server_that_is_down_is_one_line(video: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = vlm_settings(tmp_path / "store", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ModelError, match="cannot reach the OpenAI-compatible server"):
        caption_pass(video, cfg)


_KILLED_RUN = """
import sys
from pathlib import Path
from vidsleuth.settings import Settings
sys.path.insert(0, {tests!r})
from test_vlm_caption import caption_pass, vlm_settings
caption_pass(Path({video!r}), vlm_settings(Path({store!r}), {url!r}, vlm_concurrency=1))
"""


def test_resumes_after_kill_9(video: Path, server, tmp_path: Path) -> None:
    """A caption pass killed with SIGKILL keeps the chunks it finished; the next run asks the
    VLM only for the rest."""
    store = tmp_path / "store"
    server.gate = threading.Event()
    server.gate_after = 2  # answer two requests, then hold the third until the kill
    code = _KILLED_RUN.format(
        tests=str(Path(__file__).parent), video=str(video), store=str(store), url=server.url
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    try:
        deadline = time.time() + 120
        while len(server.requests) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(server.requests) == 3, proc.poll()
        time.sleep(0.3)  # the two answered chunks are written before the third request is sent
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    server.gate.set()
    server.gate = None
    server.requests.clear()
    st, obs, _ = caption_pass(video, vlm_settings(store, server.url, vlm_concurrency=1))
    assert (st["units_reused"], st["units_computed"]) == (2, 1)
    assert len(server.requests) == 1 and len(obs) == 3


def test_look_json_shows_the_caption(
    video: Path, server, tmp_path: Path, monkeypatch, capsys
) -> None:
    from vidsleuth.agent.cli.main import main

    monkeypatch.setenv("VIDSLEUTH_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("VIDSLEUTH_VLM_BACKEND", "openai-compatible")
    monkeypatch.setenv("VIDSLEUTH_VLM_MODEL", "loopback-vlm")
    monkeypatch.setenv("VIDSLEUTH_VLM_BASE_URL", server.url)
    assert main(["look", str(video), "--at", "5", "--perceivers", "caption", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (obs,) = out["observations"]
    assert obs["kind"] == "caption" and obs["text"] == "4 frames showing a green screen."
    assert (obs["t_start"], obs["t_end"]) == (4.0, 8.0)
    assert server.requests[0]["images"] == 4


def test_index_perceive_caption_and_models_ls_roles(
    video: Path, server, tmp_path: Path, monkeypatch, capsys
) -> None:
    from vidsleuth.agent.cli.main import main

    monkeypatch.setenv("VIDSLEUTH_VLM_BACKEND", "openai-compatible")
    monkeypatch.setenv("VIDSLEUTH_VLM_MODEL", "loopback-vlm")
    monkeypatch.setenv("VIDSLEUTH_VLM_BASE_URL", server.url)
    store = str(tmp_path / "store")
    code = main(["index", str(video), "--perceive", "caption", "--store", store, "--json", "-q"])
    assert code == 0
    row = json.loads(capsys.readouterr().out)
    assert row["perception"]["caption"]["units_computed"] == 3
    assert main(["models", "ls", "--json", "--store", store]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["role:perceiver"]["model"] == "loopback-vlm"
    assert rows["role:perceiver"]["backend"] == "openai-compatible"
    assert rows["role:reasoning"]["backend"] == Settings().chat_backend
    assert main(["models", "ls", "--store", store]) == 0
    text = capsys.readouterr().out
    assert "perceiver  openai-compatible: loopback-vlm" in text and "reasoning" in text


def test_bench_caption_json(video: Path, server, tmp_path: Path, monkeypatch, capsys) -> None:
    from vidsleuth.agent.cli.main import main

    monkeypatch.setenv("VIDSLEUTH_VLM_BACKEND", "openai-compatible")
    monkeypatch.setenv("VIDSLEUTH_VLM_MODEL", "loopback-vlm")
    monkeypatch.setenv("VIDSLEUTH_VLM_BASE_URL", server.url)
    monkeypatch.setenv("VIDSLEUTH_STORE", str(tmp_path / "store"))
    assert main(["bench", "caption", str(video), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["chunks_captioned"] == 3 and r["requests"] == 3
    assert r["frames_per_request"] == 4.0 and r["prompt_tokens_per_request"] == 90.0
    assert r["chunks_per_s"] > 0 and r["seconds_per_video_hour"] > 0


def test_no_vlm_is_one_clear_cli_line(video: Path, monkeypatch, capsys) -> None:
    from vidsleuth.agent.cli.main import main

    monkeypatch.delenv("VIDSLEUTH_VLM_BACKEND", raising=False)
    code = main(["look", str(video), "--at", "1", "--perceivers", "caption"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "VIDSLEUTH_VLM_BACKEND" in err


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny_qwen"), family="qwen2_vl")


def test_tiny_transformers_vlm_captions_every_chunk(
    video: Path, tiny_qwen: Path, tmp_path: Path
) -> None:
    cfg = Settings(
        store=tmp_path / "store",
        vlm_backend="transformers",
        vlm_model=str(tiny_qwen),
        model_device="cpu",
        caption_max_tokens=8,
    )
    p = make_perceiver("caption", cfg)
    st, obs, _ = caption_pass(video, cfg)
    assert st["units_computed"] == 3 and len(obs) == 3 and all(o.text for o in obs)
    assert p.vlm().id.startswith("transformers:") and p.requests == 3 and p.images_sent == 12
    st2, _, _ = caption_pass(video, cfg)
    assert st2["units_reused"] == 3 and p.requests == 3  # cached: the model is not asked again
