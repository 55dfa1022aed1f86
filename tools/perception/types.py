"""What every perceiver produces and the one protocol it implements.

A perceiver turns frames (with their true timestamps) or an interval of a video's timeline into
typed :class:`Observation` records.  Results are cached in the store under the perceiver's
``name`` and ``version``, so the version must change whenever the model file or a parameter that
changes the output changes (it is built with :func:`vidsleuth.versions.version_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

ObservationKind = Literal["ocr", "speech", "subtitle", "object", "tag", "caption", "problem"]
Modality = Literal["frames", "audio"]
Box = tuple[float, float, float, float]


class Observation(BaseModel):
    """One thing seen or heard, in video time (seconds from the start of the video).

    ``kind="problem"`` records something a perceiver could not read (a malformed subtitle cue, a
    missing audio stream): it is stored like any result so a cached run reports it again.
    """

    t_start: float = Field(ge=0)
    t_end: float = Field(ge=0)
    kind: ObservationKind
    text: str = ""
    label: str | None = None
    score: float | None = None
    box: Box | None = Field(None, description="x0, y0, x1, y1 in source-frame pixels")
    producer: str
    version: str

    @model_validator(mode="after")
    def _ordered(self) -> Observation:
        if self.t_end < self.t_start:
            raise ValueError(f"t_end {self.t_end} is before t_start {self.t_start}")
        return self


@runtime_checkable
class Perceiver(Protocol):
    """A named, versioned producer of observations.

    ``modality == "frames"`` perceivers implement :meth:`perceive_frames`; ``"audio"`` ones
    implement :meth:`perceive_audio`, which reads an interval of the file's timeline (its audio
    track, or its subtitle tracks). Models load lazily on the first call, once per process.
    """

    name: str
    modality: Modality

    @property
    def version(self) -> str: ...

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]: ...

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]: ...
