"""Arithmetic on located moments: which option a count, an order or a time window singles out,
and how a computed answer votes beside the model's partial answers."""

from __future__ import annotations

import pytest

from vidsleuth.graphs.arithmetic import count_line, order_line, window_lines
from vidsleuth.graphs.evidence import located_arithmetic
from vidsleuth.graphs.routing import computed_answers, vote
from vidsleuth.settings import Settings


def _hit(t: float, kind: str = "speech", text: str = "hello there") -> dict:
    return {"t_start": t, "t_end": t + 2.0, "kind": kind, "text": text, "score": 0.8}


def test_a_count_names_the_option_that_states_it():
    hits = [_hit(10), _hit(12), _hit(500)]  # 10 and 12 are one occurrence
    line = count_line("hello", hits, gap=8.0, options=["1", "two", "3", "4"])
    assert line is not None and line["option"] == "B" and "2 separate" in line["text"]
    assert "option" not in count_line("hello", hits, 8.0, ["1", "3", "4", "5"])
    # options that are not all counts: the line informs, it does not answer
    assert "option" not in count_line("hello", hits, 8.0, ["2", "a dog", "3", "4"])


def test_a_time_window_answers_only_when_it_alone_holds_the_target():
    opts = ["00:00:00-00:01:00", "00:08:00-00:09:00", "00:20:00-00:21:00"]
    lines = window_lines("x", opts, [_hit(500), _hit(3000)], gap=8.0)
    assert [f.get("option") for f in lines] == ["B", None]  # 3000 s is inside no window
    two = window_lines("x", opts, [_hit(30), _hit(500)], gap=8.0)
    assert all("option" not in f for f in two)


def test_the_option_located_first_answers_and_a_tie_does_not():
    opts = ["cat", "dog", "owl"]
    line = order_line(opts, [[_hit(90)], [_hit(40)], []])
    assert line is not None and line["option"] == "B"
    assert order_line(opts, [[_hit(90)], [_hit(40)], []], latest=True)["option"] == "A"
    assert "option" not in order_line(opts, [[_hit(40)], [_hit(40)], []])


@pytest.mark.parametrize(
    ("kind", "expect"), [("how_often", "B"), ("how_many", None), ("what", None), ("other", None)]
)
def test_the_model_reading_decides_whether_a_count_answers(kind, expect):
    s = Settings(store="/x")
    reading = {"kind": kind, "target": "hello"}
    seen = [_hit(10, "object", "person"), _hit(99, "object", "person")]
    lines = located_arithmetic(reading, "q", ["1", "2", "3", "4"], seen, {}, s)
    assert [f.get("option") for f in lines if f.get("option")] == ([expect] if expect else [])


@pytest.mark.parametrize(("kind", "expect"), [("how_often", ["B"]), ("how_many", ["B"])])
def test_a_line_read_or_heard_is_counted_by_its_moments_however_asked(kind, expect):
    s = Settings(store="/x")
    heard = [_hit(10), _hit(99)]  # speech: "how many times is it said" read as how_many
    lines = located_arithmetic({"kind": kind, "target": "hi"}, "q", ["1", "2", "3"], heard, {}, s)
    assert [f.get("option") for f in lines if f.get("option")] == expect


def test_a_computed_answer_decides_and_the_model_only_says_how_far_it_agrees():
    computed = computed_answers([{**_hit(10), "option": "C", "basis": "speech"}, _hit(50)])
    assert len(computed) == 1 and computed[0]["source"] == "arithmetic"
    model = [
        {"answer": "A", "confidence": 0.9, "t_start": 10, "t_end": 12, "kind": "speech"},
        {"answer": "C", "confidence": 0.6, "t_start": 50, "t_end": 52, "kind": "speech"},
    ]
    win, support, f = vote(model, [], computed)
    assert win == "C" and {p.get("source") for p in support} == {"arithmetic", None}
    assert f.computed == 1.0 and f.exact == 1.0 and f.stated == pytest.approx(0.6)
    assert 0.0 < f.agreement < 0.5
    alone, _, g = vote([], [], computed)
    assert alone == "C" and g.agreement == 0.0 and g.stated == 0.0


def test_the_same_line_heard_by_two_tools_is_one_vote():
    """find_mentions and transcribe report the same speech with slightly different spans."""
    p = {"answer": "A", "confidence": 0.9, "kind": "speech"}
    twice = [{**p, "t_start": 271.2, "t_end": 273.6}, {**p, "t_start": 272.0, "t_end": 276.0}]
    other = [{"answer": "C", "confidence": 0.9, "t_start": 900, "t_end": 904, "kind": "speech"}]
    _, _, f = vote(twice + other, [])
    assert f.agreement == pytest.approx(0.5)


def test_the_only_line_found_word_for_word_answers_which_line_occurs():
    from vidsleuth.graphs.evidence import only_line_located

    opts = ["ever tried ever failed", "no matter try again", "fail better", "the end is near"]
    heard = _hit(271, "speech", "Ever tried. Ever failed.")
    line = only_line_located(opts, {0: [heard], 2: [_hit(900, "tag", "fail")]})
    assert line is not None and line["option"] == "A" and line["basis"] == "speech"
    # two lines found, a loose match, or only a label: no computed answer
    assert only_line_located(opts, {0: [heard], 3: [_hit(5, "ocr", "THE END IS NEAR")]}) is None
    assert only_line_located(opts, {1: [_hit(5, "speech", "try again later")]}) is None
    assert only_line_located(opts, {2: [_hit(5, "object", "fail better")]}) is None
    s = Settings(store="/x")
    for kind, expect in (("what", ["A"]), ("doing", ["A"]), ("how_often", [])):
        reading = {"kind": kind, "target": "a line", "options_are": "sentences"}
        lines = located_arithmetic(reading, "q", opts, None, {0: [heard]}, s)
        assert [f["option"] for f in lines if f.get("option")] == expect


def test_a_sighting_the_detector_was_unsure_of_is_neither_counted_nor_ordered():
    """A 'bird' label the detector was 7 % sure of placed an option first on real footage: such
    moments stay evidence for the model, but arithmetic counts only sure ones."""
    s = Settings(store="/nonexistent-never-opened")
    opts = ["two men in a bright room", "a bird on a branch", "a car"]
    weak = {**_hit(500, "object", "bird"), "score": 0.07}
    sure = {**_hit(900, "object", "car"), "score": 0.8}
    reading = {"kind": "which_first", "target": "x"}
    lines = located_arithmetic(reading, "q", opts, None, {1: [weak], 2: [sure]}, s)
    assert not computed_answers(lines)  # only one option is located for sure: no order
    strong = {**weak, "score": 0.6}
    lines = located_arithmetic(reading, "q", opts, None, {1: [strong], 2: [sure]}, s)
    assert [c["answer"] for c in computed_answers(lines)] == ["B"]
    counts = located_arithmetic(
        {"kind": "how_often", "target": "bird"}, "q", ["1", "2"], [weak, strong], {}, s
    )
    assert [c["answer"] for c in computed_answers(counts)] == ["A"]
    unscored = {k: v for k, v in _hit(100, "object", "bird").items() if k != "score"}  # plug-in
    counts = located_arithmetic(
        {"kind": "how_often", "target": "bird"}, "q", ["1", "2"], [unscored, strong], {}, s
    )
    assert [c["answer"] for c in computed_answers(counts)] == ["B"]
