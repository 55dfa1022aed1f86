"""A deterministic, model-free text embedder for logic tests and benchmarks of the memory layer.

It hashes word unigrams and bigrams into a fixed number of buckets (signed feature hashing) and
L2-normalises, so texts that share words are close and the same text always gives the same vector,
with no model file and in microseconds.  It is not a semantic model: tests that need meaning use
MiniLM (``vidsleuth.tools.models``) and are marked slow.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

import numpy as np

from vidsleuth.text import tokens
from vidsleuth.tools.models.base import UnsupportedModality


class HashingEmbedder:
    """Bag-of-words feature hashing into ``dim`` buckets; implements the ``Embedder`` protocol."""

    modalities = frozenset({"text"})

    def __init__(self, dim: int = 384, *, name: str = "hashing") -> None:
        self.dim = dim
        self.id = f"{name}-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        words = tokens(text)
        feats = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        v = np.zeros(self.dim, dtype=np.float32)
        for f in feats:
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        n = float(np.linalg.norm(v))
        if n == 0.0:
            v[0] = 1.0  # empty text: a fixed unit vector, never NaN
            return v
        return v / n

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        raise UnsupportedModality(f"{self.id} embeds text only")
