"""Whole-video evidence location: *where* is a phrase read, a phrase heard, an object seen or a
colour flashed?

The coarse index already holds what every chunk shows and says (cached perception); this module
turns it into one searchable list of moments per video, so a multiple-choice option can be
checked against the whole timeline without decoding a frame or calling the language model.  It
adds one cheap perceiver of its own, :func:`colour_flashes`: a flash is a full-frame uniform
colour, visible in the frame statistics of the cached 1-fps frames (the coarse perceivers look at
one frame per chunk and miss a one-second flash).

Matching is deliberately plain: word overlap (tolerant of OCR misreads) for text and speech,
label words or embedding similarity for detector and ImageNet labels (labels seen in many chunks
are scenery, not a moment), exact colour names for flashes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: basic colour names and their RGB; a uniform frame is named after the nearest one
BASIC_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "orange": (255, 128, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "purple": (128, 0, 128),
    "pink": (255, 150, 200),
    "brown": (140, 80, 20),
}
COLOUR_SYNONYMS = {"gray": "grey", "violet": "purple", "fuchsia": "magenta", "aqua": "cyan"}
#: a frame is "uniform" when every channel's standard deviation is below this (0-255 scale):
#: a synthetic or broadcast flash is ~0 even after JPEG, flat grey scenery is 7 or more
FLASH_MAX_STD = 4.0
#: labels seen in more than this share of chunks are scenery, not a moment
SCENERY_SHARE = 0.2
#: embedding similarity at which an object/tag label names the queried thing
LABEL_SIMILARITY = 0.55
#: the same for labels of a close look (a framed or new region); looser (0.4) matched scenery
CLOSEUP_SIMILARITY = 0.55
FLASH_VERSION = "1"

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "on", "in", "at", "and", "is", "to"}
_QUOTED = re.compile(r"['\"‘’“”](.+?)['\"‘’“”](?:\s|$|[?.,!])")


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class Query:
    """What to look for: the words, and which kinds of observation may show them."""

    text: str
    kinds: tuple[str, ...]  # subset of ocr, speech, object, colour


def parse_query(description: str) -> Query:
    """Read a description such as ``the on-screen text 'BLUE FOX'``, ``the red colour flash``,
    ``the spoken phrase '...'`` or ``the cat``: the quoted part (when any) is the thing, the rest
    says how it shows (written, spoken, a colour, an object)."""
    d = description.strip()
    low = d.lower()
    m = _QUOTED.search(d + " ")
    thing = m.group(1) if m else d
    if "colour flash" in low or "color flash" in low or "flash" in low.split():
        colour = next((w for w in words(low) if canonical_colour(w)), None)
        if colour:
            return Query(canonical_colour(colour) or colour, ("colour",))
    if m and ("spoken" in low or "said" in low or "phrase" in low):
        return Query(thing, ("speech",))
    if m and ("text" in low or "written" in low or "screen" in low):
        return Query(thing, ("ocr",))
    if m:
        return Query(thing, ("ocr", "speech"))
    colour = canonical_colour(low.strip(" .?"))
    if colour:
        return Query(colour, ("colour",))
    thing = " ".join(w for w in words(d))
    return Query(thing, ("ocr", "speech", "object"))


def canonical_colour(word: str) -> str | None:
    w = COLOUR_SYNONYMS.get(word.lower(), word.lower())
    return w if w in BASIC_COLOURS else None


# ------------------------------------------------------------------------------ colour flashes
def frame_colour(image: np.ndarray) -> tuple[str, float] | None:
    """``(colour name, distance)`` when the frame is one uniform colour, else None."""
    small = np.asarray(image[::4, ::4], dtype=np.float32).reshape(-1, 3)
    if float(small.std(axis=0).max()) > FLASH_MAX_STD:
        return None
    mean = small.mean(axis=0)
    name, dist = min(
        (
            (n, float(np.linalg.norm(mean - np.array(c, np.float32))))
            for n, c in BASIC_COLOURS.items()
        ),
        key=lambda x: x[1],
    )
    return name, dist


def colour_flashes(store: Any, record: Any, settings: Any) -> list[dict[str, Any]]:
    """Spans where the whole frame is one colour, from the cached chunk frames (computed once
    per video and cached in the store under producer ``colour``)."""
    from vidsleuth.memory.indexer import chunk_plan_for, plan_key
    from vidsleuth.memory.store import version_of

    plan = chunk_plan_for(record, settings)
    key = plan_key(plan, settings)
    version = version_of(plan=key, max_std=FLASH_MAX_STD, v=FLASH_VERSION)
    cached = store.get_json(record.video_id, "colour", version, "flashes")
    if cached is not None:
        return list(cached)
    step = 1.0 / float(settings.sample_fps)
    hits: list[tuple[float, str]] = []
    dur = float(record.probe.duration_s)
    window = 120.0  # read the frames a window at a time: an hour of frames does not fit in RAM
    t = 0.0
    while t < dur:
        for f in store.frames(record.video_id, key, t, t + window):
            got = frame_colour(f.image)
            if got is not None:
                hits.append((float(f.t), got[0]))
        t += window
    out: list[dict[str, Any]] = []
    for t_frame, name in sorted(hits):
        last = out[-1] if out else None
        if last is not None and last["text"] == name and t_frame - last["t_end"] <= 1.5 * step:
            last["t_end"] = round(t_frame + step / 2, 3)
        else:
            out.append(
                {
                    "t_start": round(max(0.0, t_frame - step / 2), 3),
                    "t_end": round(t_frame + step / 2, 3),
                    "kind": "colour",
                    "text": name,
                }
            )
    store.put_json(record.video_id, "colour", version, "flashes", out)
    return out


# ------------------------------------------------------------------------------ object close-ups
#: crops (x0, y0, x1, y1 as shares of the frame) looked at again in a chunk whose labels are new
CROPS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.6, 0.6),
    (0.4, 0.0, 1.0, 0.6),
    (0.0, 0.4, 0.6, 1.0),
    (0.4, 0.4, 1.0, 1.0),
    (0.2, 0.2, 0.8, 0.8),
)
CROPS_VERSION = "4"


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """Longest run of True in each row of a 2-D mask."""
    pad = np.zeros((mask.shape[0], 1), np.int8)
    d = np.diff(np.concatenate([pad, mask.astype(np.int8), pad], axis=1), axis=1)
    out = np.zeros(mask.shape[0], int)
    for i in range(mask.shape[0]):
        st, en = np.flatnonzero(d[i] == 1), np.flatnonzero(d[i] == -1)
        if len(st):
            out[i] = int((en - st).max())
    return out


def framed_box(image: np.ndarray, share: float = 0.15) -> tuple[int, int, int, int] | None:
    """The inside ``(x0, y0, x1, y1)`` of a picture-in-picture framed by a light border (long
    straight runs of near-white pixels on two rows and two columns), or None."""
    light = image.min(axis=-1) > 225
    h, w = light.shape
    rows = np.flatnonzero(_longest_runs(light) >= share * w)
    cols = np.flatnonzero(_longest_runs(light.T) >= share * h)
    if len(rows) < 2 or len(cols) < 2:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    if y1 - y0 < 0.1 * h or x1 - x0 < 0.1 * w or (y1 - y0) * (x1 - x0) > 0.8 * h * w:
        return None
    return x0 + 3, y0 + 3, x1 - 2, y1 - 2


def novel_chunks(tag_sets: Sequence[tuple[float, set[str]]], reach: int = 3) -> list[float]:
    """Chunk times whose labels are new: at least two labels seen in none of the ``reach``
    chunks before *and* none of those after, skipping the adjacent chunk on each side (a
    moment can cover it too).  A small object in a big scene changes the whole-frame labels for
    a moment only; a scene cut changes them on one side only."""
    out = []
    for i, (t, tags) in enumerate(tag_sets):
        before = set().union(*(s for _, s in tag_sets[max(0, i - 1 - reach) : max(0, i - 1)]))
        after = set().union(*(s for _, s in tag_sets[i + 2 : i + 2 + reach]))
        if len(tags - before) >= 2 and len(tags - after) >= 2:
            out.append(t)
    return out


def object_closeups(store: Any, record: Any, settings: Any) -> list[dict[str, Any]]:
    """Labels of close-up crops of the chunks whose whole-frame labels are new (see
    :func:`novel_chunks`): a small inserted object is named by the classifier only when it fills
    the picture.  Cached per video under producer ``closeups``."""
    from vidsleuth.memory.indexer import chunk_plan_for, plan_key
    from vidsleuth.memory.store import version_of
    from vidsleuth.tools.perception.cache import chunk_frame_time
    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.perception.types import Observation
    from vidsleuth.tools.video import Frame

    plan = chunk_plan_for(record, settings)
    key = plan_key(plan, settings)
    tags = make_perceiver("tags", settings)
    objects = make_perceiver("objects", settings)
    version = version_of(
        plan=key, tags=tags.version, objects=objects.version, crops=CROPS, v=CROPS_VERSION
    )
    cached = store.get_json(record.video_id, "closeups", version, "labels")
    if cached is not None:
        return list(cached)
    tag_sets = []
    for c in plan.chunks:
        got = store.get_json(record.video_id, tags.name, tags.version, c.id) or []
        labels = {str(o.get("label") or o.get("text") or "") for o in got} - {""}
        tag_sets.append((float(c.t_start), labels))
    novel = set(novel_chunks(tag_sets))
    out: list[dict[str, Any]] = []
    for c in plan.chunks:
        mid = chunk_frame_time(c)
        frames = store.frames(record.video_id, key, mid - 0.01, mid + 1.0)[:1]
        if not frames:
            continue
        img = frames[0].image
        h, w = img.shape[:2]
        box = framed_box(img)  # a framed picture-in-picture is looked at in every chunk
        if box is None and float(c.t_start) not in novel:
            continue
        crops = [
            Frame(t=frames[0].t, image=img[box[1] : box[3], box[0] : box[2]], key=False)
            for _ in ([box] if box else [])
        ] + [
            Frame(
                t=frames[0].t,
                image=img[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)],
                key=False,
            )
            for x0, y0, x1, y1 in (CROPS if float(c.t_start) in novel else ())
        ]
        obs: list[Observation] = []
        for p in (tags, objects):
            obs += p.perceive_frames(crops)
        for o in obs:
            label = (o.label or o.text or "").strip()
            if o.kind in ("tag", "object") and label:
                out.append(
                    {
                        "t_start": float(c.t_start),
                        "t_end": float(c.t_end),
                        "kind": "closeup",
                        "text": label,
                    }
                )
    out = [dict(t) for t in {tuple(sorted(d.items())) for d in out}]
    out.sort(key=lambda d: (d["t_start"], d["text"]))
    store.put_json(record.video_id, "closeups", version, "labels", out)
    return out


# ------------------------------------------------------------------------------ the moments
@dataclass
class Moments:
    """Every observation of one video as plain dicts ``{t_start, t_end, kind, text}``, plus
    how many chunks each object/tag label was seen in (to tell scenery from moments)."""

    items: list[dict[str, Any]]
    label_chunks: dict[str, int]
    n_chunks: int


def video_moments(store: Any, record: Any, settings: Any) -> Moments:
    from vidsleuth.tools.perception.cache import stored_observations
    from vidsleuth.memory.indexer import chunk_plan_for
    from vidsleuth.tools.perception.registry import parse_names

    names = [n for n in parse_names(settings.perceivers)]
    if not record.probe.has_audio:
        names = [n for n in names if n != "speech"]
    items: list[dict[str, Any]] = []
    seen: dict[str, set[float]] = {}
    for o in stored_observations(store, record.video_id, names, settings):
        text = (o.text or o.label or "").strip()
        if not text:
            continue
        kind = "speech" if o.kind in ("speech", "subtitle") else o.kind
        item = {"t_start": float(o.t_start), "t_end": float(o.t_end), "kind": kind, "text": text}
        if kind in ("object", "tag") and o.score is not None:
            item["conf"] = float(o.score)
        items.append(item)
        if kind in ("object", "tag"):
            seen.setdefault(text.lower(), set()).add(round(float(o.t_start), 1))
    items += colour_flashes(store, record, settings)
    if "tags" in names:
        read = [(m["t_start"], m["t_end"]) for m in items if m["kind"] == "ocr"]
        for m in object_closeups(store, record, settings):
            if any(a < m["t_end"] and m["t_start"] < b for a, b in read):
                continue  # a framed caption is text (OCR read it), not an object
            items.append(m)
            seen.setdefault(m["text"].lower(), set()).add(round(float(m["t_start"]), 1))
    n_chunks = len(chunk_plan_for(record, settings).chunks)
    return Moments(items, {k: len(v) for k, v in seen.items()}, max(1, n_chunks))


_LOOKALIKE = str.maketrans("015", "ols")  # OCR confuses these digits and letters


def _fuzzy_in(word: str, pool: Sequence[str]) -> bool:
    if word in pool:
        return True
    if len(word) < 4:
        return False
    return any(difflib.SequenceMatcher(None, word, p).ratio() >= 0.8 for p in pool)


def text_share(query: str, text: str) -> float:
    """Share of the query's words found in ``text`` (OCR misreads tolerated)."""
    want = [w.translate(_LOOKALIKE) for w in words(query)]
    if not want:
        return 0.0
    pool = [w.translate(_LOOKALIKE) for w in words(text)]
    return sum(1 for w in want if _fuzzy_in(w, pool)) / len(want)


