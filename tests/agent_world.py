"""A small deterministic world for agent and graph tests: a timeline of observations and the
built-in tool *names* implemented over it (lexical search, span reads, a zoom that charges frames).

The graph is the product under test here; these tools are its inputs, scripted like the replies
of :class:`~vidsleuth.tools.models.testing.ScriptedChatModel`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from vidsleuth.tools.base import Finding, Findings, ToolContext
from vidsleuth.tools.models.testing import shown_letter
from vidsleuth.tools.registry import ToolRegistry, tool

NEEDLE_T = 1234.0
# (t_start, t_end, kind, text, visible_coarse): coarse perception misses the last one; only a
# zoom reads it.
TIMELINE: list[tuple[float, float, str, str, bool]] = [
    (100.0, 104.0, "speech", "welcome to the warehouse tour", True),
    (600.0, 604.0, "ocr", "EXIT", True),
    (NEEDLE_T, NEEDLE_T + 4, "ocr", "WAREHOUSE 17 OPENS AT NINE", True),
    (2000.0, 2004.0, "object", "truck", True),
    (3000.0, 3004.0, "ocr", "warehouse 12 closed", True),
    (NEEDLE_T + 4, NEEDLE_T + 8, "ocr", "ASK FOR MARTA", False),
]
QUESTION = "When does warehouse 17 open?"
OPTIONS = ["at seven", "at nine", "at noon", "at midnight"]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1}


class SearchIn(BaseModel):
    query: str = Field(description="what to look for")
    k: int = Field(8, description="how many spans")


class SpanIn(BaseModel):
    t_start: float = Field(description="start (s)")
    t_end: float = Field(description="end (s)")


class ZoomIn(SpanIn):
    fps: float = Field(2.0, description="frames per second")
    max_side: int = Field(960, description="frame size")
    looks: list[str] = Field(default_factory=list, description="looking tools to run")


class MentionIn(BaseModel):
    query: str = Field(description="what to find")
    kinds: list[str] | None = Field(None, description="observation kinds")
    k: int = Field(20, description="most moments")


def world_registry(
    *, zoom: bool = True, fail_read: bool = False, locate: bool = False
) -> ToolRegistry:
    reg = ToolRegistry()

    @tool(registry=reg, role="search")
    def search_memory(ctx: ToolContext, inp: SearchIn) -> Findings:
        """Lexical search over what the coarse index saw."""
        q = _words(inp.query)
        hits = []
        for a, b, kind, text, coarse in TIMELINE:
            overlap = len(q & _words(text)) / max(1, len(q))
            if coarse and overlap > 0:
                hits.append(
                    Finding(
                        t_start=a, t_end=b, kind=kind, text=text, score=overlap, source="memory"
                    )
                )
        hits.sort(key=lambda f: -(f.score or 0))
        return Findings(findings=hits[: inp.k])

    @tool(registry=reg, role="look")
    def read_text(ctx: ToolContext, inp: SpanIn) -> Findings:
        """Read on-screen text in a span from the coarse index."""
        if fail_read:
            raise RuntimeError("ocr backend exploded")
        return Findings(
            findings=[
                Finding(t_start=a, t_end=b, kind=k, text=t, score=0.1, source="read_text")
                for a, b, k, t, coarse in TIMELINE
                if coarse and k == "ocr" and a < inp.t_end and b > inp.t_start
            ]
        )

    if locate:

        @tool(registry=reg, role="locate")
        def find_mentions(ctx: ToolContext, inp: MentionIn) -> Findings:
            """Find every moment of the whole video showing the words."""
            q = _words(inp.query)
            return Findings(
                findings=[
                    Finding(t_start=a, t_end=b, kind=k, text=t, score=1.0, source="find_mentions")
                    for a, b, k, t, coarse in TIMELINE
                    if coarse and q and q <= _words(t)
                ][: inp.k]
            )

    if zoom:

        @tool(registry=reg, expensive=True, role="zoom")
        def inspect_interval(ctx: ToolContext, inp: ZoomIn) -> Findings:
            """Decode a span at a higher rate and read everything in it."""
            n = int((inp.t_end - inp.t_start) * inp.fps)
            left = ctx.frames_left()
            n = n if left is None else min(n, left)
            ctx.charge_frames(n)
            return Findings(
                findings=[
                    Finding(t_start=a, t_end=b, kind=k, text=t, score=0.2, source="zoom")
                    for a, b, k, t, _ in TIMELINE
                    if a < inp.t_end and b > inp.t_start
                ],
                frames_decoded=n,
            )

    return reg


def _evidence(messages: Sequence[dict]) -> str:
    """The evidence block of the prompt (a repair turn after a bad reply has none itself)."""
    for m in reversed(messages):
        text = m["content"] if isinstance(m["content"], str) else ""
        if "<video-data>" in text:
            return text.split("<video-data>")[-1].split("</video-data>")[0]
    return ""


def _first_time(line: str) -> float:
    h, m, s = re.search(r"\[(\d+):(\d+):(\d+)", line).groups()
    return float(h) * 3600 + float(m) * 60 + float(s)


def map_reply(answer_for: dict[str, str], conf: float = 0.9):
    """A scripted map reply for the first key phrase seen in the evidence.

    The value is the option's text (the reply names the letter it is shown under, as a model
    reading the options would), or a bare letter (a model that picks a position, whatever the
    option there says)."""

    def reply(messages: Sequence[dict]) -> str:
        for phrase, option in answer_for.items():
            for line in _evidence(messages).splitlines():
                if phrase in line:
                    return json.dumps(
                        {
                            "answer": shown_letter(messages, option),
                            "confidence": conf,
                            "time_s": _first_time(line),
                            "why": f"reads {phrase}",
                        }
                    )
        return json.dumps(
            {"answer": "none", "confidence": 0.2, "time_s": 0, "why": "nothing relevant"}
        )

    return reply


def reading(target: str = "warehouse 17", kind: str = "what", calls=(), **extra) -> str:
    """A scripted question reading (the plan call)."""
    return json.dumps(
        {
            "kind": kind,
            "target": target,
            "shows_as": ["text"],
            "options_are": "things",
            "search": [target],
            "calls": list(calls),
            **extra,
        }
    )


PLAN_REPLY = reading()


def brain(answer_for: dict[str, str], conf: float = 0.9, decide=None, read: str = PLAN_REPLY):
    """One scripted model for every prompt: the reading, map replies and decisions.

    ``decide`` is a list of decision replies used in turn (then "answer")."""
    decisions = list(decide or [])
    mapper = map_reply(answer_for, conf)

    def reply(messages: Sequence[dict]) -> str:
        text = messages[-1]["content"]
        if "Read the question" in text:
            return read
        if "Budget left" in text:
            if decisions:
                return decisions.pop(0)
            return json.dumps({"action": "answer", "calls": []})
        return mapper(messages)

    return reply


def make_tiny_video(path, seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (64, 48)):
    """A short H.264 file whose first half is black and second half white (real bytes, real
    decoding; made in milliseconds with PyAV)."""
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        n = int(seconds * fps)
        for i in range(n):
            level = 0 if i < n // 2 else 255
            img = np.full((h, w, 3), level, np.uint8)
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path
