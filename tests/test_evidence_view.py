"""The evidence view: built from a real scripted run, thumbnails from the frame cache (decoded
only when missing), a playable link per citation, the trace and the cost; `ask --html` and
`chat --html` write it."""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from view_world import (
    CLIP_OPTIONS,
    CLIP_QUESTION,
    clip_registry,
    clip_replies,
    make_clock_video,
)

from vidsleuth.agent.evidence_view import (
    cited_thumbnails,
    render_evidence_view,
    timeline_marks,
    trace_rows,
    write_evidence_view,
)
from vidsleuth.agent.session import Answer, Evidence, VideoAgent
from vidsleuth.memory.indexer import index_video
from vidsleuth.memory.store import Store
from vidsleuth.settings import Settings
from vidsleuth.tools.models.testing import ScriptedChatModel


@pytest.fixture(scope="module")
def clock(tmp_path_factory) -> Path:
    return make_clock_video(tmp_path_factory.mktemp("clip") / "clock.mp4")


def clock_colour(second: int) -> tuple[int, int, int]:
    """The background of the clock video during ``second`` (see make_clock_video)."""
    hue = (second * 37) % 255
    return hue, 255 - hue, (second * 91) % 255


def run_clip(store: Path, video: Path, cached: bool = True):
    """One real scripted run on the clip; ``cached``: its frames indexed first."""
    s = Settings(store=store)
    if cached:
        with Store.open(store) as st:
            index_video(st, video, s)
    # index=False: the frames (or nothing) are in the store, and no perception runs
    agent = VideoAgent(
        s, chat=ScriptedChatModel(clip_replies()), registry=clip_registry(), index=False
    )
    ans = agent.ask(video, CLIP_QUESTION, CLIP_OPTIONS)
    return agent, ans


