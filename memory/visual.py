"""Visual memory: one vector per chunk (and per sampled frame where useful) from the visual
embedder, searchable by an example frame, or by text when the embedder is a text-image one.

The vectors are computed by the perception/indexing layer (it already holds the frames); this
module stores them with their spans and provenance and answers nearest-neighbour queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidsleuth.memory.records import InvalidQuery, MemoryRecord, VectorMemory, record_id

VISUAL_PRODUCER = "visual"


class VisualMemory(VectorMemory):
    """Frame and chunk embeddings of a video in the visual embedder's space."""

    kind = "visual"

    def add_vectors(
        self,
        video_id: str,
        spans: Sequence[tuple[float, float]],
        vectors: np.ndarray,
        *,
        level: str = "chunk",
        version: str,
        labels: Sequence[str] | None = None,
    ) -> int:
        """Store one vector per span (``level`` ``chunk`` or ``frame``); return how many are new.

        ``version`` must name the embedder and preprocessing that produced the vectors (build it
        with ``version_of``); ``labels`` (e.g. top tags) become the record text for listings.
        """
        if level not in ("chunk", "frame"):
            raise InvalidQuery(f"visual records are chunk or frame level, not {level!r}")
        if len(spans) != len(vectors):
            raise ValueError(f"{len(spans)} spans but {len(vectors)} vectors")
        records = [
            MemoryRecord(
                id=record_id(self.kind, video_id, VISUAL_PRODUCER, version, level, s, e),
                kind="visual",
                video_id=video_id,
                level=level,
                t_start=s,
                t_end=e,
                text=(labels[i] if labels else ""),
                producer=VISUAL_PRODUCER,
                version=version,
                meta={"embedder": self.embedder.id},
            )
            for i, (s, e) in enumerate(spans)
        ]
        return self.add(records, np.asarray(vectors, dtype=np.float32))

    def search_image(
        self, video_id: str, image: np.ndarray, **filters: object
    ) -> list[MemoryRecord]:
        """Chunks/frames that look most like ``image`` (an ``HxWx3`` uint8 RGB frame)."""
        from vidsleuth.tools.models.base import UnsupportedModality

        try:
            vec = self.embedder.embed_images([image])
        except UnsupportedModality:
            raise InvalidQuery(f"visual embedder {self.embedder.id} cannot embed images") from None
        return self.search(video_id, vector=vec, **filters)  # type: ignore[arg-type]
