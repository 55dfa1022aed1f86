"""Subtitles: sidecar ``.srt`` / ``.vtt`` files and text subtitle streams inside the container.

Real subtitle files are often slightly broken (a timestamp missing a digit, a cue without text).
A malformed cue becomes a ``problem`` observation naming the file and cue and is skipped; every
well-formed cue is kept, so one bad line never costs the whole transcript.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

SIDECAR_SUFFIXES = (".srt", ".vtt")
# hh:mm:ss,mmm (SRT) or [hh:]mm:ss.mmm (WebVTT); both formats require two-digit fields.
_TS = r"(?:(\d{1,3}):)?(\d{2}):(\d{2})[,.](\d{3})"
_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}(?:\s+.*)?$")
# The same with unpadded fields ("00:00:5,000"): unambiguous, so it can be repaired.
_TS_LOOSE = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING_LOOSE = re.compile(rf"^\s*{_TS_LOOSE}\s*-->\s*{_TS_LOOSE}(?:\s+.*)?$")
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")


@dataclass(frozen=True)
class Cue:
    t_start: float
    t_end: float
    text: str


@dataclass(frozen=True)
class CueProblem:
    where: str
    message: str


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    if int(m) >= 60 or int(s) >= 60:
        raise ValueError("minutes or seconds >= 60")
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_cues(
    text: str, source: str, *, strict: bool = False
) -> tuple[list[Cue], list[CueProblem]]:
    """Parse SRT or WebVTT text; return the cues and one problem per malformed cue.

    A timing line with unpadded fields (``00:00:5,000``) is malformed but unambiguous: by default
    the cue is kept and the repair is reported; with ``strict`` it is skipped like any cue
    whose timing cannot be read.
    """
    cues: list[Cue] = []
    problems: list[CueProblem] = []
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    for n, block in enumerate(blocks, start=1):
        lines = [ln for ln in block.strip("\n").split("\n") if ln.strip() != ""]
        if not lines or lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue
        arrow = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        label = lines[0].strip() if arrow != 0 else str(n)
        where = f"{source} cue {label}"
        if arrow is None:
            problems.append(CueProblem(where, f"no timing line in {lines[0][:40]!r}"))
            continue
        timing = lines[arrow].strip()
        m = _TIMING.match(timing)
        loose = None if m or strict else _TIMING_LOOSE.match(timing)
        try:
            if m is None and loose is None:
                raise ValueError("unreadable")
            g = (m or loose).groups()  # type: ignore[union-attr]
            a, b = _seconds(*g[:4]), _seconds(*g[4:])
        except ValueError:
            problems.append(CueProblem(where, f"malformed timing {timing!r}; cue skipped"))
            continue
        if m is None:
            problems.append(
                CueProblem(where, f"malformed timing {timing!r}; read as {a:.3f} --> {b:.3f} s")
            )
        if b < a:
            problems.append(CueProblem(where, f"ends before it starts ({lines[arrow].strip()!r})"))
            continue
        body = " ".join(_TAGS.sub("", ln).strip() for ln in lines[arrow + 1 :]).strip()
        if not body:
            problems.append(CueProblem(where, "has no text"))
            continue
        cues.append(Cue(a, b, body))
    return cues, problems


def sidecar_files(video: str | Path) -> list[Path]:
    """Subtitle files next to ``video``: ``name.srt``, ``name.vtt`` and ``name.<lang>.srt``."""
    video = Path(video)
    found = []
    for p in sorted(video.parent.glob(f"{glob_escape(video.stem)}.*")):
        if p.suffix.lower() in SIDECAR_SUFFIXES and p.is_file():
            rest = p.name[len(video.stem) : -len(p.suffix)]
            if rest == "" or re.fullmatch(r"\.[A-Za-z0-9_-]{1,12}", rest):
                found.append(p)
    return found


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def embedded_cues(video: str | Path) -> tuple[list[Cue], list[CueProblem]]:
    """Text cues of the container's subtitle streams (SubRip, mov_text, ASS, WebVTT)."""
    import av

    cues: list[Cue] = []
    problems: list[CueProblem] = []
    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError):
        return cues, problems  # the video itself is reported by the caller
    with container:
        for stream in container.streams.subtitles:
            where = f"{video} subtitle stream {stream.index}"
            try:
                for packet in container.demux(stream):
                    if packet.pts is None or packet.time_base is None:
                        continue
                    start = float(packet.pts * packet.time_base)
                    duration = float((packet.duration or 0) * packet.time_base)
                    texts, shift, stop = [], 0.0, duration
                    for sub in packet.decode():
                        # PyAV >= 14 yields the rects themselves; older versions a set of rects
                        # carrying display times relative to the packet.
                        rects = list(sub) if hasattr(sub, "__iter__") else [sub]
                        if hasattr(sub, "start_display_time"):
                            shift = sub.start_display_time / 1000
                            stop = sub.end_display_time / 1000 or duration
                        texts += [_rect_text(r) for r in rects]
                    body = " ".join(t for t in texts if t)
                    if body:
                        cues.append(Cue(start + shift, start + max(shift, stop), body))
            except av.error.FFmpegError as err:
                problems.append(CueProblem(where, f"cannot be decoded ({err})"))
    return cues, problems


def _rect_text(rect: object) -> str:
    """Plain text of one subtitle rect (bitmap rects have none)."""
    raw = getattr(rect, "dialogue", None) or getattr(rect, "text", None) or b""
    if not raw:
        ass = getattr(rect, "ass", b"") or b""
        # An ASS event line: the text is everything after the 8th comma.
        raw = ass.split(b",", 8)[-1] if isinstance(ass, bytes) else str(ass).split(",", 8)[-1]
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(_TAGS.sub("", text.replace("\\N", " ").replace("\\n", " ")).split())


class SubtitlePerceiver:
    """Cues of the sidecar files (or the given ones) and embedded subtitle streams."""

    name = "subtitles"
    modality = "audio"

    def __init__(
        self,
        files: Sequence[str | Path] | None = None,
        *,
        embedded: bool = True,
        strict: bool = False,
    ) -> None:
        self.files = [Path(f) for f in files] if files else None
        self.embedded = embedded
        self.strict = strict

    @cached_property
    def version(self) -> str:
        return version_of(parser="srt-vtt/1", embedded=self.embedded, strict=self.strict)

    def sources(self, video: str | Path) -> list[Path]:
        return self.files if self.files is not None else sidecar_files(video)

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]:
        cues: list[Cue] = []
        problems: list[CueProblem] = []
        for f in self.sources(path):
            try:
                text = f.read_text(encoding="utf-8-sig", errors="replace")
            except OSError as err:
                problems.append(CueProblem(str(f), f"cannot be read ({err.strerror})"))
                continue
            c, p = parse_cues(text, str(f), strict=self.strict)
            cues += c
            problems += p
        if self.embedded:
            c, p = embedded_cues(path)
            cues += c
            problems += p
        stop = float("inf") if end is None else end
        obs = [
            Observation(
                t_start=c.t_start,
                t_end=c.t_end,
                kind="subtitle",
                text=c.text,
                producer=self.name,
                version=self.version,
            )
            for c in sorted(cues, key=lambda c: c.t_start)
            if c.t_end >= start and c.t_start < stop
        ]
        obs += [
            Observation(
                t_start=start,
                t_end=start,
                kind="problem",
                text=f"{p.where}: {p.message}",
                producer=self.name,
                version=self.version,
            )
            for p in problems
        ]
        return obs

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        raise TypeError("subtitles perceive the timeline, not frames")
