"""The retrieval protocol: (question, video) -> chunks ranked by relevance, with scores.

Every retriever reads the same :class:`VideoFeatures` (a video's chunk list and the frozen
features computed for it once, at index time) so baselines and the learned retriever are
compared on exactly the same inputs.  Features are validated when the bundle is built: a NaN or a
shape mismatch is a clear :class:`FeatureError`, never a silent garbage ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vidsleuth.errors import VidsleuthError


class FeatureError(VidsleuthError):
    """A video's features are missing, malformed, or of another kind than a checkpoint expects."""


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk of a video's timeline and the times of its sampled frames."""

    chunk_id: str
    index: int
    t_start: float
    t_end: float
    frame_times: tuple[float, ...] = ()


@dataclass(frozen=True)
class ScoredChunk:
    """A ranked chunk: ``rank`` is 1-based; higher ``score`` means more relevant."""

    chunk_id: str
    index: int
    t_start: float
    t_end: float
    score: float
    rank: int


@dataclass
class VideoFeatures:
    """A video's chunks with the frozen per-chunk features every retriever reads.

    ``visual`` is ``(n, d_v)``: the pooled frame features of each chunk.  ``text`` (optional) is
    ``(n, d_t)``: the embedding of each chunk's observation text (OCR, transcript, tags), a zero
    row where a chunk has no text.  ``frame_visual`` (optional) maps a chunk index to its frames'
    features ``(m, d_v)`` for question-conditioned frame ranking.  The extractor ids name the
    models (and versions) that made the features, so a checkpoint can refuse foreign ones.
    ``obs_vectors`` (optional) ``(m, d_t)`` embeds each distinct observation text on its own and
    ``obs_pairs`` ``(p, 2)`` lists ``(chunk, observation)`` memberships, for the max-over-entries
    match of :mod:`vidsleuth.tools.retrieval.match`.
    """

    video_id: str
    chunks: list[ChunkSpan]
    visual: np.ndarray
    visual_extractor: str
    text: np.ndarray | None = None
    text_extractor: str | None = None
    chunk_texts: list[str] | None = None
    frame_visual: dict[int, np.ndarray] = field(default_factory=dict)
    duration_s: float | None = None
    obs_vectors: np.ndarray | None = None
    obs_pairs: np.ndarray | None = None
    colour_dim: int = 0  # the last colour_dim dims of ``visual`` are colour histograms
    _lexical: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.chunks)
        if self.obs_vectors is not None:
            self.obs_vectors = _checked(
                self.obs_vectors, f"video {self.video_id}: observation embeddings", None
            )
            pairs = np.asarray(
                self.obs_pairs if self.obs_pairs is not None else np.zeros((0, 2)), np.int64
            ).reshape(-1, 2)
            if len(pairs) and (
                pairs[:, 0].min() < 0
                or pairs[:, 0].max() >= n
                or pairs[:, 1].min() < 0
                or pairs[:, 1].max() >= len(self.obs_vectors)
            ):
                raise FeatureError(f"video {self.video_id}: observation memberships out of range")
            self.obs_pairs = pairs
        self.visual = _checked(self.visual, f"video {self.video_id}: visual features", n)
        if self.text is not None:
            self.text = _checked(self.text, f"video {self.video_id}: text features", n)
            if not self.text_extractor:
                raise FeatureError(f"video {self.video_id}: text features without an extractor id")
        if self.chunk_texts is not None and len(self.chunk_texts) != n:
            raise FeatureError(
                f"video {self.video_id}: {len(self.chunk_texts)} chunk texts for {n} chunks"
            )
        for i, arr in self.frame_visual.items():
            self.frame_visual[i] = _checked(
                arr,
                f"video {self.video_id}: frame features of chunk {i}",
                None,
                self.visual.shape[1],
            )
        if self.duration_s is None:
            self.duration_s = max((c.t_end for c in self.chunks), default=0.0)

    def __len__(self) -> int:
        return len(self.chunks)

    def lexical_index(self) -> Any:
        """The video's :class:`~vidsleuth.tools.retrieval.match.LexicalIndex` (built once)."""
        if self._lexical is None:
            from vidsleuth.tools.retrieval.match import LexicalIndex

            self._lexical = LexicalIndex(self.chunk_texts or [""] * len(self))
        return self._lexical

    @property
    def starts(self) -> np.ndarray:
        return np.array([c.t_start for c in self.chunks], dtype=np.float64)

    @property
    def ends(self) -> np.ndarray:
        return np.array([c.t_end for c in self.chunks], dtype=np.float64)

    def window(self, lo: int, hi: int) -> VideoFeatures:
        """The sub-video of chunks ``[lo, hi)`` (a shorter video with the same features)."""
        return VideoFeatures(
            video_id=self.video_id,
            chunks=self.chunks[lo:hi],
            visual=self.visual[lo:hi],
            visual_extractor=self.visual_extractor,
            text=None if self.text is None else self.text[lo:hi],
            text_extractor=self.text_extractor,
            chunk_texts=None if self.chunk_texts is None else self.chunk_texts[lo:hi],
            frame_visual={i - lo: a for i, a in self.frame_visual.items() if lo <= i < hi},
            duration_s=None,
            obs_vectors=self.obs_vectors,
            obs_pairs=None if self.obs_pairs is None else _shift_pairs(self.obs_pairs, lo, hi),
            colour_dim=self.colour_dim,
        )


