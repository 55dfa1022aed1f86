"""Whole-video evidence location: *where* is something read, heard, seen, or a colour shown?

The coarse index already holds what every chunk shows and says (cached perception); this module
turns it into one searchable list of moments per video (:func:`video_moments`), so a phrase, an
object or a colour can be checked against the whole timeline without decoding a frame or calling
a model.  The caller says *what* to look for and *which kinds* of observation may show it
(:func:`locate`); nothing here reads question phrasings, so the caller (a model choosing the
``find_mentions`` tool's arguments) decides how a thing would show.

Matching is deliberately plain: word overlap tolerant of OCR misreads for text, label words or
embedding similarity for detector and ImageNet labels (labels seen in a large share of chunks
are scenery, not a moment), colour names for full-frame colour events.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidsleuth.spans import group_spans
from vidsleuth.text import tokens
from vidsleuth.tools.perception.colour_events import canonical_colour

#: kinds whose ``text`` is words read or heard (matched by word overlap)
TEXT_KINDS: tuple[str, ...] = ("ocr", "speech", "subtitle", "caption")
#: kinds whose ``text`` is a classifier's label (matched by label words or embeddings)
LABEL_KINDS: tuple[str, ...] = ("object", "tag")
#: every kind :func:`locate` understands (the ``find_mentions`` tool's ``kinds`` choices)
KINDS: tuple[str, ...] = (*TEXT_KINDS, *LABEL_KINDS, "colour")
#: labels seen in more than this share of chunks are scenery, not a moment
SCENERY_SHARE = 0.2
#: embedding similarity at which an object/tag label names the queried thing
LABEL_SIMILARITY = 0.55
#: share of the query's words a text must hold to be a hit
MIN_TEXT_SHARE = 0.6
#: score of a colour event named by its basic term only (its CSS shade scores 1): a query for
#: "cyan" then beats one for "blue" on a cyan screen, which is both
BASIC_COLOUR_SCORE = 0.75

Similarity = Callable[[str, Sequence[str]], Sequence[float]]

_STOP = {"the", "a", "an", "of", "on", "in", "at", "and", "is", "to"}
#: words any full-frame colour event is, so they never rule one out
_ANY_COLOUR_EVENT = frozenset(
    tokens(
        "flash flashes flashing screen frame frames solid plain blank uniform full whole "
        "colour color coloured colored briefly "
        # how a frame changing colour is said: "the screen goes yellow", "turns white"
        "go goes going went turn turns turned turning become becomes became fill fills "
        "filled change changes changed"
    )
)
#: characters OCR engines confuse for one another (digit for look-alike letter), folded on both
#: sides before comparing; a long-known confusion set of OCR post-correction
_LOOKALIKE = str.maketrans("0158", "olsb")


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` without the commonest function words."""
    return [w for w in tokens(text) if w not in _STOP]


# ------------------------------------------------------------------------------ the moments
@dataclass
class Moments:
    """Every observation of one video as plain dicts ``{t_start, t_end, kind, text}`` (kinds of
    :data:`KINDS`; detector/tag items may carry ``conf``, colour events ``colour`` and ``shade``),
    plus how many chunks each object/tag label was seen in (to tell scenery from moments)."""

    items: list[dict[str, Any]]
    label_chunks: dict[str, int]
    n_chunks: int


def video_moments(store: Any, record: Any, settings: Any) -> Moments:
    """What every chunk of a video read, heard and showed (from the cached coarse perception)
    and its full-frame colour events (:mod:`vidsleuth.tools.perception.colour_events`)."""
    from vidsleuth.memory.indexer import chunk_plan_for, plan_key
    from vidsleuth.tools.perception.cache import stored_observations
    from vidsleuth.tools.perception.colour_events import video_colour_events
    from vidsleuth.tools.perception.registry import parse_names

    names = list(parse_names(settings.perceivers, settings))
    if not record.probe.has_audio:
        names = [n for n in names if n != "speech"]
    items: list[dict[str, Any]] = []
    seen: dict[str, set[float]] = {}
    for o in stored_observations(store, record.video_id, names, settings):
        text = (o.text or o.label or "").strip()
        if not text:
            continue
        item: dict[str, Any] = {
            "t_start": float(o.t_start),
            "t_end": float(o.t_end),
            "kind": o.kind,
            "text": text,
        }
        if o.kind in LABEL_KINDS:
            if o.score is not None:
                item["conf"] = float(o.score)
            seen.setdefault(text.lower(), set()).add(round(float(o.t_start), 1))
        items.append(item)
    plan = chunk_plan_for(record, settings)
    step = 1.0 / float(settings.sample_fps)
    items += video_colour_events(store, record, plan_key(plan, settings), step)
    n_chunks = len(plan.chunks)
    return Moments(items, {k: len(v) for k, v in seen.items()}, max(1, n_chunks))


# ------------------------------------------------------------------------------ matching
def _fuzzy_in(word: str, pool: Sequence[str]) -> bool:
    if word in pool:
        return True
    if len(word) < 4:
        return False
    return any(difflib.SequenceMatcher(None, word, p).ratio() >= 0.8 for p in pool)


