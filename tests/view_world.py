"""A clip-sized world for the evidence view, the servers and the README example: a real video
file (a shared clip when present, else one generated here) and scripted tools whose findings
fall inside it, so a run searches, looks, zooms and cites moments a browser can play.

Importable by a server subprocess (``--tools view_world:clip_registry``) when ``tests/`` is on
``PYTHONPATH``; the chat model is scripted the same way (:func:`clip_replies`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from agent_world import SearchIn, SpanIn, ZoomIn

from vidsleuth.tools.base import Finding, Findings, ToolContext
from vidsleuth.tools.models.testing import ScriptedChatModel, shown_options
from vidsleuth.tools.registry import ToolRegistry, tool

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
SHARED_CLIP = SHARED_CLIP / "timecode_pattern.mp4"

# (t_start, t_end, kind, text, seen by the coarse index): only a zoom reads the last one.
CLIP_TIMELINE: list[tuple[float, float, str, str, bool]] = [
    (1.0, 2.0, "ocr", "1024 x 768 25 fps Photo JPEG", True),
    (5.0, 6.0, "object", "colour bars", True),
    (8.0, 9.0, "ocr", "TIMECODE 00:00:08:00", True),
    (9.0, 10.0, "ocr", "TIMECODE 00:00:09:00 END OF TEST", False),
]
CLIP_QUESTION = "Which timecode is burnt in when the test pattern ends?"
CLIP_OPTIONS = ["00:00:02:00", "00:00:09:00", "00:00:15:00", "00:00:30:00"]


def make_clock_video(path: Path, seconds: int = 12, fps: int = 10) -> Path:
    """A 320x180 H.264 clip: each second its own colour with the second written large and a
    square that moves, so thumbnails and seeking can be checked by eye."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=64)
    w, h = 320, 180
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            s = i // fps
            hue = (s * 37) % 255
            img = Image.new("RGB", (w, h), (hue, 255 - hue, (s * 91) % 255))
            d = ImageDraw.Draw(img)
            d.text((90, 50), f"00:{s:02d}", fill=(255, 255, 255), font=font)
            x = int((i % fps) / fps * (w - 30))
            d.rectangle((x, h - 30, x + 30, h - 5), fill=(0, 0, 0))
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


def clip_video(tmp: Path) -> Path:
    """The shared timecode clip when it is there, else a generated one in ``tmp``."""
    if SHARED_CLIP.exists():
        return SHARED_CLIP
    return make_clock_video(tmp / "clock.mp4")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9:]+", text.lower()) if len(w) > 1}


def clip_registry() -> ToolRegistry:
    """Search, look and zoom tools over :data:`CLIP_TIMELINE` (no memory store is opened)."""
    reg = ToolRegistry()

    @tool(registry=reg, role="search")
    def search_clip(ctx: ToolContext, inp: SearchIn) -> Findings:
        """Lexical search over what the coarse index saw."""
        q = _words(inp.query)
        hits = [
            Finding(t_start=a, t_end=b, kind=k, text=t, score=0.5, source="search_clip")
            for a, b, k, t, coarse in CLIP_TIMELINE
            if coarse and q & _words(t)
        ]
        return Findings(findings=hits[: inp.k])

    @tool(registry=reg, role="look")
    def read_text(ctx: ToolContext, inp: SpanIn) -> Findings:
        """Read on-screen text in a span."""
        return Findings(
            findings=[
                Finding(t_start=a, t_end=b, kind=k, text=t, score=0.4, source="read_text")
                for a, b, k, t, coarse in CLIP_TIMELINE
                if coarse and k == "ocr" and a < inp.t_end and b > inp.t_start
            ]
        )

    @tool(registry=reg, expensive=True, role="zoom")
    def inspect_interval(ctx: ToolContext, inp: ZoomIn) -> Findings:
        """Look closer at a span (charges the frames it would decode)."""
        n = max(1, int((inp.t_end - inp.t_start) * inp.fps))
        ctx.charge_frames(n)
        return Findings(
            findings=[
                Finding(t_start=a, t_end=b, kind=k, text=t, score=0.6, source="zoom")
                for a, b, k, t, _ in CLIP_TIMELINE
                if a < inp.t_end and b > inp.t_start
            ],
            frames_decoded=n,
        )

    return reg


def clip_reading() -> str:
    """The scripted question reading: search for the timecode, read a span, zoom into another."""
    return json.dumps(
        {
            "kind": "what",
            "target": "timecode",
            "shows_as": ["text"],
            "options_are": "times",
            "search": ["timecode"],
            "calls": [
                {"tool": "read_text", "args": {"t_start": 0.0, "t_end": 3.0}},
                {"tool": "inspect_interval", "args": {"t_start": 7.5, "t_end": 10.0}},
            ],
        }
    )


def clip_map_reply(conf: float = 0.95, option: str = "00:00:09:00") -> str:
    """A map reply citing the END OF TEST timecode at 9 s (JSON, usable from a file): it names
    ``option`` by its text, so the scripted model gives the letter the prompt shows it under."""
    return json.dumps(
        {
            "answer": "{{option:" + option + "}}",
            "confidence": conf,
            "time_s": 9.0,
            "why": "the last timecode read",
        }
    )


def clip_replies(n_maps: int = 6) -> list[str]:
    """Plain-string replies for a whole question (a script file for a server subprocess)."""
    return [clip_reading()] + [clip_map_reply()] * n_maps


def clip_reply(messages: Sequence[dict]) -> str:
    """One reply for any prompt of any question: the reading, "answer now" to a decision, else
    the map reply for the option that says nine (the clock reads 9 s), or the letter B."""
    text = messages[-1]["content"]
    if "Read the question" in text:
        return clip_reading()
    if "Budget left" in text:
        return json.dumps({"action": "answer", "calls": []})
    nine = [o for o in shown_options(messages) if "09:00" in o or "nine" in o]
    return clip_map_reply(option=nine[0] if nine else "B")


def clip_chat(calls: int = 60) -> ScriptedChatModel:
    """A scripted chat model answering up to ``calls`` prompts of any questions."""
    return ScriptedChatModel([clip_reply] * calls)
