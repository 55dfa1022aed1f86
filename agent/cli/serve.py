"""``vidsleuth mcp`` (a Model Context Protocol server) and ``vidsleuth serve`` (an HTTP API).

Both need the ``serve`` extra (``pip install 'vidsleuth[serve]'``); its libraries are imported
inside the commands so the rest of the CLI stays light.

Two hidden options exist for tests only, so a server subprocess can run without real models:
``--chat-script FILE`` replays a JSON list of reply strings through
:class:`~vidsleuth.tools.models.testing.ScriptedChatModel` instead of loading the configured chat
model, and ``--tools MODULE:FUNCTION`` replaces the tool registry with the one that function
returns (``MODULE`` must be importable, e.g. from ``PYTHONPATH``).  Neither is meant for use.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.agent.cli.common import StoreOpt, settings

ChatScriptOpt = Annotated[
    Path | None,
    typer.Option("--chat-script", hidden=True, help="TEST ONLY: scripted chat replies (JSON)"),
]
ToolsOpt = Annotated[
    str | None,
    typer.Option("--tools", hidden=True, help="TEST ONLY: MODULE:FUNCTION returning a registry"),
]


def _missing_extra(err: ImportError) -> Any:
    from vidsleuth.errors import ConfigError

    return ConfigError(
        f"this command needs the 'serve' extra ({err.name or err} is not installed): "
        "pip install 'vidsleuth[serve]'"
    )


def build_service(store: Path | None, chat_script: Path | None, tools: str | None) -> Any:
    """The service the servers run on (with the test-only replacements when given)."""
    from vidsleuth.agent.service import VideoService
    from vidsleuth.errors import ConfigError

    chat = registry = None
    if chat_script is not None:
        from vidsleuth.tools.models.testing import ScriptedChatModel

        try:
            replies = json.loads(chat_script.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"--chat-script {chat_script}: {err}") from err
        if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
            raise ConfigError(f"--chat-script {chat_script}: want a JSON list of strings")
        chat = ScriptedChatModel(replies)
    if tools is not None:
        module, _, func = tools.partition(":")
        try:
            registry = getattr(importlib.import_module(module), func or "registry")()
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"--tools {tools}: {err}") from err
    return VideoService(settings(store=store), chat=chat, registry=registry)


def mcp_cmd(
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="serve streamable HTTP at HOST:PORT (path /mcp) instead of stdio",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    chat_script: ChatScriptOpt = None,
    tools: ToolsOpt = None,
) -> None:
    """Run the MCP server (stdio by default): tools index_video, ask_video, search_memory and
    list_videos, for desktop assistants and IDE agents."""
    try:
        from vidsleuth.agent.mcp_server import parse_host_port, run_mcp_server
    except ImportError as err:
        raise _missing_extra(err) from err
    if http is not None:
        parse_host_port(http)  # a bad value fails before anything starts
    service = build_service(store, chat_script, tools)
    if http is not None:
        sys.stderr.write(f"vidsleuth mcp: streamable HTTP at http://{http}/mcp\n")
    run_mcp_server(service, http)


def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="VIDSLEUTH_API_TOKEN",
            help="require 'Authorization: Bearer TOKEN' on every request",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    chat_script: ChatScriptOpt = None,
    tools: ToolsOpt = None,
) -> None:
    """Run the HTTP API (FastAPI): index videos as jobs with progress streams, ask, list videos
    and serve each answer's evidence page.  Listens on loopback unless told otherwise."""
    try:
        from vidsleuth.agent.http_api import is_loopback, serve_http
    except ImportError as err:
        raise _missing_extra(err) from err
    if not is_loopback(host) and not token:
        sys.stderr.write(
            f"vidsleuth serve: warning: listening on {host} without --token; anyone who can "
            "reach this port can read and index files on this machine\n"
        )
    service = build_service(store, chat_script, tools)
    serve_http(service, host=host, port=port, token=token)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_cmd)
    app.command("serve")(serve_cmd)
