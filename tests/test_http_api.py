"""The HTTP API with FastAPI's test client: indexing as a job with a progress stream, asking
(a document or a stream of steps), sessions, evidence pages and the video behind their players,
and bad input answered with a clear 4xx (never a 500 traceback); an optional bearer token."""

from __future__ import annotations

import json

import pytest
from view_world import CLIP_OPTIONS, CLIP_QUESTION, clip_chat, clip_registry, make_clock_video

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from vidsleuth.agent.http_api import create_app, is_loopback
from vidsleuth.agent.service import VideoService
from vidsleuth.settings import Settings

ASK_KEYS = {
    "answer",
    "answer_text",
    "confidence",
    "evidence",
    "stop_reason",
    "answered_by",
    "tools_used",
    "cost",
    "session_id",
    "video_id",
}


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    return make_clock_video(tmp_path_factory.mktemp("clip") / "clock.mp4")


@pytest.fixture
def service(tmp_path):
    svc = VideoService(
        Settings(store=tmp_path / "store", perceivers="subtitles"),
        chat=clip_chat(),
        registry=clip_registry(),
    )
    yield svc
    svc.close()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def sse(lines) -> list[tuple[str, dict]]:
    """``(event, data)`` of a server-sent-events stream."""
    events, name = [], "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_index_job_streams_progress_then_lists_the_video(client, clock):
    r = client.post("/videos", json={"path": str(clock)})
    assert r.status_code == 202
    job = r.json()
    assert job["kind"] == "index" and job["links"]["events"] == f"/jobs/{job['id']}/events"
    with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream.iter_lines())
    names = [n for n, _ in events]
    assert names[0] == "started" and names[-2:] == ["done", "end"]
    frames = [d for n, d in events if n == "progress" and d["stage"] == "frames"]
    assert frames[-1]["done"] == frames[-1]["total"] == 3  # 12 s in 4 s chunks
    end = events[-1][1]
    assert end["status"] == "done" and end["result"]["chunks"] == 3
    # resuming after the third event replays the rest only
    with client.stream(
        "GET", f"/jobs/{job['id']}/events", headers={"Last-Event-ID": "2"}
    ) as stream:
        assert [n for n, _ in sse(stream.iter_lines())] == names[3:]
    done = client.get(f"/jobs/{job['id']}").json()
    assert done["status"] == "done" and done["result"]["video_id"] == end["result"]["video_id"]
    videos = client.get("/videos").json()
    assert [v["video_id"] for v in videos] == [end["result"]["video_id"]]
    assert videos[0]["duration_s"] == pytest.approx(12.0, abs=0.2)
    assert client.get(f"/videos/{videos[0]['video_id']}").json() == videos[0]


