"""The uniform baseline: evenly spaced chunks whatever the question (every paper compares to it)."""

from __future__ import annotations

import numpy as np

from vidsleuth.tools.retrieval.base import ScoredChunk, VideoFeatures, ranked


def spread_order(n: int) -> list[int]:
    """All indices ``0..n-1`` ordered so every prefix of length K is as evenly spaced as possible.

    The first K of the order are the centres of K equal parts of the video; later entries fill
    the largest remaining gaps, so ``rank(k=K)`` is the classic "K evenly spaced chunks" and the
    full ranking is still a permutation (recall@K stays well defined for every K).
    """
    if n <= 0:
        return []
    seen: set[int] = set()
    order: list[int] = []
    k = 1
    while len(order) < n:
        for j in range(k):
            i = min(n - 1, int((j + 0.5) * n / k))
            if i not in seen:
                seen.add(i)
                order.append(i)
        k *= 2
        if k > 2 * n:
            order.extend(i for i in range(n) if i not in seen)
            break
    return order


class UniformRetriever:
    """Evenly spaced chunks; the score only encodes the order."""

    name = "uniform"

    def rank(self, question: str, video: VideoFeatures, k: int | None = None) -> list[ScoredChunk]:
        n = len(video)
        if k is not None and 0 < k < n:
            # Exactly K evenly spaced chunks in time order of preference.
            first = [min(n - 1, int((j + 0.5) * n / k)) for j in range(k)]
            rest = [i for i in spread_order(n) if i not in set(first)]
            order = first + rest
        else:
            order = spread_order(n)
        scores = np.empty(n, dtype=np.float64)
        scores[np.array(order, dtype=int)] = np.linspace(1.0, 0.0, n) if n > 1 else [1.0]
        return ranked(video, scores, k)
