"""The shared core helpers: one tokeniser, one span merge, one artifact-version hash."""

from __future__ import annotations

from vidsleuth.spans import group_spans, merge_spans
from vidsleuth.text import tokens, words
from vidsleuth.versions import version_of


def test_tokens_are_lower_case_alphanumeric_runs() -> None:
    assert tokens("Exit M3-94, gate 7: Café!") == ["exit", "m3", "94", "gate", "7", "caf"]
    assert tokens("") == []


def test_words_filter_length_numbers_and_stop_words() -> None:
    text = "The 7 red cars at gate 12"
    assert words(text) == {"the", "7", "red", "cars", "at", "gate", "12"}
    assert words(text, min_len=3) == {"the", "red", "cars", "gate"}
    assert words(text, min_len=3, keep_numbers=True) == {"the", "red", "cars", "gate", "7", "12"}
    assert words(text, min_len=2, stop={"the", "at"}) == {"red", "cars", "gate", "12"}


def test_merge_spans_joins_touching_and_close_spans() -> None:
    assert merge_spans([(5, 6), (0, 1), (1, 2)]) == [(0.0, 2.0), (5.0, 6.0)]
    assert merge_spans([(0, 1), (3, 4)], gap=2.5) == [(0.0, 4.0)]
    assert merge_spans([(0, 10), (2, 3)]) == [(0.0, 10.0)]  # a span inside another
    assert merge_spans([(4, 2)]) == [(2.0, 4.0)]  # a reversed span counts forwards
    assert merge_spans([]) == []


def test_merge_spans_longest_caps_a_run() -> None:
    regions = [(0, 20), (21, 40), (41, 70), (71, 80)]
    assert merge_spans(regions, gap=1.0, longest=60.0) == [(0.0, 40.0), (41.0, 80.0)]
    assert merge_spans([(0, 70), (5, 10)], longest=60.0) == [(0.0, 70.0)]  # inside: no stretch


def test_group_spans_keeps_the_items() -> None:
    hits = [
        {"t_start": 10.0, "t_end": 11.0, "score": 0.2},
        {"t_start": 0.0, "t_end": 1.0, "score": 0.9},
        {"t_start": 11.5, "t_end": 12.0, "score": 0.7},
    ]
    groups = group_spans(hits, lambda h: (h["t_start"], h["t_end"]), gap=1.0)
    assert [[h["score"] for h in g] for g in groups] == [[0.9], [0.2, 0.7]]


def test_version_of_is_stable_and_order_free() -> None:
    assert version_of(model="a", fps=1.0) == version_of(fps=1.0, model="a")
    assert version_of(model="a", fps=1.0) != version_of(model="a", fps=2.0)
    assert len(version_of()) == 12
