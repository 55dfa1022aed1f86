"""``vidsleuth mcp``: the agent as a Model Context Protocol server (the official ``mcp`` SDK).

Tools: ``index_video`` (with progress notifications while it indexes), ``ask_video`` (question,
options, session id; the ``ask --json`` document plus the answer's id), ``search_memory`` and
``list_videos``.  Served over stdio by default (what desktop assistants and IDE agents launch),
or streamable HTTP.  Everything runs through one :class:`~vidsleuth.agent.service.VideoService`,
so the store has one writer however many calls arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from vidsleuth.agent.service import Job, VideoService
from vidsleuth.errors import VidsleuthError

INSTRUCTIONS = (
    "vidsleuth answers questions about long videos by investigating them. Index a video file "
    "once with index_video (slow the first time, instant afterwards), then ask_video with a "
    "question and, for multiple choice, its options. Answers cite the moments that show them "
    "(evidence, in seconds) and say how sure they are; pass the returned session_id to a "
    "later ask_video to continue the conversation about the same video."
)
POLL_S = 0.1


async def follow(job: Job, report: Callable[[float, str], Awaitable[None]]) -> Job:
    """Wait for ``job``, reporting each of its progress and step events as it arrives."""
    seq = 0
    while True:
        for ev in job.events_since(seq):
            seq += 1
            if ev.get("event") == "progress":
                await report(seq, f"{ev['stage']}: {ev['done']}/{ev['total']}")
            elif ev.get("event") == "step" and ev.get("lines"):
                await report(seq, "; ".join(ev["lines"]))
        if job.done and seq >= len(job.events):
            return job
        await anyio.sleep(POLL_S)


def build_mcp_server(service: VideoService) -> MCPServer:
    """The MCP server over ``service``."""
    from vidsleuth import __version__

    mcp: MCPServer = MCPServer("vidsleuth", instructions=INSTRUCTIONS, version=__version__)

    async def run_job(start: Callable[[], Job], ctx: Context) -> dict[str, Any]:
        try:
            job = start()
        except VidsleuthError as err:
            raise ToolError(str(err)) from err

        async def report(progress: float, message: str) -> None:
            await ctx.report_progress(progress, None, message)

        await follow(job, report)
        if job.status != "done" or job.result is None:
            raise ToolError(job.error or f"{job.kind} failed")
        return job.result

    @mcp.tool()
    async def index_video(
        path: Annotated[str, Field(description="path of a video file on the server's machine")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Index a video so questions about it are fast: sample its frames, read, listen and
        look at every chunk once, and remember what was seen.  Sends progress notifications
        while it works; a video indexed before returns at once."""
        return await run_job(lambda: service.start_index(path), ctx)

    @mcp.tool()
    async def ask_video(
        video: Annotated[str, Field(description="a video file path, or the id of an indexed one")],
        question: Annotated[str, Field(description="the question about the video")],
        ctx: Context,
        options: Annotated[
            list[str] | None,
            Field(description="2-10 answer options for multiple choice (the answer is a letter)"),
        ] = None,
        session_id: Annotated[
            str | None,
            Field(description="continue this session (returned by an earlier ask_video)"),
        ] = None,
    ) -> dict[str, Any]:
        """Answer a question about a video by investigating it.  Returns the answer (the option
        letter for multiple choice), its text, a confidence, the evidence (moments in seconds,
        each with why it supports the answer), why the agent stopped, who answered, the tools
        used, the cost, the session id and the answer id."""
        return await run_job(
            lambda: service.start_ask(video, question, options, session=session_id), ctx
        )

    @mcp.tool()
    async def search_memory(
        video: Annotated[str, Field(description="a video file path, or the id of an indexed one")],
        query: Annotated[str, Field(description="what to look for, in words")],
        k: Annotated[int, Field(ge=1, le=50, description="how many moments")] = 8,
    ) -> list[dict[str, Any]]:
        """Search what is remembered about an indexed video (what was read, heard and seen, and
        what earlier sessions learned) by meaning; the best moments first, in seconds."""
        try:
            return await anyio.to_thread.run_sync(lambda: service.search(video, query, k))
        except VidsleuthError as err:
            raise ToolError(str(err)) from err

    @mcp.tool()
    async def list_videos() -> list[dict[str, Any]]:
        """The videos in the store: id, path, duration and size."""
        return await anyio.to_thread.run_sync(service.videos)

    return mcp


def run_mcp_server(service: VideoService, http: str | None = None) -> None:
    """Serve over stdio, or streamable HTTP at ``http`` (``HOST:PORT``, path ``/mcp``)."""
    mcp = build_mcp_server(service)
    try:
        if http is None:
            mcp.run("stdio")
        else:
            host, port = parse_host_port(http)
            mcp.run("streamable-http", host=host, port=port)
    finally:
        service.close()


def parse_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8765"`` -> ``("127.0.0.1", 8765)``; ``":8765"`` means loopback."""
    from vidsleuth.errors import ConfigError

    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http wants HOST:PORT, e.g. 127.0.0.1:8765, not {value!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)
