"""The structured evidence locator: what to look for and in which kinds of observation, over one
video's moments (no store, no model)."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from vidsleuth.tools.evidence import (
    KINDS,
    Moments,
    locate,
    occurrences,
    text_share,
    video_moments,
)


def _moments() -> Moments:
    items: list[dict[str, Any]] = [
        {"t_start": 100.0, "t_end": 104.0, "kind": "ocr", "text": "BLUE F0X"},  # OCR misread
        {"t_start": 300.0, "t_end": 304.0, "kind": "ocr", "text": "BLUE FOX"},
        {"t_start": 200.0, "t_end": 203.5, "kind": "speech", "text": "It was the best of times"},
        {"t_start": 250.0, "t_end": 252.0, "kind": "subtitle", "text": "The blue fox runs"},
        {"t_start": 50.0, "t_end": 54.0, "kind": "object", "text": "cat", "conf": 0.8},
        {"t_start": 50.0, "t_end": 54.0, "kind": "tag", "text": "tabby cat"},
        {
            "t_start": 400.5,
            "t_end": 401.5,
            "kind": "colour",
            "text": "solid blue screen (cyan)",
            "colour": "blue",
            "shade": "cyan",
        },
        {
            "t_start": 590.5,
            "t_end": 592.5,
            "kind": "colour",
            "text": "solid black screen; fade to black",
            "colour": "black",
            "shade": "black",
        },
    ]
    # "daisy" is in every chunk: scenery, never a moment
    items += [
        {"t_start": float(t), "t_end": float(t + 4), "kind": "tag", "text": "daisy"}
        for t in range(0, 600, 4)
    ]
    return Moments(items, {"cat": 1, "tabby cat": 1, "daisy": 150}, 150)


def test_kinds_restrict_where_a_phrase_is_looked_for() -> None:
    m = _moments()
    anywhere = locate(m, "blue fox")
    assert {h["kind"] for h in anywhere} == {"ocr", "subtitle"}
    read = locate(m, "blue fox", ["ocr"])
    assert {h["kind"] for h in read} == {"ocr"} and len(read) == 2
    assert [h["kind"] for h in locate(m, "blue fox", ["speech", "subtitle"])] == ["subtitle"]
    assert locate(m, "blue fox", ["speech"]) == []
    assert locate(m, "best of times", ["speech"])[0]["t_start"] == 200.0
    assert locate(m, "blue fox", []) == anywhere  # empty = every kind
    with pytest.raises(ValueError, match="unknown kind"):
        locate(m, "blue fox", ["text"])


def test_hits_have_the_documented_shape_best_first() -> None:
    hits = locate(_moments(), "blue fox runs")
    assert all(set(h) == {"t_start", "t_end", "kind", "text", "score"} for h in hits)
    assert hits[0]["kind"] == "subtitle" and hits[0]["score"] == 1.0  # every word
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert set(KINDS) >= {"ocr", "speech", "subtitle", "object", "tag", "colour", "caption"}


def test_ocr_misreads_are_tolerated() -> None:
    hits = locate(_moments(), "BLUE FOX", ["ocr"])
    assert sorted(h["t_start"] for h in hits) == [100.0, 300.0]
    assert text_share("GATE 15 OPENS AT NOON", "GATE l5 0PENS AT NOON") == 1.0
    assert text_share("HARBOR", "HARB0UR") == 1.0  # one letter off in a long word
    assert text_share("CODE U4-34", "CODE U4-35") < 1.0  # a different number is not a misread
    assert locate(_moments(), "red owl", ["ocr"]) == []


def test_labels_match_by_words_or_similarity_and_scenery_is_skipped() -> None:
    m = _moments()
    assert locate(m, "daisy") == []  # a label in every chunk is not a moment
    hits = locate(m, "the cat", ["object", "tag"])
    assert {h["text"] for h in hits} == {"cat", "tabby cat"}
    assert next(h for h in hits if h["text"] == "cat")["score"] == 0.8  # the detector's conf
    assert locate(m, "the cat", ["ocr"]) == []

    def sim(query: str, labels: Sequence[str]) -> list[float]:
        return [0.7 if lab == "tabby cat" else 0.1 for lab in labels]

    kitten = locate(m, "kitten", ["tag"], sim)
    assert [(h["text"], h["score"]) for h in kitten] == [("tabby cat", 0.7)]
    assert locate(m, "kitten", ["tag"]) == []  # no shared word and no similarity given


def test_colour_events_match_their_colour_names() -> None:
    m = _moments()
    cyan = locate(m, "cyan", ["colour"])
    blue = locate(m, "blue", ["colour"])
    assert cyan[0]["score"] == 1.0 and blue[0]["score"] == 0.75  # the shade is the closer name
    assert locate(m, "aqua", ["colour"])[0]["t_start"] == 400.5  # a CSS alias of cyan
    assert locate(m, "red flash", ["colour"]) == []
    assert locate(m, "fade to black", ["colour"])[0]["t_start"] == 590.5
    assert locate(m, "fade", ["colour"])[0]["t_start"] == 590.5  # no colour named: the words
    # how a change of the whole frame is said is no extra word the event must hold
    assert locate(m, "the whole frame goes cyan", ["colour"])[0]["t_start"] == 400.5
    assert locate(m, "the screen turned blue", ["colour"])[0]["score"] == 0.75


def test_occurrences_merge_nearby_hits() -> None:
    hits = locate(_moments(), "BLUE FOX", ["ocr"])
    assert len(occurrences(hits, 10.0)) == 2
    assert len(occurrences(hits, 300.0)) == 1
    near = [
        {"t_start": 10.0, "t_end": 12.0, "score": 0.5},
        {"t_start": 15.0, "t_end": 16.0, "score": 0.9},
    ]
    (one,) = occurrences(near, 5.0)
    assert (one["t_start"], one["t_end"], one["score"]) == (10.0, 16.0, 0.9)


class _Store:
    """Just enough of the store for :func:`video_moments`: cached frames and JSON artifacts."""

    def __init__(self, frames: list[Any]) -> None:
        self._frames = frames
        self.json: dict[tuple[str, str, str, str], Any] = {}

    def frames(self, video_id: str, plan: str, t0: float = 0.0, t1: float = 1e18) -> list[Any]:
        return [f for f in self._frames if t0 <= f.t < t1]

    def get_json(self, video_id: str, producer: str, version: str, key: str) -> Any:
        return self.json.get((video_id, producer, version, key))

    def put_json(self, video_id: str, producer: str, version: str, key: str, value: Any) -> None:
        self.json[(video_id, producer, version, key)] = value

    def keys(self, video_id: str, producer: str, version: str) -> list[str]:
        return []


def test_video_moments_include_colour_events_from_cached_frames() -> None:
    from vidsleuth.settings import Settings

    rng = np.random.default_rng(0)
    frames = []
    for t in range(20):
        img = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
        if t in (7, 8):
            img[:] = (250, 5, 5)
        frames.append(SimpleNamespace(t=float(t), image=img))
    store = _Store(frames)
    record = SimpleNamespace(video_id="v1", probe=SimpleNamespace(duration_s=20.0, has_audio=False))
    settings = Settings(perceivers="ocr")
    m = video_moments(store, record, settings)
    colour = [i for i in m.items if i["kind"] == "colour"]
    assert [(c["t_start"], c["t_end"], c["colour"]) for c in colour] == [(6.5, 8.5, "red")]
    assert locate(m, "red", ["colour"])[0]["t_start"] == 6.5
    assert m.n_chunks == 5  # 4-s chunks
    store._frames = []  # cached: a second call reads no frame
    assert video_moments(store, record, settings).items == m.items
