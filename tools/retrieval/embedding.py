"""The zero-shot baseline: cosine between the question's embedding and each chunk's embedding.

Two spaces are possible.  ``text`` (the default, and the only one available offline): each
chunk's observation text (OCR, transcript, object and scene labels) embedded by the text embedder,
compared with the question embedded by the same model.  ``visual``: the chunk's visual features
compared with the question embedded by a CLIP-style text tower, which only makes sense when the
visual features came from that same dual encoder (checked by extractor id).

In the text space a chunk scores the best cosine over its single observations (``pool="max"``,
the default when the video's observations were embedded one by one), or the cosine with its
whole concatenated text (``pool="mean"``).  :class:`LexicalRetriever` is the other zero-shot
baseline: IDF-weighted word overlap between question and text memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidsleuth.tools.retrieval.base import FeatureError, ScoredChunk, VideoFeatures, ranked


class QuestionEncoder:
    """Embeds questions with a frozen text embedder, memoising repeated questions."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.id: str = embedder.id
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, questions: list[str]) -> np.ndarray:
        todo = [q for q in dict.fromkeys(questions) if q not in self._cache]
        if todo:
            for q, v in zip(todo, self.embedder.embed_texts(todo), strict=True):
                self._cache[q] = np.asarray(v, np.float32)
        return np.stack([self._cache[q] for q in questions]) if questions else np.zeros((0, 1))

    def __call__(self, question: str) -> np.ndarray:
        return self.encode([question])[0]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class EmbeddingRetriever:
    """Zero-shot cosine retrieval over text memory (or a CLIP-style visual space)."""

    name = "embedding"

    def __init__(self, encoder: QuestionEncoder, space: str = "text", pool: str = "max") -> None:
        if space not in ("text", "visual"):
            raise ValueError(f"space must be text or visual, not {space!r}")
        if pool not in ("max", "mean"):
            raise ValueError(f"pool must be max or mean, not {pool!r}")
        self.encoder = encoder
        self.space = space
        self.pool = pool

    def scores(self, question: str, video: VideoFeatures) -> np.ndarray:
        q = _unit(self.encoder(question))
        if self.space == "visual":
            if video.visual_extractor != self.encoder.id:
                raise FeatureError(
                    f"video {video.video_id}: visual features are {video.visual_extractor}, not "
                    f"the text-image embedder {self.encoder.id}; zero-shot visual retrieval needs "
                    "features from the same dual encoder"
                )
            return _unit(video.visual) @ q
        if video.text is None:
            raise FeatureError(f"video {video.video_id} has no text-memory embeddings")
        if video.text_extractor != self.encoder.id:
            raise FeatureError(
                f"video {video.video_id}: text memory embedded by {video.text_extractor}, "
                f"questions by {self.encoder.id}"
            )
        has = np.abs(video.text).sum(axis=1) > 0
        if self.pool == "max" and video.obs_vectors is not None:
            from vidsleuth.tools.retrieval.match import maxsim

            return np.where(has, maxsim(q, video), -2.0)
        s = _unit(video.text) @ q
        # chunks with nothing to read rank below every chunk with text
        return np.where(has, s, -2.0)

    def rank(self, question: str, video: VideoFeatures, k: int | None = None) -> list[ScoredChunk]:
        return ranked(video, self.scores(question, video), k)


class LexicalRetriever:
    """Zero-shot word overlap: the IDF-weighted share of the question's content words that a
    chunk's text memory contains (a BM25-style baseline; exact codes and names win here)."""

    name = "lexical"

    def scores(self, question: str, video: VideoFeatures) -> np.ndarray:
        return video.lexical_index().scores(question).astype(np.float64)

    def rank(self, question: str, video: VideoFeatures, k: int | None = None) -> list[ScoredChunk]:
        return ranked(video, self.scores(question, video), k)