def locate(
    moments: Moments,
    description: str,
    similarity: Callable[[str, Sequence[str]], Sequence[float]] | None = None,
    *,
    min_share: float = 0.6,
) -> list[dict[str, Any]]:
    """Moments that show ``description``, each with a ``score`` in 0..1, earliest first."""
    q = parse_query(description)
    out: list[dict[str, Any]] = []
    if "colour" in q.kinds:
        out += [
            {**m, "score": 1.0}
            for m in moments.items
            if m["kind"] == "colour" and m["text"] == q.text
        ]
    for m in moments.items:
        kind = m["kind"]
        if kind in ("ocr", "speech") and kind in q.kinds:
            s = text_share(q.text, m["text"])
            if s >= min_share:
                out.append({**m, "score": round(s, 4)})
    if "object" in q.kinds:
        labels = sorted(
            lab for lab, n in moments.label_chunks.items() if n / moments.n_chunks <= SCENERY_SHARE
        )
        good: dict[str, float] = {}
        want = set(words(q.text))
        for lab in labels:
            if want and want & set(words(lab)):
                good[lab] = len(want & set(words(lab))) / len(want)
        close = dict(good)
        if similarity is not None and labels and q.text:
            for lab, sim in zip(labels, similarity(q.text, labels), strict=True):
                if sim >= LABEL_SIMILARITY:
                    good[lab] = max(good.get(lab, 0.0), float(sim))
                if sim >= CLOSEUP_SIMILARITY:
                    close[lab] = max(close.get(lab, 0.0), float(sim))
        for m in moments.items:
            lab = m["text"].lower()
            if m["kind"] == "closeup" and lab in close:
                # a deliberate close look at a framed or new region: strong evidence
                out.append({**m, "score": round(0.5 + 0.5 * close[lab], 4)})
            elif m["kind"] in ("object", "tag") and lab in good:
                # a whole-frame label counts as much as the detector was sure of it
                out.append({**m, "score": round(good[lab] * float(m.get("conf", 1.0)), 4)})
    out.sort(key=lambda m: (m["t_start"], -m["score"]))
    return out


def occurrences(hits: Sequence[dict[str, Any]], gap: float) -> list[dict[str, Any]]:
    """Hits merged into separate occurrences (hits closer than ``gap`` seconds are one)."""
    occ: list[dict[str, Any]] = []
    for h in sorted(hits, key=lambda h: h["t_start"]):
        if occ and h["t_start"] <= occ[-1]["t_end"] + gap:
            occ[-1]["t_end"] = max(occ[-1]["t_end"], h["t_end"])
            occ[-1]["score"] = max(occ[-1]["score"], h["score"])
        else:
            occ.append(dict(h))
    return occ


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
