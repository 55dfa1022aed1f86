"""A question-conditioned look: K frames of a span, the question and its context, one VLM call.

This is the building block of the agent's look tool (issue 13, item 4): the caller picks the
frames (:func:`rank_frames` keeps the ``k`` frames whose vectors are closest to the question's,
XComp's idea), adds the span's local and global context (the segment caption and the video
summary, LongVLM's idea) and gets back an answer, a confidence and which frame shows it.

The reply is asked for as JSON (:class:`LookAnswer`): with a JSON-schema ``response_format``
where the server takes one, and through the parse-repair-retry loop of
:class:`~vidsleuth.tools.models.chat.BaseChatModel` otherwise (a server that refuses the schema
is remembered and asked without it).  A reply that stays unusable is returned as a
:class:`LookResult` with ``ok=False`` and the problem, never raised: a look that failed is
evidence of nothing, not a crash.  A VLM that cannot be reached raises ``ModelError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from vidsleuth.tools.models.base import Cost, Message
from vidsleuth.tools.perception.caption import clock, shrink

LETTERS = "ABCDEFGHIJ"

LOOK_SYSTEM = (
    "You look closely at frames from one span of a video and answer a question about them. "
    "Use what the frames show; the context only says where the span sits in the video. "
    "If the frames do not show the answer, say so with a low confidence."
)


class LookAnswer(BaseModel):
    """What the VLM replies (its JSON schema is sent when the server supports one)."""

    answer: str = Field(
        max_length=300, description="the option letter, or a short answer when there are none"
    )
    confidence: float = Field(ge=0, le=1, description="0..1: how sure the frames make you")
    frame: int | None = Field(
        None, description="number of the frame (1-based) that shows it best, or null"
    )
    evidence: str = Field("", max_length=500, description="what in the frames supports it")


@dataclass
class LookResult:
    """A look's outcome.

    ``answer`` is an option letter when options were given (mapped from the option's text when
    the model wrote that instead), ``time_index`` the 0-based index of the frame the model
    pointed at (``None`` when it did not) and ``t`` its time when ``times`` were given; ``text``
    is the model's evidence sentence (or its raw reply when that was unusable).
    """

    answer: str
    confidence: float
    time_index: int | None
    text: str
    t: float | None = None
    ok: bool = True
    problem: str | None = None
    raw: str = ""
    frames_sent: int = 0
    usage: Cost = field(default_factory=Cost)


def look_messages(
    frames: Sequence[Any],
    question: str,
    context: str = "",
    options: Sequence[str] = (),
    *,
    times: Sequence[float] | None = None,
    max_side: int = 768,
) -> list[Message]:
    """The look prompt: system text, then each frame after its label (``Frame 2 at 0:14.0``,
    so the model can point at one), the context, the question and the options last."""
    parts: list[dict[str, Any]] = []
    from vidsleuth.tools.models.chat import image_part

    for i, f in enumerate(frames):
        label = f"Frame {i + 1}"
        if times is not None and i < len(times):
            label += f" at {clock(times[i])}"
        parts.append({"type": "text", "text": label + ":"})
        parts.append(image_part(shrink(_image_of(f), max_side), max_side=max_side))
    lines = []
    if context.strip():
        lines.append(f"Context:\n{context.strip()}")
    lines.append(f"Question: {question.strip()}")
    if options:
        lines.append("\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options)))
        lines.append("Answer with the letter of the best option.")
    parts.append({"type": "text", "text": "\n\n".join(lines)})
    return [{"role": "system", "content": LOOK_SYSTEM}, {"role": "user", "content": parts}]


def vlm_look(
    vlm: Any,
    frames: Sequence[Any],
    question: str,
    context: str = "",
    options: Sequence[str] = (),
    *,
    times: Sequence[float] | None = None,
    max_images: int = 8,
    max_side: int = 768,
    max_tokens: int = 160,
) -> LookResult:
    """Ask ``vlm`` (a ``ChatModel`` that accepts images) ``question`` about ``frames``.

    ``frames`` are ``HxWx3`` uint8 arrays or :class:`~vidsleuth.tools.video.Frame` objects
    (their ``t`` is used when ``times`` is not given), in time order; more than ``max_images``
    are thinned evenly (rank them first with :func:`rank_frames` to keep the relevant ones).
    """
    from vidsleuth.tools.perception.caption import spread

    if not frames:
        return LookResult("", 0.0, None, "", ok=False, problem="no frames to look at")
    if times is None and all(hasattr(f, "t") for f in frames):
        times = [float(f.t) for f in frames]
    keep = spread(list(range(len(frames))), max_images)
    sent = [frames[i] for i in keep]
    sent_times = [times[i] for i in keep] if times is not None else None
    msgs = look_messages(sent, question, context, options, times=sent_times, max_side=max_side)
    res = vlm.chat(msgs, max_tokens=max_tokens, temperature=0.0, schema=LookAnswer)
    if not res.ok or res.parsed is None:
        problem = str(res.failure) if res.failure is not None else "no parsed reply"
        return LookResult(
            "",
            0.0,
            None,
            res.text.strip()[:500],
            ok=False,
            problem=problem,
            raw=res.text,
            frames_sent=len(sent),
            usage=res.usage,
        )
    parsed = res.parsed
    assert isinstance(parsed, LookAnswer)
    answer = normalise_answer(parsed.answer, options)
    index: int | None = None
    if parsed.frame is not None and 1 <= parsed.frame <= len(sent):
        index = keep[parsed.frame - 1]
    return LookResult(
        answer=answer,
        confidence=float(parsed.confidence),
        time_index=index,
        text=parsed.evidence.strip(),
        t=times[index] if (index is not None and times is not None) else None,
        raw=res.text,
        frames_sent=len(sent),
        usage=res.usage,
    )


def normalise_answer(answer: str, options: Sequence[str]) -> str:
    """An option letter from ``B``, ``(b)``, ``B. at nine`` or the option's own text; the
    answer unchanged when there are no options or it matches none."""
    a = answer.strip()
    if not options:
        return a
    letters = LETTERS[: len(options)]
    low = " ".join(a.lower().split())
    for i, o in enumerate(options):
        if low and low == " ".join(o.lower().split()):
            return LETTERS[i]
    # "B", "B. text", "(B)", "b)" -- but not the article in "a green screen"
    m = re.match(rf"^\(?([{letters}])\)?(?:[.):\s]|$)", a) or re.match(
        rf"^\(?([{letters.lower()}])(?:[.)]|$)", a
    )
    if m:
        return m.group(1).upper()
    hits = [i for i, o in enumerate(options) if o.strip() and o.lower().strip() in low]
    return LETTERS[hits[0]] if len(hits) == 1 else a


def rank_frames(question_vec: Any, frame_vecs: Any, k: int) -> list[int]:
    """Indices of the ``k`` frames most similar (cosine) to the question, in time order.

    ``question_vec`` is ``(d,)``, ``frame_vecs`` ``(n, d)`` (a text-image embedder's vectors,
    or the retriever's per-frame scores as an ``(n, 1)`` column with a ``[1]`` question).
    Ties keep the earlier frame; ``k >= n`` returns every index.
    """
    q = np.asarray(question_vec, np.float32).reshape(-1)
    f = np.asarray(frame_vecs, np.float32)
    if f.ndim != 2 or f.shape[0] == 0:
        return []
    if f.shape[1] != q.shape[0]:
        raise ValueError(f"question vector has {q.shape[0]} dims, frame vectors {f.shape[1]}")
    if k >= len(f):
        return list(range(len(f)))
    qn = q / (np.linalg.norm(q) or 1.0)
    fn = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    scores = fn @ qn
    order = sorted(range(len(f)), key=lambda i: (-float(scores[i]), i))
    return sorted(order[: max(0, k)])


def _image_of(frame: Any) -> np.ndarray:
    return np.asarray(getattr(frame, "image", frame))
