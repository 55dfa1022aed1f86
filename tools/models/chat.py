"""What every chat backend shares: message normalisation, and the structured-output loop.

A backend only implements :meth:`BaseChatModel._generate` (messages in, one raw reply out).  The
loop here asks for constrained decoding when the backend has it, parses and repairs the reply,
and on failure re-asks a bounded number of times with the problem stated, counting every extra
call as a retry and a reply that stays unusable as a failure.  Appending the correction as new
turns (rather than editing the prompt) keeps the earlier turns a cacheable prefix.
"""

from __future__ import annotations

import base64
import io
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatResult, Cost, Message, StructuredOutputError
from vidsleuth.tools.models.structured import parse_structured, schema_for, schema_instruction


@dataclass
class RawReply:
    """One backend call's output and token counts (``cached_tokens``: prompt tokens reused from a
    previous call's prefix cache)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    finish_reason: str | None = None


def encode_image(image: np.ndarray, *, max_side: int | None = 1024, quality: int = 90) -> str:
    """An ``HxWx3`` uint8 RGB array as a ``data:image/jpeg;base64,...`` URL.

    Images wider than ``max_side`` are shrunk first: an 8000-px frame would otherwise cost
    megabytes per request and more vision tokens than any model's context holds.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise ModelError(f"cannot encode image of shape {arr.shape}: expected HxWx3 RGB")
    pil = Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if max_side and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decode_image(url: str) -> Any:
    """A ``data:`` URL (or a local file path / ``file://`` URL) as a PIL RGB image."""
    from PIL import Image

    if url.startswith("data:"):
        try:
            _, b64 = url.split(",", 1)
            return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
        except Exception as err:
            raise ModelError(f"image part is not a readable data URL: {err}") from err
    path = url.removeprefix("file://")
    try:
        return Image.open(path).convert("RGB")
    except OSError as err:
        raise ModelError(f"image part {url[:80]!r} cannot be read: {err}") from err


def image_part(image: np.ndarray, *, max_side: int | None = 1024) -> dict[str, Any]:
    """A content part carrying ``image`` as an OpenAI-style ``image_url``."""
    return {"type": "image_url", "image_url": {"url": encode_image(image, max_side=max_side)}}


def has_images(messages: Sequence[Message]) -> bool:
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") in ("image", "image_url") for p in content
        ):
            return True
    return False


def normalize_messages(messages: Sequence[Message]) -> list[Message]:
    """Copy ``messages`` with numpy ``image`` parts encoded as ``image_url`` data URLs and bare
    strings in content lists turned into text parts, so every backend sees one shape."""
    out: list[Message] = []
    for msg in messages:
        if not isinstance(msg, dict) or "role" not in msg:
            raise ModelError(f"chat message must be a dict with a 'role', got {msg!r:.80}")
        content = msg.get("content")
        if isinstance(content, list):
            parts: list[dict[str, Any]] = []
            for part in content:
                if isinstance(part, str):
                    parts.append({"type": "text", "text": part})
                elif isinstance(part, dict) and part.get("type") == "image":
                    img = part.get("image")
                    if isinstance(img, np.ndarray):
                        parts.append(image_part(img))
                    elif isinstance(img, str):
                        parts.append({"type": "image_url", "image_url": {"url": img}})
                    else:
                        raise ModelError("an 'image' part must hold an HxWx3 uint8 numpy array")
                else:
                    parts.append(dict(part))
            out.append({**msg, "content": parts})
        else:
            out.append({**msg, "content": "" if content is None else content})
    return out


def flatten_text(messages: Sequence[Message]) -> list[Message]:
    """Messages with list content joined into one string (for text-only chat templates)."""
    out = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            if any(p.get("type") != "text" for p in content):
                raise ModelError("this model is text-only; the messages contain images")
            content = "\n".join(p["text"] for p in content)
        out.append({"role": msg["role"], "content": content})
    return out


