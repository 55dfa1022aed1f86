"""The "locate-rules" baseline: multiple-choice answers by template parsing, evidence location
and arithmetic, with no model at all.

It reads the synthetic needle benchmark's own phrasings (:mod:`vidsleuth.evals.haystack`:
"When does the on-screen text 'X' appear?", "How many separate times ...", "Which of these
appears first ...", "the red colour flash") with regular expressions, looks each thing up with
the general locator (:func:`vidsleuth.tools.evidence.locate`) and decides by arithmetic on the
located moments: the window that holds the target, the count of separate occurrences, the
earliest option, the one option found.  When the evidence does not single an option out it
abstains (no answer, confidence 0).

It is fitted to our generator on purpose and lives here, never in the product: it is the
yardstick that shows how much of the synthetic benchmark is solvable by rules alone, so a
model-driven agent's number means something.  The generator-fitted perception it needs (close
looks at the framed inset picture and at chunks whose labels are new) is here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.evals.methods import MethodContext, _letters, _settings
from vidsleuth.evals.schema import Prediction, QARecord
from vidsleuth.tools.evidence import (
    LABEL_KINDS,
    Moments,
    label_scores,
    locate,
    occurrences,
    video_moments,
    words,
)
from vidsleuth.tools.perception.colour_events import canonical_colour

#: ``locate(query, kinds)``: the moments of the whole video showing ``query`` in those kinds
Locate = Callable[[str, Sequence[str]], list[dict[str, Any]]]

SPEECH_KINDS: tuple[str, ...] = ("speech", "subtitle")
#: what a description with no hint of how it shows is looked for in
ANY_KINDS: tuple[str, ...] = ("ocr", *SPEECH_KINDS, *LABEL_KINDS)

# ------------------------------------------------------------------------------ templates
_WINDOW = re.compile(r"^\s*(\d{1,2}(?::\d{2}){1,2})\s*[-–]\s*(\d{1,2}(?::\d{2}){1,2})\s*$")
_QUOTE = re.compile(r"['\"‘’“”].+?['\"‘’“”]")
_QUOTED = re.compile(r"['\"‘’“”](.+?)['\"‘’“”](?:\s|$|[?.,!])")
_TARGET = re.compile(
    r"(?:does|do|did|is|was|are|were)\s+(.+)\s+(?:appear|appears|occur|show|shown|"
    r"said|spoken|heard)\b",
    re.I,
)
#: occurrences closer than this (seconds) are one occurrence when counting
OCCURRENCE_GAP = 10.0
LETTERS = "ABCDEFGHIJ"


def _clock(text: str) -> float:
    t = 0
    for p in (int(p) for p in text.split(":")):
        t = t * 60 + p
    return float(t)


def parse_window(option: str) -> tuple[float, float] | None:
    """``"00:01:23-00:01:29"`` (or ``MM:SS-MM:SS``) -> (83.0, 89.0); None otherwise."""
    m = _WINDOW.match(option)
    return (_clock(m.group(1)), _clock(m.group(2))) if m else None


def question_target(question: str) -> str:
    """What a *when* / *how many times* question asks about: ``When does the red colour flash
    appear?`` -> ``the red colour flash``."""
    m = _TARGET.search(question)
    if m:
        return m.group(1).strip()
    q = _QUOTE.search(question)
    return q.group(0) if q else question


def question_kind(question: str) -> str:
    """How the asked-about things show, from the question's words: ``colour``, ``speech``,
    ``ocr``, ``object`` or ``""`` (any)."""
    q = question.lower()
    if "colour" in q or "color" in q:
        return "colour"
    if any(w in q for w in ("spoken", "said", "heard", "phrase", "say")):
        return "speech"
    if any(w in q for w in ("text", "written", "on screen", "on-screen", "sign", "caption")):
        return "ocr"
    if any(w in q for w in ("object", "animal", "thing", "item")):
        return "object"
    return ""


def parse_description(description: str) -> tuple[str, tuple[str, ...]]:
    """``(query, kinds)`` for a description such as ``the on-screen text 'BLUE FOX'``, ``the
    red colour flash``, ``the spoken phrase '...'`` or ``the cat``: the quoted part (when any)
    is the thing, the rest says how it shows (written, spoken, a colour, an object)."""
    d = description.strip()
    low = d.lower()
    m = _QUOTED.search(d + " ")
    thing = m.group(1) if m else d
    if "colour flash" in low or "color flash" in low or "flash" in low.split():
        colour = next((c for c in (canonical_colour(w) for w in words(low)) if c), None)
        if colour:
            return colour, ("colour",)
    if m and ("spoken" in low or "said" in low or "phrase" in low):
        return thing, SPEECH_KINDS
    if m and ("text" in low or "written" in low or "screen" in low):
        return thing, ("ocr",)
    if m:
        return thing, ("ocr", *SPEECH_KINDS)
    colour = canonical_colour(low.strip(" .?"))
    if colour:
        return colour, ("colour",)
    return " ".join(words(d)), ANY_KINDS


def described(option: str, kind: str) -> tuple[str, tuple[str, ...]]:
    """An option of a question about things of ``kind`` (:func:`question_kind`) as
    ``(query, kinds)``."""
    if kind == "colour":
        return option, ("colour",)
    if kind == "speech":
        return option, SPEECH_KINDS
    if kind == "ocr":
        return option, ("ocr",)
    return parse_description(option)


def _pick(
    i: int, conf: float, hits: Sequence[dict[str, Any]], why: str, *, cite_all: bool = False
) -> dict[str, Any]:
    h = hits[0] if hits else {"t_start": 0.0, "t_end": 0.0}
    cited = hits if cite_all else hits[:1]
    return {
        "answer": LETTERS[i],
        "confidence": round(conf, 4),
        "t_start": float(h["t_start"]),
        "t_end": float(h["t_end"]),
        "why": why,
        "source": "resolve",
        "hits": [[float(x["t_start"]), float(x["t_end"])] for x in cited],
    }


def resolve_choice(question: str, options: Sequence[str], locate: Locate) -> dict[str, Any] | None:
    """Answer a multiple-choice question from located evidence alone, when it is decisive.

    ``locate(query, kinds)`` returns the moments of the whole video showing ``query``.  Four
    forms are decided by arithmetic on those moments: options that are time windows (*when*:
    the window holding the target), numbers after "how many" (the count of separate
    occurrences), "which ... first" (the earliest located option) and otherwise "which of these"
    (the one option that is located, or one clearly best).  Returns ``{answer (a letter by
    option position), confidence, t_start, t_end, why, hits}`` or None when the evidence does
    not single one option out.
    """
    if not options:
        return None
    q = question.lower()
    windows = [parse_window(o) for o in options]
    if all(w is not None for w in windows):
        target = question_target(question)
        hits = locate(*parse_description(target))
        if not hits:
            return None
        best: list[tuple[float, int]] = []
        for i, w in enumerate(windows):
            assert w is not None
            ov = sum(max(0.0, min(w[1], h["t_end"]) - max(w[0], h["t_start"])) for h in hits)
            near = min(abs((w[0] + w[1]) / 2 - (h["t_start"] + h["t_end"]) / 2) for h in hits)
            best.append((ov - 1e-3 * near, i))
        best.sort(reverse=True)
        score, i = best[0]
        if score <= 0 and len(best) > 1 and best[1][0] == score:
            return None
        wa, wb = windows[i]  # type: ignore[misc]
        at = [h for h in hits if wa - 2 <= h["t_end"] and h["t_start"] <= wb + 2]
        conf = 0.9 if score > 0 else 0.5
        return _pick(i, conf, at or hits, f"{target} located in {options[i]}")
    if "how many" in q and all(o.strip().isdigit() for o in options):
        target = question_target(question)
        hits = locate(*parse_description(target))
        if not hits:
            return None
        occ = occurrences(hits, OCCURRENCE_GAP)
        n = str(len(occ))
        counts = [o.strip() for o in options]
        if n not in counts:
            return None
        i = counts.index(n)
        return _pick(i, 0.8, occ, f"{target} seen {n} separate time(s)", cite_all=True)
    kind = question_kind(question)
    located = [locate(*described(o, kind)) for o in options]
    found = [i for i, hs in enumerate(located) if hs]
    if not found:
        return None
    if "first" in q or "earliest" in q:
        i = min(found, key=lambda j: min(h["t_start"] for h in located[j]))
        early = sorted(located[i], key=lambda h: h["t_start"])
        return _pick(i, 0.85, early, f"{options[i]} is the earliest located")
    top = sorted(found, key=lambda j: -max(h["score"] for h in located[j]))
    s0 = max(h["score"] for h in located[top[0]])
    s1 = max(h["score"] for h in located[top[1]]) if len(top) > 1 else 0.0
    if s0 - s1 < 0.2:
        return None
    i = top[0]
    hs = sorted(located[i], key=lambda h: (-h["score"], h["t_start"]))
    why = f"{options[i]} located ({hs[0]['kind']}: {hs[0]['text'][:60]})"
    # The only option located anywhere in the video: decisive even when the match itself is a
    # near synonym (an embedding match scores ~0.6); otherwise the lead is the confidence.
    conf = 0.9 if len(found) == 1 else 0.9 * (s0 - s1)
    return _pick(i, conf, hs, why)


# ------------------------------------------------------------------------------ close looks
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
    straight runs of near-white pixels on two rows and two columns), or None.  The generator
    frames its inserted object pictures so."""
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
    """Labels (kind ``closeup``) of close-up crops: the framed inset of any chunk, and the
    :data:`CROPS` of chunks whose whole-frame labels are new (see :func:`novel_chunks`); a small
    inserted object is named by the classifier only when it fills the picture.  Cached per video
    under producer ``closeups``."""
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
        boxes = [box] if box else []
        boxes += [
            (int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))
            for x0, y0, x1, y1 in (CROPS if float(c.t_start) in novel else ())
        ]
        crops = [
            Frame(t=frames[0].t, image=img[b[1] : b[3], b[0] : b[2]], key=False) for b in boxes
        ]
        obs: list[Observation] = []
        for p in (tags, objects):
            obs += p.perceive_frames(crops)
        for o in obs:
            label = (o.label or o.text or "").strip()
            if o.kind in LABEL_KINDS and label:
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


