"""Question-conditioned match signals between a question and each chunk's observations.

A chunk's text memory is many short observations (an OCR line, a transcript segment, an object
label, a few ImageNet tags).  Embedding their concatenation blurs a single decisive line (the
caption that answers the question) with the tags around it, so two sharper zero-shot signals
are computed per chunk, for the embedding baseline and as inputs of the learned scorer:

* ``maxsim``: the best cosine between the question and any single observation of the chunk
  (the usual "max over memory entries" of memory retrieval);
* ``lexical``: the IDF-weighted fraction of the question's content words found in the chunk's
  text, with document frequencies taken over the chunks of the same video, so a word on every
  chunk (a recurring tag) counts for little and a rare code or name for a lot.

The learned scorer also sees each signal relative to the best chunk of the video (``x − max``):
what matters for ranking is whether a chunk is *the* best match, not the absolute cosine, which
drifts with how a question is worded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vidsleuth.text import tokens as tokens  # re-exported for the retrieval evaluation

if TYPE_CHECKING:
    from vidsleuth.tools.retrieval.base import VideoFeatures

MATCH_FEATURES: tuple[str, ...] = (
    "maxsim",
    "maxsim_rel",
    "lexical",
    "lexical_rel",
    "colour",
    "colour_rel",
)

# Colour names onto the bins of ``features.colour_histogram``: 12 hue sectors of 30 degrees
# (red at 0), then black, grey, white.  Basic colour terms, not anything learned.
COLOUR_WORDS: dict[str, tuple[int, ...]] = {
    "red": (11, 0),
    "orange": (1,),
    "yellow": (2,),
    "green": (3, 4),
    "cyan": (5, 6),
    "turquoise": (5, 6),
    "blue": (7, 8),
    "purple": (8, 9),
    "violet": (8, 9),
    "magenta": (10,),
    "pink": (10, 11),
    "black": (12,),
    "grey": (13,),
    "gray": (13,),
    "white": (14,),
}

# Function words and the question scaffolding of grounding questions ("when does ... appear");
# they never identify a moment, so they are dropped from the question before matching.
_STOP_TEXT = """
    a an the and or of to in on at by for with from into onto over under is are was were be
    been being it its this that these those there here what when where which who whom whose why
    how does do did done can could would should will shall may might must has have had having
    i you he she we they me him her us them my your his our their someone something anyone time
    moment point part video clip scene screen frame shown show shows seen see appear appears
    appearing find tell say says said spoken hear heard read written words word phrase text
    caption reads picture image visible first last then during while about brief whole
    filled turn turns become becomes"""
_STOP = frozenset(tokens(_STOP_TEXT))


def content_tokens(question: str) -> list[str]:
    """The question's words that can identify a moment (stop words and scaffolding dropped)."""
    out = [t for t in tokens(question) if t not in _STOP]
    return list(dict.fromkeys(out))


class LexicalIndex:
    """Per-chunk words of one video's text memory, for IDF-weighted word overlap.

    A question word is present in a chunk when the chunk has it as a word, or (two characters or
    more) inside one of its observations with the spaces and punctuation squeezed out: OCR often
    merges words (``CODE Z9-63`` read as ``CODEZ9-63``), which still contains ``code``, ``z9`` and
    ``63``.  Document frequencies use the same rule, over the chunks of the video.
    """

    def __init__(self, chunk_texts: list[str]) -> None:
        self.sets = [frozenset(tokens(t)) for t in chunk_texts]
        self.squashed = [
            "|".join("".join(tokens(part)) for part in t.split(",")) for t in chunk_texts
        ]
        self.n = len(self.sets)

    def present(self, token: str) -> np.ndarray:
        """Which chunks contain ``token`` (a bool per chunk)."""
        if len(token) < 2:
            return np.fromiter((token in s for s in self.sets), bool, self.n)
        return np.fromiter(
            (token in s or token in q for s, q in zip(self.sets, self.squashed, strict=True)),
            bool,
            self.n,
        )

    def scores(self, question: str) -> np.ndarray:
        """IDF-weighted fraction of the question's content words present in each chunk."""
        q = content_tokens(question)
        out = np.zeros(self.n, np.float32)
        if not q or not self.n:
            return out
        hits = {t: self.present(t) for t in q}
        w = {t: math.log((self.n + 1.0) / (float(h.sum()) + 0.5)) for t, h in hits.items()}
        total = sum(w.values())
        for t, h in hits.items():
            out[h] += w[t] / total
        return out


def maxsim(qvec: np.ndarray, video: VideoFeatures) -> np.ndarray:
    """Per chunk, the best cosine between the question and one of its observations (-1 if none)."""
    out = np.full(len(video), -1.0, np.float32)
    if video.obs_vectors is None or video.obs_pairs is None or not len(video.obs_pairs):
        return out
    q = qvec / max(float(np.linalg.norm(qvec)), 1e-12)
    o = video.obs_vectors
    sims = (o @ q) / np.maximum(np.linalg.norm(o, axis=1), 1e-12)
    chunk, obs = video.obs_pairs[:, 0], video.obs_pairs[:, 1]
    np.maximum.at(out, chunk, sims[obs].astype(np.float32))
    return out


def colour_match(question: str, video: VideoFeatures) -> np.ndarray:
    """Per chunk, the largest share of one frame's pixels in the colours the question names.

    Zero everywhere when the question names no colour or the video has no colour histograms.
    ``video.visual`` ends with ``[mean; max]`` over frames of the 15-bin histogram, so the last
    15 dims are each bin's largest share in any frame of the chunk.
    """
    out = np.zeros(len(video), np.float32)
    bins = sorted({b for t in tokens(question) for b in COLOUR_WORDS.get(t, ())})
    if not bins or video.colour_dim < 15:
        return out
    per_frame_max = video.visual[:, -15:]
    return np.minimum(per_frame_max[:, bins].sum(axis=1), 1.0).astype(np.float32)


def match_features(question: str, qvec: np.ndarray, video: VideoFeatures) -> np.ndarray:
    """``(n_chunks, len(MATCH_FEATURES))``: every match signal of :data:`MATCH_FEATURES`."""
    ms = maxsim(qvec, video)
    lx = video.lexical_index().scores(question)
    co = colour_match(question, video)
    return np.stack(
        [
            ms,
            ms - ms.max(initial=-1.0),
            lx,
            lx - lx.max(initial=0.0),
            co,
            co - co.max(initial=0.0),
        ],
        axis=1,
    )