def _shift_pairs(pairs: np.ndarray, lo: int, hi: int) -> np.ndarray:
    keep = (pairs[:, 0] >= lo) & (pairs[:, 0] < hi)
    out = pairs[keep].copy()
    out[:, 0] -= lo
    return out


def _checked(arr: np.ndarray, what: str, n: int | None, dim: int | None = None) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2:
        raise FeatureError(f"{what}: expected a 2-d (chunks, dim) array, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise FeatureError(f"{what}: {a.shape[0]} rows for {n} chunks")
    if dim is not None and a.shape[1] != dim:
        raise FeatureError(f"{what}: dimension {a.shape[1]}, expected {dim}")
    if not np.issubdtype(a.dtype, np.floating):
        raise FeatureError(f"{what}: dtype {a.dtype} is not floating point")
    bad = ~np.isfinite(a)
    if bad.any():
        rows = sorted({int(r) for r in np.nonzero(bad)[0][:5]})
        raise FeatureError(
            f"{what}: {int(bad.sum())} NaN/inf values (rows {rows}...); re-index the video"
        )
    return a.astype(np.float32, copy=False)


@runtime_checkable
class ChunkRetriever(Protocol):
    """Ranks a video's chunks for a question; ``k=None`` ranks every chunk."""

    name: str

    def rank(
        self, question: str, video: VideoFeatures, k: int | None = None
    ) -> list[ScoredChunk]: ...


def ranked(video: VideoFeatures, scores: np.ndarray, k: int | None) -> list[ScoredChunk]:
    """Chunks sorted by descending score (ties: earlier chunk first), truncated to ``k``."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(video),):
        raise ValueError(f"{s.shape} scores for {len(video)} chunks")
    order = np.lexsort((np.arange(len(s)), -s))
    if k is not None:
        order = order[: max(0, k)]
    return [
        ScoredChunk(
            chunk_id=video.chunks[i].chunk_id,
            index=video.chunks[i].index,
            t_start=video.chunks[i].t_start,
            t_end=video.chunks[i].t_end,
            score=float(s[i]),
            rank=r + 1,
        )
        for r, i in enumerate(order)
    ]


def adaptive_k(
    scores: Sequence[float] | np.ndarray,
    *,
    mass: float = 0.8,
    tau: float = 1.0,
    k_min: int = 1,
    k_max: int = 16,
) -> int:
    """How many top chunks to keep: the fewest whose softmax(score / τ) mass reaches ``mass``.

    R-VLM always keeps K=5; a question with one sharp answer needs one chunk and a vague one
    needs more, so the count follows the retriever's confidence, bounded by ``[k_min, k_max]``
    (the frame budget).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return 0
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    z = s / tau
    p = np.exp(z - z.max())
    p = np.sort(p / p.sum())[::-1]
    k = int(np.searchsorted(np.cumsum(p), mass - 1e-12) + 1)
    return int(min(max(k, k_min), k_max, s.size))