def rule_moments(store: Any, record: Any, settings: Any) -> Moments:
    """The video's moments (:func:`~vidsleuth.tools.evidence.video_moments`) plus the close-up
    labels of :func:`object_closeups` (when the tag perceiver ran); a close-up where OCR read
    text is a framed caption, not an object, and is left out."""
    from vidsleuth.tools.perception.registry import parse_names

    moments = video_moments(store, record, settings)
    if "tags" not in parse_names(settings.perceivers):
        return moments
    items = list(moments.items)
    read = [(m["t_start"], m["t_end"]) for m in items if m["kind"] == "ocr"]
    items += [
        m
        for m in object_closeups(store, record, settings)
        if not any(a < m["t_end"] and m["t_start"] < b for a, b in read)
    ]
    times: dict[str, set[float]] = {}  # chunks each label was seen in, whole frame or close up
    for m in items:
        if m["kind"] in (*LABEL_KINDS, "closeup"):
            times.setdefault(m["text"].lower(), set()).add(round(float(m["t_start"]), 1))
    return Moments(items, {lab: len(ts) for lab, ts in times.items()}, moments.n_chunks)


def rule_locator(moments: Moments, similarity: Any = None) -> Locate:
    """``locate(query, kinds)`` over ``moments``: the general locator, plus close-up labels
    (scored 0.5 + half the label's match: a deliberate close look is strong evidence) whenever
    object or tag labels are asked for."""

    def find(query: str, kinds: Sequence[str]) -> list[dict[str, Any]]:
        hits = locate(moments, query, kinds, similarity)
        if set(kinds) & set(LABEL_KINDS):
            good = label_scores(moments, query, similarity)
            hits += [
                {
                    "t_start": float(m["t_start"]),
                    "t_end": float(m["t_end"]),
                    "kind": "closeup",
                    "text": m["text"],
                    "score": round(0.5 + 0.5 * good[m["text"].lower()], 4),
                }
                for m in moments.items
                if m["kind"] == "closeup" and m["text"].lower() in good
            ]
            hits.sort(key=lambda h: (-h["score"], h["t_start"]))
        return hits

    return find