def text_share(query: str, text: str) -> float:
    """Share of the query's words found in ``text`` (OCR misreads tolerated: look-alike
    characters folded, and one wrong letter in five forgiven)."""
    want = [w.translate(_LOOKALIKE) for w in words(query)]
    if not want:
        return 0.0
    pool = [w.translate(_LOOKALIKE) for w in words(text)]
    return sum(1 for w in want if _fuzzy_in(w, pool)) / len(want)


def label_scores(
    moments: Moments, query: str, similarity: Similarity | None = None
) -> dict[str, float]:
    """Each non-scenery object/tag label of the video that names ``query``, with how well:
    the share of the query's words in the label, or the embedding similarity when higher and
    at least :data:`LABEL_SIMILARITY`."""
    labels = sorted(
        lab for lab, n in moments.label_chunks.items() if n / moments.n_chunks <= SCENERY_SHARE
    )
    want = set(words(query))
    good: dict[str, float] = {}
    for lab in labels:
        common = want & set(words(lab))
        if common:
            good[lab] = len(common) / len(want)
    if similarity is not None and labels and want:
        for lab, sim in zip(labels, similarity(query, labels), strict=True):
            if sim >= LABEL_SIMILARITY:
                good[lab] = max(good.get(lab, 0.0), float(sim))
    return good


def colour_score(query: str, moment: dict[str, Any]) -> float:
    """How well a colour event matches ``query``.  Its colour: 1 when the query names the
    event's shade, 0.75 its basic colour only, 0 another colour (or none named); times the share
    of the query's other words in the event's text ("fade to black" needs a fade), words that
    any full-frame colour event is ("flash", "screen") excepted."""
    text = str(moment.get("text", ""))
    named = [c for c in (canonical_colour(w) for w in words(query)) if c]
    rest = [w for w in words(query) if not canonical_colour(w) and w not in _ANY_COLOUR_EVENT]
    share = text_share(" ".join(rest), text) if rest else 1.0
    if share < MIN_TEXT_SHARE or not (named or rest):
        return 0.0
    if not named:
        return share
    shade, basic = moment.get("shade"), moment.get("colour")
    if basic is None:  # an event without names: its text is all there is
        basic = next((c for c in (canonical_colour(w) for w in words(text)) if c), None)
    if shade is not None and shade in named:
        return share
    return BASIC_COLOUR_SCORE * share if basic in named else 0.0


def locate(
    moments: Moments,
    query: str,
    kinds: Sequence[str] | None = None,
    similarity: Similarity | None = None,
) -> list[dict[str, Any]]:
    """Moments that show ``query``, best first, each ``{t_start, t_end, kind, text, score}``
    with ``score`` in 0..1.

    ``kinds`` restricts the search to those observation kinds (see :data:`KINDS`; None or empty
    = all; an unknown kind is a ``ValueError``):
    text kinds match when most of the query's words are in the text (OCR misreads tolerated),
    label kinds when a non-scenery label names the query (label words, or ``similarity(query,
    labels)`` such as :func:`embedding_similarity`), colour events when the query names their
    colour.  A detector's label counts as much as the detector was sure of it.
    """
    want = set(kinds or KINDS)
    unknown = want - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; choose from {list(KINDS)}")
    good = label_scores(moments, query, similarity) if want & set(LABEL_KINDS) else {}
    out: list[dict[str, Any]] = []
    for m in moments.items:
        kind = m["kind"]
        if kind not in want:
            continue
        if kind in TEXT_KINDS:
            s = text_share(query, m["text"])
            s = s if s >= MIN_TEXT_SHARE else 0.0
        elif kind in LABEL_KINDS:
            s = good.get(m["text"].lower(), 0.0) * float(m.get("conf", 1.0))
        else:
            s = colour_score(query, m)
        if s > 0:
            out.append(
                {
                    "t_start": float(m["t_start"]),
                    "t_end": float(m["t_end"]),
                    "kind": kind,
                    "text": m["text"],
                    "score": round(s, 4),
                }
            )
    out.sort(key=lambda h: (-h["score"], h["t_start"]))
    return out


def occurrences(hits: Sequence[dict[str, Any]], gap: float) -> list[dict[str, Any]]:
    """Hits merged into separate occurrences, in time order (hits closer than ``gap`` seconds
    are one occurrence: the first hit's fields, spanning the whole run, scored by its best
    hit)."""
    out = []
    for run in group_spans(hits, lambda h: (h["t_start"], h["t_end"]), gap):
        first = dict(run[0])
        first["t_end"] = max(float(h["t_end"]) for h in run)
        if any("score" in h for h in run):
            first["score"] = max(float(h.get("score") or 0.0) for h in run)
        out.append(first)
    return out


def embedding_similarity(embedder: Any) -> Callable[[str, Sequence[str]], list[float]]:
    """Cosine similarity of a phrase to labels with a text embedder (label vectors cached)."""
    cache: dict[str, np.ndarray] = {}

    def sim(query: str, labels: Sequence[str]) -> list[float]:
        todo = [lab for lab in labels if lab not in cache]
        if todo:
            for lab, v in zip(todo, np.asarray(embedder.embed_texts(todo)), strict=True):
                cache[lab] = v / (np.linalg.norm(v) or 1.0)
        qv = np.asarray(embedder.embed_texts([query]))[0]
        qv = qv / (np.linalg.norm(qv) or 1.0)
        return [float(cache[lab] @ qv) for lab in labels]

    return sim