def _with_instruction(messages: list[Message], text: str) -> list[Message]:
    """Append ``text`` to the last user turn (or add one if the last is not a user's)."""
    msgs = list(messages)
    if msgs and msgs[-1]["role"] == "user":
        last = dict(msgs[-1])
        content = last["content"]
        if isinstance(content, list):
            last["content"] = [*content, {"type": "text", "text": text}]
        else:
            last["content"] = f"{content}\n\n{text}"
        msgs[-1] = last
    else:
        msgs.append({"role": "user", "content": text})
    return msgs


class BaseChatModel(ABC):
    """Shared behaviour of every :class:`~vidsleuth.tools.models.base.ChatModel` backend.

    ``max_retries`` bounds the re-asks after an unusable structured reply (so one question costs
    at most ``1 + max_retries`` calls).
    """

    id: str = "base"
    supports_images: bool = False
    #: the backend can constrain decoding to a JSON schema (grammar / guided decoding)
    supports_json_schema: bool = False

    def __init__(self, *, max_retries: int = 2) -> None:
        self.max_retries = max_retries

    @abstractmethod
    def _generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        """Run the model once on normalised messages; raise ``ModelError`` if it cannot run."""

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        schema: type[BaseModel] | None = None,
    ) -> ChatResult:
        msgs = normalize_messages(messages)
        if not msgs:
            raise ModelError("chat needs at least one message")
        if has_images(msgs) and not self.supports_images:
            raise ModelError(f"model {self.id} is text-only; the messages contain images")
        usage = Cost()
        if schema is None:
            reply = self._timed(msgs, max_tokens, temperature, None, usage)
            return ChatResult(text=reply.text, usage=usage, finish_reason=reply.finish_reason)

        json_schema = schema_for(schema) if self.supports_json_schema else None
        msgs = _with_instruction(
            msgs, schema_instruction(schema, enforced=self.supports_json_schema)
        )
        attempts = 0
        while True:
            attempts += 1
            reply = self._timed(msgs, max_tokens, temperature, json_schema, usage)
            parsed, problem = parse_structured(reply.text, schema)
            if parsed is not None:
                return ChatResult(
                    text=reply.text, parsed=parsed, usage=usage, finish_reason=reply.finish_reason
                )
            assert problem is not None
            if reply.finish_reason == "length":
                problem += " (the reply was cut off at max_tokens)"
            if attempts > self.max_retries:
                usage.failures += 1
                failure = StructuredOutputError(schema.__name__, problem, reply.text, attempts)
                return ChatResult(
                    text=reply.text, failure=failure, usage=usage, finish_reason=reply.finish_reason
                )
            usage.retries += 1
            msgs = [
                *msgs,
                {"role": "assistant", "content": reply.text},
                {
                    "role": "user",
                    "content": f"That reply is not usable: {problem}. "
                    "Answer again with only the corrected JSON object.",
                },
            ]

    def _timed(
        self,
        msgs: list[Message],
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
        usage: Cost,
    ) -> RawReply:
        start = time.perf_counter()
        reply = self._generate(
            msgs, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
        )
        usage.calls += 1
        usage.seconds += time.perf_counter() - start
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        usage.cached_tokens += reply.cached_tokens
        return reply

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_result: Callable[[int, ChatResult | ModelError], None] | None = None,
    ) -> list[ChatResult | ModelError]:
        """Answer many independent plain-text requests, as fast as the backend allows.

        The base loops over :meth:`chat`; backends that batch (vLLM: one ``generate`` call,
        transformers: padded batches) or pipeline (OpenAI-compatible: N requests in flight)
        override it.  A request whose reply is unusable comes back as its :class:`ModelError`
        in its slot (``on_result(i, result)`` is called as each one finishes, so a caller can
        store it at once); an error that means no request can succeed (server down) raises.
        """
        out: list[ChatResult | ModelError] = []
        for i, msgs in enumerate(conversations):
            res: ChatResult | ModelError = self.chat(
                msgs, max_tokens=max_tokens, temperature=temperature
            )
            out.append(res)
            if on_result is not None:
                on_result(i, res)
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model's memory (backends holding native handles override this)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
