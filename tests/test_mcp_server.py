"""The MCP server: a client from the same SDK starts `vidsleuth mcp` over stdio the way the
README's client configuration does, lists the tools, indexes a small generated video (with
progress notifications), asks about it twice in one session, searches and lists; and the
streamable HTTP transport answers a client at its URL.  The chat model is scripted and the tools
work over a scripted world (the hidden test-only --chat-script and --tools options)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from view_world import CLIP_OPTIONS, CLIP_QUESTION, clip_replies, make_clock_video

mcp = pytest.importorskip("mcp")
import anyio  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

VIDSLEUTH = str(Path(sys.executable).parent / "vidsleuth")
from conftest import PRIOR_STOP_WEIGHTS  # noqa: E402

TEST_ENV = {
    "PYTHONPATH": str(REPO / "tests"),
    "VIDSLEUTH_PERCEIVERS": "subtitles",  # frames and subtitles only: no perception models
    "HF_HUB_OFFLINE": "1",
    "VIDSLEUTH_AGENT_STOP_WEIGHTS": PRIOR_STOP_WEIGHTS,  # the loop, not the last fit (conftest)
}


def readme_config() -> dict:
    text = (REPO / "README.md").read_text()
    marker = "<!-- used by tests/test_mcp_server.py -->"
    block = re.search(r"```json\n(.*?)```", text[text.index(marker) :], re.S)
    return json.loads(block.group(1))["mcpServers"]["vidsleuth"]


def test_readme_configuration_is_what_a_client_needs():
    cfg = readme_config()
    assert set(cfg) == {"command", "args", "env"}
    assert Path(cfg["command"]).name == "vidsleuth" and cfg["args"] == ["mcp"]
    assert set(cfg["env"]) == {"VIDSLEUTH_STORE"}


def test_stdio_client_lists_tools_indexes_and_asks(tmp_path):
    video = make_clock_video(tmp_path / "clock.mp4")
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(clip_replies(n_maps=2) * 2))
    cfg = readme_config()  # as a user would configure it, pointed at this checkout
    params = StdioServerParameters(
        command=VIDSLEUTH,
        args=[*cfg["args"], "--chat-script", str(script), "--tools", "view_world:clip_registry"],
        env={**cfg["env"], "VIDSLEUTH_STORE": str(tmp_path / "store"), **TEST_ENV},
    )
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def session() -> dict:
        out: dict = {}
        with anyio.fail_after(180):
            async with Client(params) as client:
                tools = {t.name: t for t in (await client.list_tools()).tools}
                out["tools"] = tools
                r = await client.call_tool(
                    "index_video", {"path": str(video)}, progress_callback=on_progress
                )
                out["index"] = r
                args = {"video": str(video), "question": CLIP_QUESTION, "options": CLIP_OPTIONS}
                out["ask"] = await client.call_tool("ask_video", args)
                sid = out["ask"].structured_content["session_id"]
                again = {**args, "question": "And the first timecode?", "session_id": sid}
                out["again"] = await client.call_tool("ask_video", again)
                out["search"] = await client.call_tool(
                    "search_memory", {"video": str(video), "query": "timecode"}
                )
                out["list"] = await client.call_tool("list_videos", {})
                out["bad"] = await client.call_tool("index_video", {"path": str(tmp_path / "no")})
                out["bad_args"] = await client.call_tool("ask_video", {"video": str(video)})
        return out

    out = anyio.run(session)
    tools = out["tools"]
    assert set(tools) == {"index_video", "ask_video", "search_memory", "list_videos"}
    schema = tools["ask_video"].input_schema
    assert set(schema["properties"]) == {"video", "question", "options", "session_id"}
    assert set(schema["required"]) == {"video", "question"}

    index = out["index"]
    assert not index.is_error, index.content
    vid = index.structured_content["video_id"]
    assert index.structured_content["video"]["duration_s"] == pytest.approx(12.0, abs=0.2)
    messages = [m for _, _, m in progress]
    assert any(m and m.startswith("frames: ") for m in messages), progress
    assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)  # increasing

    ask = out["ask"].structured_content
    assert not out["ask"].is_error
    assert ask["answer"] == "B" and ask["answer_text"] == "00:00:09:00"
    assert ask["evidence"][0] == {"t_start": 9.0, "t_end": 10.0, "why": "the last timecode read"}
    assert ask["stop_reason"] == "confident" and ask["answered_by"] == "model"
    assert ask["video_id"] == vid and ask["answer_id"]
    again = out["again"].structured_content
    assert again["session_id"] == ask["session_id"]  # the same conversation continued

    hits = out["search"].structured_content["result"]
    assert hits[0]["t_start"] == 8.0 and "TIMECODE" in hits[0]["text"]
    videos = out["list"].structured_content["result"]
    assert [v["video_id"] for v in videos] == [vid]

    assert out["bad"].is_error and "no such file" in out["bad"].content[0].text
    assert out["bad_args"].is_error and "question" in out["bad_args"].content[0].text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_serves_a_client_at_its_url(tmp_path):
    port = free_port()
    env = {**os.environ, **TEST_ENV, "VIDSLEUTH_STORE": str(tmp_path / "store")}
    args = ["mcp", "--http", f"127.0.0.1:{port}", "--tools", "view_world:clip_registry"]
    proc = subprocess.Popen(
        [VIDSLEUTH, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.2)

        async def session() -> tuple[set[str], object]:
            with anyio.fail_after(60):
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    listed = await client.call_tool("list_videos", {})
            return names, listed

        names, listed = anyio.run(session)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert names == {"index_video", "ask_video", "search_memory", "list_videos"}
    assert listed.structured_content == {"result": []}


def test_a_bad_http_address_is_one_line():
    res = subprocess.run(
        [VIDSLEUTH, "mcp", "--http", "localhost"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "vidsleuth: error: --http wants HOST:PORT, e.g. 127.0.0.1:8765, not 'localhost'"
    )
