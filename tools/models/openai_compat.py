"""A chat backend that talks to any OpenAI-compatible server: ``vllm serve``, llama.cpp's
``llama-server``, Ollama (``/v1``), or a hosted API.

It is the seam for scaling up: a GPU box runs ``vllm serve Qwen/Qwen2.5-VL-7B-Instruct`` and
vidsleuth points ``openai_base_url`` at it, with no GPU library imported here.  Only the standard
library is used (``urllib``), so this backend adds no dependency.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import Message
from vidsleuth.tools.models.chat import BaseChatModel, RawReply


class OpenAICompatibleChatModel(BaseChatModel):
    """``POST {base_url}/chat/completions`` with JSON-schema ``response_format`` when asked.

    Servers that reject ``response_format`` (HTTP 400/422 mentioning it) are remembered as
    unconstrained and the request is sent again without it; parse-repair-retry then takes over.
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
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.supports_images = supports_images
        self.id = f"openai:{model}@{self.base_url}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:300]
            raise _HTTPStatus(err.code, detail) from err
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise ModelError(
                f"cannot reach the OpenAI-compatible server at {self.url}: {reason}"
            ) from err
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
                    raise ModelError(str(err2.with_url(self.url))) from err2
            else:
                raise ModelError(str(err.with_url(self.url))) from err
        if "error" in payload:
            raise ModelError(f"{self.url} returned an error: {payload['error']}")
        try:
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError) as err:
            raise ModelError(f"{self.url} returned no choices: {str(payload)[:200]}") from err
        usage = payload.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return RawReply(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
        )


def _about_format(detail: str) -> bool:
    low = detail.lower()
    return any(word in low for word in ("response_format", "json_schema", "guided", "grammar"))


class _HTTPStatus(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"HTTP {code}: {detail}")
        self.code = code
        self.detail = detail

    def with_url(self, url: str) -> str:
        return f"the OpenAI-compatible server at {url} answered HTTP {self.code}: {self.detail}"
