"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 that replays canned
OpenAI responses and records the requests it received."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from vidsleuth.errors import ModelError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.factory import load_chat_model
from vidsleuth.tools.models.openai_compat import OpenAICompatibleChatModel


class Answer(BaseModel):
    answer: str


def completion(text: str, *, prompt: int = 50, done: int = 5, cached: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": done,
            "total_tokens": prompt + done,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


class Replay:
    """A canned-response OpenAI server: ``responses`` are ``(status, body)`` pairs, in order."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                replay.paths.append(self.path)
                replay.headers.append(dict(self.headers))
                replay.requests.append(json.loads(body))
                status, payload = replay.responses.pop(0)
                data = (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def server() -> Iterator[Replay]:
    replay = Replay()
    thread = threading.Thread(target=replay.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield replay
    replay.server.shutdown()
    replay.server.server_close()


def test_plain_chat_round_trip(server: Replay) -> None:
    server.responses.append((200, completion("Hello!", prompt=42, done=3, cached=30)))
    model = OpenAICompatibleChatModel(server.url, "qwen-test", api_key="sekrit")
    res = model.chat([{"role": "user", "content": "hi"}], max_tokens=17, temperature=0.2)
    assert res.text == "Hello!" and res.finish_reason == "stop"
    assert (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.cached_tokens) == (
        42,
        3,
        30,
    )
    req = server.requests[0]
    assert server.paths == ["/v1/chat/completions"]
    assert req["model"] == "qwen-test" and req["max_tokens"] == 17 and req["temperature"] == 0.2
    assert "response_format" not in req
    assert server.headers[0]["Authorization"] == "Bearer sekrit"


def test_schema_goes_out_as_response_format(server: Replay) -> None:
    server.responses.append((200, completion('{"answer": "B"}')))
    model = OpenAICompatibleChatModel(server.url, "m")
    res = model.chat([{"role": "user", "content": "q"}], schema=Answer)
    assert res.parsed == Answer(answer="B")
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"] == ["answer"]


def test_server_without_json_schema_falls_back_to_repair(server: Replay) -> None:
    server.responses += [
        (400, {"error": {"message": "response_format json_schema is not supported"}}),
        (200, completion('Sure: ```json\n{"answer": "C"}\n```')),
        (200, completion('{"answer": "D"}')),
    ]
    model = OpenAICompatibleChatModel(server.url, "m")
    res = model.chat([{"role": "user", "content": "q"}], schema=Answer)
    assert res.parsed == Answer(answer="C")
    assert "response_format" in server.requests[0] and "response_format" not in server.requests[1]
    model.chat([{"role": "user", "content": "q"}], schema=Answer)
    assert "response_format" not in server.requests[2]  # remembered
    assert model.supports_json_schema is False


def test_images_are_sent_as_data_urls(server: Replay) -> None:
    server.responses.append((200, completion("a black square")))
    model = OpenAICompatibleChatModel(server.url, "vlm")
    img = np.zeros((16, 16, 3), np.uint8)
    model.chat([{"role": "user", "content": [{"type": "image", "image": img}, "what?"]}])
    parts = server.requests[0]["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert parts[1] == {"type": "text", "text": "what?"}


def test_http_error_names_the_url(server: Replay) -> None:
    server.responses.append((500, {"error": "boom"}))
    model = OpenAICompatibleChatModel(server.url, "m")
    with pytest.raises(ModelError, match=r"127\.0\.0\.1.*HTTP 500"):
        model.chat([{"role": "user", "content": "q"}])


def test_non_json_answer_is_an_error(server: Replay) -> None:
    server.responses.append((200, "<html>proxy</html>"))
    with pytest.raises(ModelError, match="not JSON"):
        OpenAICompatibleChatModel(server.url, "m").chat([{"role": "user", "content": "q"}])


def test_down_server_gives_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    model = OpenAICompatibleChatModel(url, "m", timeout=5)
    with pytest.raises(ModelError, match=rf"cannot reach the OpenAI-compatible server at {url}"):
        model.chat([{"role": "user", "content": "q"}])


def test_factory_builds_the_client_from_settings(server: Replay, tmp_path: Any) -> None:
    server.responses.append((200, completion("ok")))
    settings = Settings(
        store=tmp_path,
        chat_backend="openai-compatible",
        chat_model="served",
        openai_base_url=server.url,
    )
    model = load_chat_model(settings)
    assert model.chat([{"role": "user", "content": "q"}]).text == "ok"
    assert server.requests[0]["model"] == "served"
