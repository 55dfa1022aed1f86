"""A chat backend that talks to any OpenAI-compatible server: ``vllm serve``, llama.cpp's
``llama-server``, Ollama (``/v1``), or a hosted API.

It is the seam for scaling up: a GPU box runs ``vllm serve Qwen/Qwen2.5-VL-7B-Instruct`` and
vidsleuth points ``openai_base_url`` (or, for the perceiver VLM, ``vlm_base_url``) at it, with no
GPU library imported here.  Only the standard library is used (``urllib``), so this backend adds
no dependency.

Throughput comes from the server batching concurrent requests: :meth:`chat_many` keeps
``concurrency`` requests in flight.  A request that times out or gets an HTTP 5xx is sent again
after a growing pause (``retries`` times); a server that cannot be reached at all, or keeps
failing, stops the whole batch with one :class:`ServerError` line.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatResult, Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply, has_images


class ServerError(ModelError):
    """The server cannot answer any request (down, keeps timing out or failing, refuses images,
    rejects the key or the model): a batch stops at the first one instead of failing N times."""


class OpenAICompatibleChatModel(BaseChatModel):
    """``POST {base_url}/chat/completions`` with JSON-schema ``response_format`` when asked.

    Servers that reject ``response_format`` (HTTP 400/422 mentioning it) are remembered as
    unconstrained and the request is sent again without it; parse-repair-retry then takes over.
    ``retries`` re-sends a request after a timeout or an HTTP 5xx, waiting ``backoff * 2**k``
    seconds before the k-th re-send; ``concurrency`` is how many requests :meth:`chat_many`
    keeps in flight.
    """

    supports_json_schema = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        supports_images: bool = True,
        max_retries: int = 2,
        retries: int = 0,
        backoff: float = 0.5,
        concurrency: int = 1,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.supports_images = supports_images
        self.retries = retries
        self.backoff = backoff
        self.concurrency = max(1, concurrency)
        self.id = f"openai:{model}@{self.base_url}"
        self._lock = threading.Lock()
        #: transport re-sends made so far (timeouts and 5xx), for benchmarks and tests
        self.resends = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _post_once(self, data: bytes, headers: dict[str, str]) -> bytes:
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:300]
            raise _HTTPStatus(err.code, detail) from err
        except TimeoutError as err:
            raise _Timeout(str(err) or "timed out") from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise _Timeout(str(err.reason) or "timed out") from err
            raise ServerError(
                f"cannot reach the OpenAI-compatible server at {self.url}: {err.reason}"
            ) from err
        except (ConnectionResetError, ConnectionAbortedError, http.client.HTTPException) as err:
            raise _Timeout(f"connection dropped ({type(err).__name__})") from err
        except ConnectionError as err:
            raise ServerError(
                f"cannot reach the OpenAI-compatible server at {self.url}: {err}"
            ) from err

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            try:
                raw = self._post_once(data, headers)
                break
            except (_Timeout, _HTTPStatus) as err:
                transient = isinstance(err, _Timeout) or err.code >= 500 or err.code == 429
                if not transient:
                    raise
                if attempt >= self.retries:
                    what = (
                        f"timed out after {self.timeout:g} s"
                        if isinstance(err, _Timeout)
                        else f"answered HTTP {err.code}: {err.detail}"
                    )
                    tries = f" ({attempt + 1} attempts)" if attempt else ""
                    raise ServerError(
                        f"the OpenAI-compatible server at {self.url} {what}{tries}"
                    ) from err
                with self._lock:
                    self.resends += 1
                time.sleep(self.backoff * (2**attempt))
                attempt += 1
        try:
            payload = json.loads(raw)
        except ValueError as err:
            raise ModelError(
                f"{self.url} answered with something that is not JSON: {raw[:120]!r}"
            ) from err
        if not isinstance(payload, dict):
            raise ModelError(f"{self.url} answered with an unexpected JSON value: {raw[:120]!r}")
        return payload

    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if json_schema is not None and self.supports_json_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "reply"), "schema": json_schema},
            }
        try:
            payload = self._post(body)
        except _HTTPStatus as err:
            if "response_format" in body and err.code in (400, 422) and _about_format(err.detail):
                self.supports_json_schema = False
                body.pop("response_format")
                try:
                    payload = self._post(body)
                except _HTTPStatus as err2:
                    raise self._status_error(err2, messages) from err2
            else:
                raise self._status_error(err, messages) from err
        if "error" in payload:
            raise ModelError(f"{self.url} returned an error: {payload['error']}")
        try:
            choice = payload["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError) as err:
            raise ModelError(f"{self.url} returned no choices: {str(payload)[:200]}") from err
        if content is not None and not isinstance(content, str):
            raise ModelError(
                f"{self.url} answered non-text content ({type(content).__name__}: "
                f"{str(content)[:80]}); expected a text reply"
            )
        usage = payload.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return RawReply(
            text=content or "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
        )

    def _status_error(self, err: _HTTPStatus, messages: list[Message]) -> ModelError:
        """The one line for an HTTP error: a :class:`ServerError` when no request could work."""
        text = err.with_url(self.url)
        if has_images(messages) and err.code in (400, 422) and _about_images(err.detail):
            return ServerError(f"model {self.model!r} does not accept images: {text}")
        if err.code in (401, 403, 404):
            return ServerError(text)
        return ModelError(text)

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_result: Callable[[int, ChatResult | ModelError], None] | None = None,
    ) -> list[ChatResult | ModelError]:
        """Send every conversation with ``concurrency`` requests in flight (the server batches
        them); results come back in order, ``on_result`` is called as each finishes.  A
        :class:`ServerError` stops the batch: requests not yet sent are dropped and it is
        raised once the ones in flight have finished (their results were already delivered)."""
        out: list[ChatResult | ModelError | None] = [None] * len(conversations)
        if not conversations:
            return []
        fatal: ServerError | None = None
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            pending: dict[Future[ChatResult], int] = {}
            todo = iter(range(len(conversations)))

            def submit_next() -> bool:
                i = next(todo, None)
                if i is None:
                    return False
                fut = pool.submit(
                    self.chat, conversations[i], max_tokens=max_tokens, temperature=temperature
                )
                pending[fut] = i
                return True

            for _ in range(self.concurrency):
                if not submit_next():
                    break
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    try:
                        res: ChatResult | ModelError = fut.result()
                    except ServerError as err:
                        fatal = fatal or err
                        continue
                    except ModelError as err:
                        res = err
                    out[i] = res
                    if on_result is not None:
                        on_result(i, res)
                    if fatal is None:
                        submit_next()
        if fatal is not None:
            raise fatal
        return [r for r in out if r is not None]


def _about_format(detail: str) -> bool:
    low = detail.lower()
    return any(word in low for word in ("response_format", "json_schema", "guided", "grammar"))


def _about_images(detail: str) -> bool:
    low = detail.lower()
    return any(w in low for w in ("image", "multimodal", "multi-modal", "vision", "modality"))


class _Timeout(Exception):
    pass


class _HTTPStatus(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"HTTP {code}: {detail}")
        self.code = code
        self.detail = detail

    def with_url(self, url: str) -> str:
        return f"the OpenAI-compatible server at {url} answered HTTP {self.code}: {self.detail}"
