"""The two model interfaces the rest of vidsleuth uses: :class:`Embedder` and ``ChatModel``.

Everything outside ``tools/models`` depends on these protocols only, never on a backend, so a
backend can be swapped by configuration (llama.cpp on a laptop CPU, vLLM on a GPU server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from vidsleuth.errors import ModelError


class UnsupportedModality(Exception):
    """Raised when an embedder is asked to embed a modality it does not have (e.g. images)."""


@runtime_checkable
class Embedder(Protocol):
    """Texts and/or images in, L2-normalised ``float32`` vectors out.

    ``id`` names the model and its preprocessing (it goes into every stored record's version), and
    ``dim`` is the vector length.  ``modalities`` says what can be embedded: ``{"text"}``,
    ``{"image"}`` or both; a text-image embedder puts both in one space.
    """

    id: str
    dim: int
    modalities: frozenset[str]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(n, dim)`` array; :class:`UnsupportedModality` if text is unsupported."""
        ...

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed ``HxWx3`` uint8 RGB images; raise :class:`UnsupportedModality` if unsupported."""
        ...


# --------------------------------------------------------------------------------------------
# Chat models
# --------------------------------------------------------------------------------------------

Message = dict[str, Any]
"""One OpenAI-style chat message: ``{"role": ..., "content": str | list[part]}``.

A content part is ``{"type": "text", "text": ...}``, ``{"type": "image_url", "image_url":
{"url": "data:image/jpeg;base64,..."}}`` or, for convenience, ``{"type": "image", "image":
ndarray}`` (an ``HxWx3`` uint8 RGB array, encoded by the backend that needs bytes).
"""


@dataclass
class Cost:
    """What model calls spent; callers sum these (``a + b`` or ``total += c``) per session.

    ``retries`` counts extra calls made to repair an unusable structured reply and ``failures``
    the replies that stayed unusable, so a budget report shows how often the model misbehaved.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    retries: int = 0
    failures: int = 0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __iadd__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class StructuredOutputError(ModelError):
    """A reply that could not be turned into the requested schema, even after repair and retries.

    It is *returned* in :attr:`ChatResult.failure` (the caller decides: re-ask, fall back, give
    up); :meth:`ChatResult.require` raises it for callers that prefer an exception.
    """

    def __init__(self, schema: str, problem: str, text: str, attempts: int) -> None:
        self.schema = schema
        self.problem = problem
        self.text = text
        self.attempts = attempts
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__(
            f"model reply is not a valid {schema} after {attempts} attempt(s): {problem} "
            f"(last reply: {shown!r})"
        )


@dataclass
class ChatResult:
    """One answered chat call: the final text, the parsed object (when a schema was given and the
    reply fitted it), the failure (when it did not) and the cost of all attempts."""

    text: str
    parsed: BaseModel | None = None
    failure: StructuredOutputError | None = None
    usage: Cost = field(default_factory=Cost)
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def require(self) -> BaseModel:
        """The parsed object, or raise the :class:`StructuredOutputError` this result carries."""
        if self.failure is not None:
            raise self.failure
        if self.parsed is None:
            raise ModelError("chat result has no parsed object (no schema was requested)")
        return self.parsed


@runtime_checkable
class ChatModel(Protocol):
    """OpenAI-style messages in; text, or a validated pydantic object, out.

    ``id`` names backend and model (it goes into stored versions); ``supports_images`` says whether
    image parts are accepted (a text-only model raises :class:`~vidsleuth.errors.ModelError` on
    them rather than silently dropping them).  ``chat`` never raises for a malformed structured
    reply: that becomes ``ChatResult.failure``.  It raises ``ModelError`` when the model itself
    cannot run (server down, out of context).
    """

    id: str
    supports_images: bool

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        schema: type[BaseModel] | None = None,
    ) -> ChatResult: ...
