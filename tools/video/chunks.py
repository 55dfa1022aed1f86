"""The three levels memory attaches to, as in R-VLM: chunks, segments, the whole video.

A *chunk* is a fixed window (default 4 s, sampled at 1 fps) with an id derived only from its
index (``c000123``), so the same parameters always give the same ids and anything stored per
chunk is found again.  A *segment* groups consecutive chunks (default about one minute); when
scene cuts are given, segment boundaries snap to nearby cuts so a segment summary does not
straddle two scenes.  Chunk boundaries never move, whatever the scenes: only the grouping does.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from vidsleuth.settings import Settings

    from .decode import Frame
    from .probe import VideoProbe


@dataclass(frozen=True)
class Chunk:
    """A fixed window of the video; ``sample_times`` are where its frames are sampled."""

    id: str
    index: int
    t_start: float
    t_end: float
    segment: int
    sample_times: tuple[float, ...]


@dataclass(frozen=True)
class Segment:
    """Consecutive chunks, about ``segment_seconds`` long, possibly snapped to scene cuts."""

    index: int
    t_start: float
    t_end: float
    chunk_ids: tuple[str, ...]


@dataclass
class ChunkPlan:
    """Chunks and segments of one video; ``key`` names the parameters (for storage keys)."""

    chunk_seconds: float
    sample_fps: float
    segment_seconds: float
    duration_s: float
    chunks: list[Chunk] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    key: str = ""

    def chunk_at(self, t: float) -> Chunk:
        """The chunk covering time ``t`` (clamped to the video)."""
        i = min(max(int(t // self.chunk_seconds), 0), len(self.chunks) - 1)
        return self.chunks[i]

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[chunk_id_index(chunk_id)]

    def segment_of(self, chunk_id: str) -> Segment:
        return self.segments[self.chunk(chunk_id).segment]

    def sample_times(self) -> list[float]:
        """Every chunk's sample times, in order (what the indexer decodes)."""
        return [t for c in self.chunks for t in c.sample_times]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the chunk table stored in the index)."""
        return asdict(self)


def chunk_id(index: int) -> str:
    """Stable, human-readable chunk id."""
    return f"c{index:06d}"


def chunk_id_index(cid: str) -> int:
    if not (cid.startswith("c") and cid[1:].isdigit()):
        raise ValueError(f"not a chunk id: {cid!r}")
    return int(cid[1:])


def plan_chunks(
    duration_s: float,
    *,
    chunk_seconds: float = 4.0,
    sample_fps: float = 1.0,
    segment_seconds: float = 60.0,
    boundaries: Sequence[float] | None = None,
) -> ChunkPlan:
    """Cut ``[0, duration_s)`` into chunks and group them into segments.

    The last chunk may be shorter (a tail under 0.5 s is merged into the chunk before it, so no
    chunk is a sliver).  ``boundaries`` (scene cuts, seconds) move each segment boundary to the
    chunk edge nearest a cut within a third of a segment; without cuts nothing moves.
    """
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ValueError("duration_s must be a positive number")
    if chunk_seconds <= 0 or sample_fps <= 0 or segment_seconds <= 0:
        raise ValueError("chunk_seconds, sample_fps and segment_seconds must be positive")
    n = max(1, math.ceil(duration_s / chunk_seconds - 1e-9))
    if n > 1 and duration_s - (n - 1) * chunk_seconds < 0.5:
        n -= 1
    edges = [i * chunk_seconds for i in range(n)] + [duration_s]

    per_seg = max(1, round(segment_seconds / chunk_seconds))
    starts = list(range(0, n, per_seg))
    if len(starts) > 1 and n - starts[-1] < max(1, per_seg // 3):
        starts.pop()  # fold a short last segment into the one before
    cuts = sorted(float(b) for b in boundaries or [])
    if cuts:
        starts = _snap(starts, cuts, n, chunk_seconds, per_seg)

    seg_of = np.zeros(n, dtype=int)
    for s_i, s in enumerate(starts):
        seg_of[s:] = s_i
    step = 1.0 / sample_fps
    chunks = []
    for i in range(n):
        t0, t1 = edges[i], edges[i + 1]
        k = max(1, math.ceil((t1 - t0) / step - 1e-9))
        times = tuple(round(t0 + j * step, 6) for j in range(k))
        chunks.append(Chunk(chunk_id(i), i, round(t0, 6), round(t1, 6), int(seg_of[i]), times))
    bounds = [*starts, n]
    segments = [
        Segment(
            index=s_i,
            t_start=chunks[a].t_start,
            t_end=chunks[b - 1].t_end,
            chunk_ids=tuple(c.id for c in chunks[a:b]),
        )
        for s_i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    key = f"cs={chunk_seconds:g},fps={sample_fps:g},seg={segment_seconds:g}"
    if cuts:
        digest = hashlib.sha1(",".join(f"{c:.3f}" for c in cuts).encode()).hexdigest()[:8]
        key += f",scenes={digest}"
    return ChunkPlan(chunk_seconds, sample_fps, segment_seconds, duration_s, chunks, segments, key)


class Probed(Protocol):
    """Anything that carries a video's probe (the store's ``VideoRecord``)."""

    @property
    def probe(self) -> VideoProbe: ...


def chunk_plan_for(record: Probed, settings: Settings) -> ChunkPlan:
    """The chunk plan the settings ask for (its ``key`` names the stored frames)."""
    return plan_chunks(
        record.probe.duration_s,
        chunk_seconds=settings.chunk_seconds,
        sample_fps=settings.sample_fps,
        segment_seconds=settings.segment_seconds,
    )


def plan_key(plan: ChunkPlan, settings: Settings) -> str:
    """The stored-frames key: chunk plan parameters plus the cached frame size."""
    return f"{plan.key}-max{settings.thumb_max_side}"


def _snap(
    starts: list[int], cuts: list[float], n: int, chunk_seconds: float, per_seg: int
) -> list[int]:
    """Move each segment start (a chunk index) to the chunk edge nearest a close scene cut."""
    reach = max(1, per_seg // 3)
    cut_edges = np.array([round(c / chunk_seconds) for c in cuts])
    out = [0]
    for s in starts[1:]:
        near = cut_edges[np.abs(cut_edges - s) <= reach]
        best = int(near[np.argmin(np.abs(near - s))]) if near.size else s
        if out[-1] < best < n:
            out.append(best)
    return out


def _thumb(image: np.ndarray) -> np.ndarray:
    """16x9 colour thumbnail (box filter): coarse colour and layout, blind to fine motion."""
    from PIL import Image

    thumb = Image.fromarray(image).resize((16, 9), Image.Resampling.BOX)
    return np.asarray(thumb, dtype=np.float64)


def frame_change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean absolute thumbnail difference in [0, 1], grey-layout correlation in [-1, 1])."""
    ta, tb = _thumb(a), _thumb(b)
    diff = float(np.abs(ta - tb).mean() / 255.0)
    ga, gb = ta.mean(axis=2), tb.mean(axis=2)
    ga = (ga - ga.mean()) / (ga.std() + 1e-6)
    gb = (gb - gb.mean()) / (gb.std() + 1e-6)
    return diff, float((ga * gb).mean())


def scene_boundaries(
    frames: Sequence[Frame], threshold: float = 0.25, layout_threshold: float = 0.3
) -> list[float]:
    """Times of scene cuts: frames that differ sharply from the previous one.

    A cut is reported at the first frame of the new scene when the colour thumbnails differ by
    more than ``threshold`` (mean absolute difference, 0-1), or by more than 0.1 while the
    layouts stop correlating (``layout_threshold``: a cut between shots of similar colours).
    Measured on the real clips at 1 fps: within shots 0.01-0.23 (a scrolling test pattern is
    the high end), joins between clips 0.26-0.68.  Meant for frames about a second apart (the
    chunk sampling); fast hand-held footage can still trip it.
    """
    cuts = []
    for prev, cur in itertools.pairwise(frames):
        diff, corr = frame_change(prev.image, cur.image)
        if diff > threshold or (diff > 0.1 and corr < layout_threshold):
            cuts.append(cur.t)
    return cuts
