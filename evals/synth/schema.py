"""The needles JSON written beside every generated video, and its validating loader.

Time convention (the same everywhere): frame ``i`` is presented at ``i / fps`` seconds.  A needle
occupies the frames ``frame_start <= i < frame_end``, so ``t_start = frame_start / fps`` and
``t_end = frame_end / fps``: a frame at time ``t`` shows it exactly when ``t_start <= t < t_end``.
Speech needles start on a frame time too; their ``t_end`` is the first frame time at or after the
last spoken sample.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vidsleuth.errors import VidsleuthError

NeedleKind = Literal["text", "object", "flash", "speech"]
KINDS: tuple[NeedleKind, ...] = ("text", "object", "flash", "speech")
VISUAL_KINDS: frozenset[str] = frozenset({"text", "object", "flash"})


class Needle(BaseModel):
    """One inserted event with its exact ground-truth span."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str
    kind: NeedleKind
    t_start: float = Field(ge=0)
    t_end: float = Field(gt=0)
    frame_start: int = Field(ge=0)
    frame_end: int = Field(gt=0)
    value: str = Field(min_length=1, description="text string / object name / colour / phrase")
    bbox: list[int] | None = Field(
        None, description="[x0, y0, x1, y1] in pixels, end-exclusive; visual needles only"
    )
    source: str | None = Field(None, description="where the content came from")

    @model_validator(mode="after")
    def _check(self) -> Needle:
        if self.t_end <= self.t_start or self.frame_end <= self.frame_start:
            raise ValueError(f"needle {self.id}: empty span {self.t_start}..{self.t_end}")
        if self.kind in VISUAL_KINDS:
            if self.bbox is None or len(self.bbox) != 4:
                raise ValueError(f"needle {self.id}: a {self.kind} needle needs a 4-number bbox")
            x0, y0, x1, y1 = self.bbox
            if not (0 <= x0 < x1 and 0 <= y0 < y1):
                raise ValueError(f"needle {self.id}: bbox {self.bbox} is not x0<x1, y0<y1")
        return self

    def contains(self, t: float) -> bool:
        """Whether a frame presented at ``t`` seconds falls inside the needle."""
        return self.t_start <= t < self.t_end


class BackgroundSpan(BaseModel):
    """One camera shot: which background picture is on screen from ``t_start`` to ``t_end``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    t_start: float = Field(ge=0)
    t_end: float = Field(gt=0)
    name: str
    flipped: bool = False


class NeedleFile(BaseModel):
    """Everything a benchmark needs to ask and score questions about one generated video."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    generator_version: str
    video: str = Field(description="file name of the video, next to this JSON")
    seed: int
    minutes: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    n_frames: int = Field(gt=0)
    fps: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    has_audio: bool
    speech_source: str | None
    kinds: list[NeedleKind]
    background_selection: list[str]
    backgrounds: list[BackgroundSpan]
    needles: list[Needle]
    distractors: dict[str, list[str]] = Field(
        description="per kind: values of that kind NOT shown anywhere in the video"
    )

    @model_validator(mode="after")
    def _check(self) -> NeedleFile:
        ids = [n.id for n in self.needles]
        if len(set(ids)) != len(ids):
            raise ValueError("needle ids are not unique")
        for n in self.needles:
            if n.t_end > self.duration_s + 1e-6:
                raise ValueError(f"needle {n.id} ends at {n.t_end}s, after the video's end")
        shown = {(n.kind, n.value) for n in self.needles}
        for kind, values in self.distractors.items():
            clash = [v for v in values if (kind, v) in shown]
            if clash:
                raise ValueError(f"distractors of kind {kind} include shown values {clash}")
        return self

    def count(self, kind: str, value: str) -> int:
        """How many times ``value`` of ``kind`` occurs in the video."""
        return Counter[tuple[str, str]]((n.kind, n.value) for n in self.needles)[(kind, value)]

    def at(self, t: float) -> list[Needle]:
        """The needles present at time ``t``."""
        return [n for n in self.needles if n.contains(t)]


def load_needles(json_path: str | Path) -> NeedleFile:
    """Read and validate a needles JSON; any problem is one :class:`VidsleuthError` line."""
    path = Path(json_path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VidsleuthError(f"{path}: needles file not found") from None
    except OSError as err:
        raise VidsleuthError(f"{path}: cannot read needles file ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise VidsleuthError(
            f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})"
        ) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise VidsleuthError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise VidsleuthError(f"{path}: not valid JSON (nested too deeply)") from None
    try:
        return NeedleFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise VidsleuthError(
            f"{path}: not a valid needles file: {where}: {first['msg']}{more}"
        ) from None
