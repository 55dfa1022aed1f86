"""``vidsleuth serve``: the agent as an HTTP API (FastAPI).

=========================  ==================================================================
``POST /videos``           index a video file (``{"path": ...}``): 202 and a job
``GET /videos``            the stored videos; ``GET /videos/{id}`` one; ``/videos/{id}/file``
                           the file itself (the evidence pages' players load it)
``GET /jobs/{id}``         a job's state and result; ``/jobs/{id}/events`` its progress as
                           server-sent events (``Last-Event-ID`` resumes)
``POST /ask``              ``{"video", "question", "options", "session_id"}``: the ``ask --json``
                           document plus ``answer_id``; ``"stream": true`` streams the steps
``GET /answers/{id}``      a kept answer with its trace; ``/answers/{id}.html`` its evidence page
=========================  ==================================================================

Every body is validated by pydantic (a clear 422 naming the field), expected failures (no such
file, an unknown video or job) are 4xx with one line of ``detail``, and anything unexpected is a
500 with one line, never a traceback.  With a token set, every request needs
``Authorization: Bearer <token>``.  All work runs through one
:class:`~vidsleuth.agent.service.VideoService`, so the store has one writer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from vidsleuth.agent.service import Job, VideoService
from vidsleuth.errors import VideoError, VidsleuthError

log = logging.getLogger(__name__)
POLL_S = 0.1
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class IndexRequest(BaseModel):
    """Index one video file (a path on the server's machine)."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=4096, description="video file path")


class AskRequest(BaseModel):
    """One question about a video."""

    model_config = ConfigDict(extra="forbid")
    video: str = Field(min_length=1, max_length=4096, description="file path or stored video id")
    question: str = Field(min_length=1, max_length=4000)
    options: list[Annotated[str, Field(min_length=1, max_length=1000)]] | None = Field(
        None, min_length=2, max_length=10, description="2-10 options for multiple choice"
    )
    session_id: str | None = Field(None, pattern=_ID, description="continue this session")
    stream: bool = Field(False, description="stream the steps as server-sent events")


def _sse(event: str, data: Any, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def job_events(job: Job, start: int = 0) -> AsyncIterator[str]:
    """A job's events from ``start`` as server-sent events, then ``end`` with the job."""
    seq = start
    while True:
        for ev in job.events_since(seq):
            yield _sse(str(ev.get("event", "message")), ev, ev.get("seq", seq))
            seq += 1
        if job.done and seq >= len(job.events):
            yield _sse("end", job.as_dict())
            return
        await asyncio.sleep(POLL_S)


def create_app(service: VideoService, *, token: str | None = None) -> FastAPI:
    """The API over ``service``; ``token`` set: every request needs it as a bearer token."""
    from vidsleuth import __version__

    def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    app = FastAPI(
        title="vidsleuth",
        version=__version__,
        description="Answer questions about long videos by investigating them.",
        dependencies=[Depends(auth)],
    )

    @app.exception_handler(VidsleuthError)
    async def expected(request: Request, err: VidsleuthError) -> JSONResponse:
        missing = isinstance(err, VideoError) and err.problem == "no such file"
        return JSONResponse({"detail": str(err)}, status_code=404 if missing else 400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = []
        for e in err.errors():
            if e.get("type") == "json_invalid":
                where = e.get("ctx", {}).get("error", "")
                problems.append({"field": "body", "problem": f"not valid JSON ({where})"})
                continue
            field = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append({"field": field, "problem": e.get("msg", "")})
        lines = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems)
        return JSONResponse({"detail": lines, "problems": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error: {type(err).__name__}: {err}"}, status_code=500
        )

    def the_job(job_id: str) -> Job:
        job = service.job(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    # ------------------------------------------------------------------------- videos
    @app.post("/videos", status_code=202)
    def index_video(req: IndexRequest) -> dict[str, Any]:
        """Start indexing a video file; follow the job at ``/jobs/{id}`` (or its events)."""
        job = service.start_index(req.path)
        return {**job.as_dict(), "links": _job_links(job)}

    @app.get("/videos")
    def list_videos() -> list[dict[str, Any]]:
        return service.videos()

    @app.get("/videos/{video_id}")
    def get_video(video_id: str) -> dict[str, Any]:
        from vidsleuth.agent.service import video_summary

        rec = service.record(video_id)
        if rec is None:
            raise HTTPException(404, f"no stored video {video_id!r}")
        return video_summary(rec)

    @app.get("/videos/{video_id}/file", response_model=None)
    def video_file(video_id: str) -> FileResponse:
        """The video file (range requests work, so players can seek)."""
        from pathlib import Path

        rec = service.record(video_id)
        if rec is None:
            raise HTTPException(404, f"no stored video {video_id!r}")
        path = next((Path(p) for p in reversed(rec.paths) if Path(p).is_file()), None)
        if path is None:
            raise HTTPException(404, f"video {video_id} is no longer at {rec.path}")
        return FileResponse(path)

    # ------------------------------------------------------------------------- jobs
    @app.get("/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        return [j.as_dict() for j in service.jobs()]

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = the_job(job_id)
        return {**job.as_dict(), "links": _job_links(job)}

    @app.get("/jobs/{job_id}/events", response_model=None)
    def job_stream(
        job_id: str, last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        """The job's progress as server-sent events; ``end`` carries the finished job."""
        job = the_job(job_id)
        start = int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 0
        return StreamingResponse(job_events(job, start), media_type="text/event-stream")

    # ------------------------------------------------------------------------- questions
    @app.post("/ask", response_model=None)
    def ask(req: AskRequest) -> dict[str, Any] | StreamingResponse:
        """Answer a question: the ``ask --json`` document with ``answer_id`` and links, or with
        ``stream``, the agent's steps as server-sent events ending with ``end``."""
        if req.stream:
            _check_video(service, req.video)
            job = service.start_ask(req.video, req.question, req.options, session=req.session_id)
            return StreamingResponse(job_events(job), media_type="text/event-stream")
        answer_id, ans = service.ask(req.video, req.question, req.options, session=req.session_id)
        return {"answer_id": answer_id, **ans.as_json(), "links": _answer_links(answer_id)}

    @app.get("/answers/{answer_id}.html", response_class=HTMLResponse)
    def answer_page(answer_id: str) -> HTMLResponse:
        ans = service.answer(answer_id)
        if ans is None:
            raise HTTPException(404, f"no answer {answer_id!r}")
        page = service.answer_html(answer_id, video_src=f"../videos/{ans.video_id}/file")
        assert page is not None
        return HTMLResponse(page)

    @app.get("/answers/{answer_id}")
    def get_answer(answer_id: str) -> dict[str, Any]:
        ans = service.answer(answer_id)
        if ans is None:
            raise HTTPException(404, f"no answer {answer_id!r}")
        return {"answer_id": answer_id, **ans.model_dump(mode="json")}

    return app


def _check_video(service: VideoService, video: str) -> None:
    """Fail before streaming when ``video`` is neither a stored video nor a file."""
    from pathlib import Path

    if Path(video).expanduser().exists():
        service.check_path(video)
    elif service.record(video) is None:
        raise VideoError(video, "no such file")


def _job_links(job: Job) -> dict[str, str]:
    return {"self": f"/jobs/{job.id}", "events": f"/jobs/{job.id}/events"}


def _answer_links(answer_id: str) -> dict[str, str]:
    return {"self": f"/answers/{answer_id}", "html": f"/answers/{answer_id}.html"}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_http(
    service: VideoService, host: str = "127.0.0.1", port: int = 8765, token: str | None = None
) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    try:
        uvicorn.run(create_app(service, token=token), host=host, port=port, log_level="info")
    finally:
        service.close()
