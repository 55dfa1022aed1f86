"""Chunk retrieval: which parts of a long video to look at for a question.

``uniform`` and ``embedding`` are the zero-shot baselines; ``rvlm`` is the learned R-VLM scorer
(an MLP over frozen features, trained with the soft matching loss in :mod:`.losses`).  Importing
this package loads no model library; torch is imported inside the functions that need it.
"""

from vidsleuth.tools.retrieval.base import (
    ChunkRetriever,
    ChunkSpan,
    FeatureError,
    ScoredChunk,
    VideoFeatures,
    adaptive_k,
    ranked,
)

__all__ = [
    "ChunkRetriever",
    "ChunkSpan",
    "FeatureError",
    "ScoredChunk",
    "VideoFeatures",
    "adaptive_k",
    "ranked",
]