# ------------------------------------------------------------------------------ the method
@dataclass
class LocateRules:
    """The rules baseline as an evaluation method: index the video (frames, coarse perception),
    build its moments once, answer each question with :func:`resolve_choice`.  No model call."""

    settings: Any
    name: str = "locate-rules"
    needs_video: bool = True
    _store: Any = None
    _similarity: Any = None
    _moments: dict[str, Moments] = field(default_factory=dict)

    def _video(self, video_path: Path) -> Moments:
        from vidsleuth.agent.indexing import prepare_video
        from vidsleuth.memory.store import Store

        key = str(video_path)
        if key not in self._moments:
            if self._store is None:
                self._store = Store.open(self.settings.store)
            info = prepare_video(self._store, video_path, self.settings, None)
            rec = self._store.video(info["video_id"])
            self._moments[key] = rule_moments(self._store, rec, self.settings)
        return self._moments[key]

    def _sim(self) -> Any:
        """Label similarity with the configured text embedder (None when it cannot load: label
        words alone then)."""
        if self._similarity is None:
            from vidsleuth.tools.evidence import embedding_similarity
            from vidsleuth.tools.models.factory import load_text_embedder

            try:
                self._similarity = embedding_similarity(load_text_embedder(self.settings))
            except Exception:  # no embedder installed: match label words only
                self._similarity = False
        return self._similarity or None

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction:
        assert video_path is not None
        t0 = time.perf_counter()
        moments = self._video(video_path)
        letters, texts = _letters(record)
        got = resolve_choice(record.question, texts, rule_locator(moments, self._sim()))
        cost = {"frames_decoded": 0, "model_calls": 0, "tokens": 0}
        if got is None:
            return Prediction(
                answer=None,
                confidence=0.0,
                stop_reason="locate_rules",
                cost={**cost, "seconds": round(time.perf_counter() - t0, 3)},
                trace=[{"node": "locate_rules", "resolve": "undecided"}],
                answered_by="none",
            )
        i = LETTERS.index(got["answer"])
        return Prediction(
            answer=letters[i],
            confidence=float(got["confidence"]),
            evidence=[(float(a), float(b)) for a, b in got["hits"]],
            stop_reason="locate_rules",
            cost={**cost, "seconds": round(time.perf_counter() - t0, 3)},
            trace=[{"node": "locate_rules", "resolve": got["answer"], "why": got["why"]}],
            answered_by="rule",
        )


def make_locate_rules(context: MethodContext) -> LocateRules:
    return LocateRules(_settings(context))