def test_ask_returns_the_ask_json_document_and_its_evidence_page(client, clock):
    body = {"video": str(clock), "question": CLIP_QUESTION, "options": CLIP_OPTIONS}
    r = client.post("/ask", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) == ASK_KEYS | {"answer_id", "links"}
    assert doc["answer"] == "B" and doc["evidence"][0]["t_start"] == 9.0
    aid, vid = doc["answer_id"], doc["video_id"]
    assert doc["links"]["html"] == f"/answers/{aid}.html"
    full = client.get(f"/answers/{aid}").json()
    assert full["question"] == CLIP_QUESTION and full["trace"]
    page = client.get(f"/answers/{aid}.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"src='../videos/{vid}/file#t=9.00,10.00'" in page.text
    assert page.text.count("<img class='thumb' src='data:image/jpeg;base64,") == 2
    part = client.get(f"/videos/{vid}/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.content == clock.read_bytes()[:100]
    # the session continues with its id; a question without one starts its own
    again = client.post("/ask", json={**body, "video": vid, "session_id": doc["session_id"]})
    assert again.json()["session_id"] == doc["session_id"]
    fresh = client.post("/ask", json={**body, "video": vid}).json()
    assert fresh["session_id"] != doc["session_id"]


def test_ask_can_stream_the_agent_steps(client, clock):
    body = {"video": str(clock), "question": CLIP_QUESTION, "options": CLIP_OPTIONS}
    with client.stream("POST", "/ask", json={**body, "stream": True}) as stream:
        events = sse(stream.iter_lines())
    steps = [d for n, d in events if n == "step"]
    assert [s["node"] for s in steps][:3] == ["plan", "act", "map"]
    assert any("inspect_interval" in line for s in steps for line in s["lines"])
    end = events[-1]
    assert end[0] == "end" and end[1]["status"] == "done"
    assert set(end[1]["result"]) == ASK_KEYS | {"answer_id"} and end[1]["result"]["answer"] == "B"


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "detail"),
    [
        ("post", "/videos", {"path": "/no/such.mp4"}, 404, "/no/such.mp4: no such file"),
        ("post", "/videos", {}, 422, "path: Field required"),
        ("post", "/videos", {"path": ""}, 422, "path: String should have at least 1 character"),
        ("post", "/videos", {"path": "a.mp4", "x": 1}, 422, "x: Extra inputs are not permitted"),
        ("post", "/videos", [1, 2], 422, "body: Input should be a valid dictionary"),
        ("post", "/ask", {"video": "/no/such.mp4", "question": "q"}, 404, "no such file"),
        ("post", "/ask", {"video": "/no.mp4", "question": "q", "stream": True}, 404, "no such"),
        ("post", "/ask", {"video": "v", "question": ""}, 422, "question: String should have"),
        ("post", "/ask", {"video": "v", "question": "q", "options": ["a"]}, 422, "options: List"),
        ("post", "/ask", {"video": "v", "question": "q", "session_id": "../x"}, 422, "session_id"),
        ("post", "/ask", {"question": "q"}, 422, "video: Field required"),
        ("get", "/jobs/nope", None, 404, "no job 'nope'"),
        ("get", "/jobs/nope/events", None, 404, "no job 'nope'"),
        ("get", "/answers/nope.html", None, 404, "no answer 'nope'"),
        ("get", "/answers/x.y", None, 404, "no answer 'x.y'"),
        ("get", "/videos/nope", None, 404, "no stored video 'nope'"),
        ("get", "/videos/nope/file", None, 404, "no stored video 'nope'"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, method, url, body, status, detail):
    r = client.request(method.upper(), url, json=body)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
    assert "Traceback" not in r.text


def test_malformed_json_and_bad_files(client, tmp_path):
    r = client.post("/videos", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body: not valid JSON")
    r = client.post("/videos", json={"path": str(tmp_path)})
    assert r.status_code == 400 and "is a directory" in r.json()["detail"]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert client.post("/videos", json={"path": str(empty)}).status_code == 400
    # a file that is no video passes the first checks; its job fails with one line
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video at all")
    job = client.post("/videos", json={"path": str(fake)}).json()
    with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
        events = sse(stream.iter_lines())
    assert [n for n, _ in events][-2:] == ["failed", "end"]
    assert events[-1][1]["status"] == "failed" and "notes.mp4" in events[-1][1]["error"]
    assert "\n" not in events[-1][1]["error"]


def test_an_unexpected_failure_is_one_line_500(service, monkeypatch):
    def boom():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "videos", boom)
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        r = c.get("/videos")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error: RuntimeError: disk on fire"}


def test_bearer_token(service):
    with TestClient(create_app(service, token="s3cret")) as c:
        assert c.get("/videos").status_code == 401
        assert c.get("/videos", headers={"Authorization": "Bearer nope"}).status_code == 401
        r = c.get("/videos", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json() == []
        assert c.get("/videos").headers["www-authenticate"] == "Bearer"


def test_loopback_by_default():
    import inspect

    from vidsleuth.agent.cli.serve import serve_cmd

    assert inspect.signature(serve_cmd).parameters["host"].default == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
