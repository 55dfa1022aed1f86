"""The evidence view in a real browser: headless Chromium (Debian's ``chromium`` package, ``make
browser``) loads a page built from a real scripted run on a shared clip, takes a screenshot that
is checked (not blank, the page's colours present), dumps the DOM (the expected elements, each
player loaded and seeked to its cited span), and makes no network request (every request goes to
a recording proxy; a page that does fetch something is caught by the same check).  The same page
served by the HTTP API plays its video through ``/videos/{id}/file``."""

from __future__ import annotations

import http.server
import re
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from view_world import CLIP_OPTIONS, CLIP_QUESTION, clip_registry, clip_replies, clip_video

from vidsleuth.agent.evidence_view import write_evidence_view
from vidsleuth.agent.session import VideoAgent
from vidsleuth.memory.indexer import index_video
from vidsleuth.memory.store import Store
from vidsleuth.settings import Settings
from vidsleuth.tools.models.testing import ScriptedChatModel

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (`make browser`, or apt-get install chromium)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
]
# Chromium's own services (network time, accounts, variations) call these hosts even with
# background networking off; they are the browser's requests, not the page's.
BROWSER_HOSTS = re.compile(r"(^|\.)google\.com$")


class Recorder(http.server.BaseHTTPRequestHandler):
    """A proxy that records every request and serves none."""

    seen: list[tuple[str, str]]

    def _record(self) -> None:
        self.seen.append((self.command, self.path))
        self.send_response(502)
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = do_PUT = do_OPTIONS = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy():
    seen: list[tuple[str, str]] = []
    handler = type("Rec", (Recorder,), {"seen": seen})
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def chromium(url: str, tmp: Path, *extra: str, proxy_port: int | None = None) -> str:
    profile = tmp / f"profile-{time.monotonic_ns()}"  # a fresh profile every run
    args = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    if proxy_port is not None:
        args += [
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",
        ]
    res = subprocess.run(
        ["nice", "-n", "19", *args, *extra, url], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def page_hosts(seen: list[tuple[str, str]]) -> set[str]:
    hosts = set()
    for method, target in seen:
        host = target.split(":")[0] if method == "CONNECT" else target.split("/")[2]
        if not BROWSER_HOSTS.search(host.split(":")[0]):
            hosts.add(host)
    return hosts


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The evidence page of a real scripted run on the shared timecode clip (a generated clip
    when ../shared is absent), its frames indexed so thumbnails come from the cache."""
    tmp = tmp_path_factory.mktemp("view")
    video = clip_video(tmp)
    s = Settings(store=tmp / "store")
    with Store.open(s.store) as st:
        index_video(st, video, s)
    chat = ScriptedChatModel(clip_replies())
    with VideoAgent(s, chat=chat, registry=clip_registry(), index=False) as agent:
        ans = agent.ask(video, CLIP_QUESTION, CLIP_OPTIONS)
        path = write_evidence_view(
            ans, tmp / "pages" / "answer.html", store=agent.store, registry=agent.registry
        )
    return path, ans


def test_screenshot_shows_the_page(page, tmp_path, proxy):
    from PIL import Image

    path, _ = page
    port, seen = proxy
    shot = tmp_path / "evidence.png"
    chromium(
        path.as_uri(),
        tmp_path,
        "--window-size=1200,1700",
        f"--screenshot={shot}",
        proxy_port=port,
    )
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (1700, 1200, 3)
    assert img.std() > 30  # not blank
    colours = {tuple(c) for c in img[::4, ::4].reshape(-1, 3) // 16}
    assert len(colours) > 200  # text, marks, thumbnails and video frames, not a flat page
    cited = np.all(np.abs(img.astype(int) - (0xE1, 0x1D, 0x48)) < 24, axis=-1)
    assert cited.sum() > 500  # the cited marks and the confidence bar are drawn
    assert page_hosts(seen) == set()


def test_dom_has_every_part_and_the_players_seek_to_their_spans(page, tmp_path, proxy):
    path, ans = page
    port, seen = proxy
    dom = chromium(path.as_uri(), tmp_path, "--dump-dom", proxy_port=port)
    assert f"<h1>{CLIP_QUESTION}</h1>" in dom
    assert 'id="stop-reason">stopped: confident<' in dom
    assert 'id="answered-by">answered by: model<' in dom
    assert len(re.findall(r'class="mark cited"', dom)) == len(ans.evidence)
    assert len(re.findall(r'class="mark zoomed"', dom)) == 1
    assert len(re.findall(r'<img class="thumb" src="data:image/jpeg;base64,', dom)) == 2
    players = re.findall(r"<video [^>]*>", dom)
    assert len(players) == len(ans.evidence)
    for tag, ev in zip(players, ans.evidence, strict=True):
        assert 'data-state="loaded"' in tag, tag  # the browser opened the relative link
        seeked = float(re.search(r'data-seeked-to="([\d.]+)"', tag).group(1))
        assert abs(seeked - ev.t_start) < 0.05, tag
    rows = re.findall(r"<tr(?: class=\"failed\")?><td>\d+</td>", dom)
    assert len(rows) == len(ans.trace)
    assert "<dt>model calls</dt><dd>3</dd>" in dom
    assert page_hosts(seen) == set()


def test_the_network_check_catches_a_page_that_fetches(tmp_path, proxy):
    port, seen = proxy
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><img src='http://example.com/x.png'>"
        "<link rel=stylesheet href='https://cdn.example.org/a.css'></body></html>"
    )
    chromium(bad.as_uri(), tmp_path, "--dump-dom", proxy_port=port)
    assert {"example.com", "cdn.example.org"} <= page_hosts(seen)


def test_the_served_page_plays_its_video_through_the_api(tmp_path):
    pytest.importorskip("fastapi")
    import uvicorn

    from vidsleuth.agent.http_api import create_app
    from vidsleuth.agent.service import VideoService

    video = clip_video(tmp_path)
    service = VideoService(
        Settings(store=tmp_path / "store", perceivers="subtitles"),
        chat=ScriptedChatModel(clip_replies()),
        registry=clip_registry(),
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        answer_id, ans = service.ask(str(video), CLIP_QUESTION, CLIP_OPTIONS)
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/answers/{answer_id}.html"
        dom = chromium(url, tmp_path, "--dump-dom")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.close()
    players = re.findall(r"<video [^>]*>", dom)
    assert players and all('data-state="loaded"' in p for p in players), players
    assert f'src="../videos/{ans.video_id}/file#t=9.00,10.00"' in players[0]
    assert '<img class="thumb"' in dom