def decode_uri(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_page_from_a_real_run_has_answer_timeline_thumbnails_players_trace_and_cost(
    tmp_path, clock
):
    agent, ans = run_clip(tmp_path / "store", clock)
    with agent:
        page = write_evidence_view(
            ans,
            tmp_path / "out" / "answer.html",
            store=agent.store,
            registry=agent.registry,
            settings=agent.settings,
        )
    doc = page.read_text()
    assert ans.answer == "B" and ans.evidence[0].t_start == 9.0
    # the question, every option (the chosen one marked), the answer and how it was reached
    assert CLIP_QUESTION in doc
    assert all(o in doc for o in CLIP_OPTIONS)
    assert "<li class=chosen>00:00:09:00</li>" in doc
    assert "id='confidence'>0.96<" in doc and "stopped: confident" in doc
    assert "answered by: model" in doc
    # the timeline: looked (read_text 0-3), zoomed (7.5-10), cited (9-10) over the 12 s video
    lanes = dict(re.findall(r"data-lane='(\w+)'>(.*?)</div>", doc, re.S))
    assert set(lanes) == {"searched", "looked", "zoomed", "cited"}
    assert "read_text 0:00-0:03" in lanes["looked"]
    assert "inspect_interval 0:07.5-0:10" in lanes["zoomed"]
    assert "left:75.000%" in lanes["cited"]  # 9 s of 12 s
    assert "search_clip &#x27;timecode&#x27; (1 found)" in doc
    # one thumbnail per citation, the cached frame of the cited second
    thumbs = re.findall(r"<img class='thumb' src='([^']+)'", doc)
    assert len(thumbs) == len(ans.evidence) == 2
    img = decode_uri(thumbs[0])
    assert np.abs(img[5:20, 5:20].reshape(-1, 3).mean(0) - clock_colour(9)).max() < 12
    # each citation plays its span from the video, linked relative to the page
    srcs = re.findall(r"<video id='player-\d' [^>]*src='([^']+)'", doc)
    assert srcs[0].endswith("/clock.mp4#t=9.00,10.00") and not srcs[0].startswith("/")
    assert (page.parent / srcs[0].split("#")[0]).resolve() == clock.resolve()
    # the trace, with rounds, tools and model calls, and the cost
    assert "tool inspect_interval (chosen by the model)" in doc and "5 frames decoded" in doc
    assert re.search(
        r"means B; shown order \[[0-3, ]+\], answer [A-D] \(0.95\) at 0:09: the last", doc
    )
    assert re.search(r"<dt>model calls</dt><dd>3</dd>", doc)
    # self-contained: nothing is loaded from any network
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", doc)
    assert "url(" not in doc and "@import" not in doc
    assert "default-src 'none'" in doc


def test_thumbnails_come_from_the_cache_and_are_decoded_only_when_missing(
    tmp_path, clock, monkeypatch
):
    s = Settings(store=tmp_path / "store")
    with Store.open(s.store) as st:
        index_video(st, clock, s)
        rec = st.videos()[0]
        import vidsleuth.tools.video as video

        def no_decoding(*a, **k):
            raise AssertionError("decoded a frame the cache has")

        monkeypatch.setattr(video, "sample_frames", no_decoding)
        uris = cited_thumbnails(st, rec, [(3.0, 4.0), (6.2, 6.6)], s)
        assert all(uris)
        assert (
            np.abs(decode_uri(uris[0])[5:20, 5:20].reshape(-1, 3).mean(0) - clock_colour(3)).max()
            < 12
        )
        monkeypatch.undo()

    with Store.open(tmp_path / "bare") as st:  # registered, never indexed: decode the one frame
        rec = st.register(clock)
        uris = cited_thumbnails(st, rec, [(5.0, 6.0)], s)
        colour = decode_uri(uris[0])[5:20, 5:20].reshape(-1, 3).mean(0)
        assert np.abs(colour - clock_colour(5)).max() < 12
        rec.paths[:] = [str(tmp_path / "moved.mp4")]  # the file is gone: no picture, no crash
        assert cited_thumbnails(st, rec, [(5.0, 6.0)], s) == [None]


def test_marks_and_trace_rows_read_any_trace():
    ans = Answer(
        question="q <b>",
        options=["x", "y"],
        answer="A",
        evidence=[Evidence(t_start=30, t_end=34, why="<script>alert(1)</script>")],
        trace=[
            {"node": "plan", "question": "q", "options": ["x", "y"]},
            {"node": "act", "tool": "search_memory", "args": {"query": "red"}, "found": 3},
            {"node": "act", "tool": "read_text", "args": {"t_start": 10, "t_end": 14}, "found": 1},
            {
                "node": "act",
                "tool": "read_text",
                "args": {"t_start": 20, "t_end": 24},
                "error": "x",
            },
            {"node": "act", "tool": "zoom_in", "args": {"t_start": 28, "t_end": 36}, "found": 2},
            {"node": "act", "tool": "find_mentions", "args": {"query": "y"}, "spans": [[50, 52]]},
            {"node": "reduce", "answer": "A", "confidence": 0.5, "stop": ""},
            {"node": "decide", "decision": "model: answer now"},
            {"node": "map", "model": "m", "error": "no reply"},
            {"node": "map", "skipped": "all groups", "why": "answer computed"},
            {"node": "reduce", "answer": "A", "confidence": 0.8, "stop": "confident"},
            {"node": "answer", "stop_reason": "confident"},
        ],
    )
    marks = {(m.lane, m.t_start) for m in timeline_marks(ans)}
    assert marks == {("looked", 10.0), ("zoomed", 28.0), ("searched", 50.0), ("cited", 30.0)}
    rows = trace_rows(ans.trace)
    assert [r.round for r in rows] == [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert rows[3].failed and rows[3].result == "error: x" and rows[-4].failed
    assert (rows[-3].what, rows[-3].result) == ("skipped", "all groups: answer computed")
    assert rows[-1].what == "stop" and rows[-1].result == "confident"
    doc = render_evidence_view(ans, duration_s=60.0, video_src="v.mp4")
    assert "<script>alert(1)</script>" not in doc and "&lt;script&gt;" in doc
    assert "q &lt;b&gt;" in doc
    assert "src='v.mp4#t=30.00,34.00'" in doc
    no_video = render_evidence_view(ans)  # no store, no video: still a page, no players
    assert "<video" not in no_video and "no frame" in no_video


def test_ask_and_chat_write_evidence_pages(tmp_path, clock, monkeypatch):
    from vidsleuth.agent.cli import ask as ask_cli
    from vidsleuth.agent.cli.main import main

    def scripted_agent(store, max_rounds, confirm):
        s = Settings(store=tmp_path / "store")
        replies = clip_replies() * 3
        return VideoAgent(s, chat=ScriptedChatModel(replies), registry=clip_registry(), index=False)

    monkeypatch.setattr(ask_cli, "_agent", scripted_agent)
    out = tmp_path / "ask.html"
    code = main(
        ["ask", str(clock), CLIP_QUESTION, "--options", *CLIP_OPTIONS, "-q", "--html", str(out)]
    )
    assert code == 0
    doc = out.read_text()
    assert CLIP_QUESTION in doc and "<video" in doc and "class='thumb'" in doc

    lines = f"{CLIP_QUESTION} | " + " | ".join(CLIP_OPTIONS) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines * 2))
    code = main(["chat", str(clock), "-q", "--html", str(tmp_path / "chat")])
    assert code == 0
    pages = sorted(p.name for p in (tmp_path / "chat").iterdir())
    assert pages == ["index.html", "q01.html", "q02.html"]
    index = (tmp_path / "chat" / "index.html").read_text()
    assert "href='q01.html'" in index and "href='q02.html'" in index
