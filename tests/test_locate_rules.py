"""The locate-rules baseline: template parsing, the option resolver over located moments, the
generator-fitted close looks (fast), and the method end to end on a generated video (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsleuth.evals.locate_rules import (
    framed_box,
    novel_chunks,
    parse_description,
    parse_window,
    question_kind,
    question_target,
    resolve_choice,
    rule_locator,
)
from vidsleuth.tools.evidence import Moments


def _moments() -> Moments:
    items = [
        {"t_start": 100.0, "t_end": 104.0, "kind": "ocr", "text": "BLUE F0X"},  # OCR misread
        {"t_start": 300.0, "t_end": 304.0, "kind": "ocr", "text": "BLUE FOX"},
        {"t_start": 200.0, "t_end": 203.5, "kind": "speech", "text": "It was the best of times"},
        {
            "t_start": 400.5,
            "t_end": 401.5,
            "kind": "colour",
            "text": "solid red screen",
            "colour": "red",
            "shade": "red",
        },
        {
            "t_start": 500.5,
            "t_end": 501.5,
            "kind": "colour",
            "text": "solid blue screen (cyan)",
            "colour": "blue",
            "shade": "cyan",
        },
        {"t_start": 50.0, "t_end": 54.0, "kind": "object", "text": "cat"},
        {"t_start": 50.0, "t_end": 54.0, "kind": "tag", "text": "tabby cat"},
        {"t_start": 60.0, "t_end": 64.0, "kind": "closeup", "text": "rocket"},
    ]
    # "daisy" is in every chunk: scenery, never a moment
    items += [
        {"t_start": float(t), "t_end": float(t + 4), "kind": "tag", "text": "daisy"}
        for t in range(0, 600, 4)
    ]
    return Moments(items, {"cat": 1, "tabby cat": 1, "daisy": 150, "rocket": 1}, 150)


LOCATE = rule_locator(_moments())


def test_descriptions_are_read_as_query_and_kinds() -> None:
    assert parse_description("the on-screen text 'BLUE FOX'") == ("BLUE FOX", ("ocr",))
    assert parse_description("the spoken phrase 'best of times'") == (
        "best of times",
        ("speech", "subtitle"),
    )
    assert parse_description("the red colour flash") == ("red", ("colour",))
    assert parse_description("the magenta colour flash") == ("magenta", ("colour",))
    assert parse_description("red") == ("red", ("colour",))
    query, kinds = parse_description("the cat")
    assert query == "cat" and {"object", "tag", "ocr"} <= set(kinds)


def test_resolver_answers_each_question_form() -> None:
    what = resolve_choice("Which colour flashes?", ["green", "red", "blue", "white"], LOCATE)
    assert what is not None and what["answer"] == "B"
    assert what["t_start"] == 400.5
    # a cyan screen is "blue" too, but its shade names it closer
    cyan = resolve_choice("Which colour flashes?", ["blue", "cyan", "yellow", "white"], LOCATE)
    assert cyan is not None and cyan["answer"] == "B" and cyan["t_start"] == 500.5
    when = resolve_choice(
        "When does the spoken phrase 'best of times' appear?",
        ["00:00:10-00:00:14", "00:05:00-00:05:04", "00:03:19-00:03:23", "00:08:00-00:08:04"],
        LOCATE,
    )
    assert when is not None and when["answer"] == "C"
    count = resolve_choice(
        "How many separate times does the on-screen text 'BLUE FOX' appear?",
        ["1", "3", "2", "4"],
        LOCATE,
    )
    assert count is not None and count["answer"] == "C"
    assert count["hits"] == [[100.0, 104.0], [300.0, 304.0]]  # both occurrences cited
    first = resolve_choice(
        "Which of these appears first in the video?",
        ["the red colour flash", "the spoken phrase 'best of times'", "the cat", "the horse"],
        LOCATE,
    )
    assert first is not None and first["answer"] == "C"
    # nothing located: undecided
    assert resolve_choice("Which object?", ["horse", "clock", "coins", "astronaut"], LOCATE) is None


def test_a_close_look_finds_a_small_object() -> None:
    got = resolve_choice(
        "Which of these objects appears in the video at some point?",
        ["horse", "rocket", "clock", "coins"],
        LOCATE,
    )
    assert got is not None and got["answer"] == "B" and got["t_start"] == 60.0


def test_question_kind_restricts_what_options_are_matched_against() -> None:
    # "lantern" is an ImageNet label word, but the question asks about on-screen text
    moments = Moments(
        [
            {"t_start": 10.0, "t_end": 14.0, "kind": "tag", "text": "jack-o'-lantern"},
            {"t_start": 30.0, "t_end": 34.0, "kind": "ocr", "text": "TUNNEL 86 OPENS AT TEN"},
        ],
        {"jack-o'-lantern": 1},
        150,
    )
    q = "Which of these texts is shown on screen at some point in the video?"
    assert question_kind(q) == "ocr"
    assert question_kind("The screen briefly flashes a solid colour. Which colour?") == "colour"
    got = resolve_choice(
        q,
        ["GOLDEN LANTERN 59", "TUNNEL 86 OPENS AT TEN", "CODE U4-34", "CODE G6-18"],
        rule_locator(moments),
    )
    assert got is not None and got["answer"] == "B" and got["t_start"] == 30.0


def test_window_and_target_parsing() -> None:
    assert parse_window("00:01:23-00:01:29") == (83.0, 89.0)
    assert parse_window("12:05-12:09") == (725.0, 729.0)
    assert parse_window("red") is None
    assert question_target("When does the red colour flash appear?") == "the red colour flash"


def test_framed_inset_and_new_labels() -> None:
    img = np.full((180, 320, 3), 90, np.uint8)
    img[40:121, 100:201] = 255  # a white border ...
    img[43:118, 103:198] = 30  # ... around a picture
    box = framed_box(img)
    assert box is not None and np.allclose(box, (103, 43, 198, 118), atol=3)
    assert framed_box(np.full((180, 320, 3), 90, np.uint8)) is None
    scene = {"sand", "sea"}
    tags = [(float(4 * i), set(scene)) for i in range(12)]
    tags[6] = (24.0, scene | {"cat", "tabby"})
    assert novel_chunks(tags) == [24.0]


def test_locate_rules_method_is_registered() -> None:
    from vidsleuth.evals.methods import MethodContext, build_method, method_names
    from vidsleuth.settings import Settings

    assert "locate-rules" in method_names()
    method = build_method(
        "locate-rules", MethodContext(task="needle_haystack", settings=Settings())
    )
    assert method.name == "locate-rules" and method.needs_video


def test_the_method_answers_by_rule_or_abstains() -> None:
    from vidsleuth.evals.locate_rules import LocateRules
    from vidsleuth.evals.methods import MethodContext
    from vidsleuth.evals.schema import QARecord
    from vidsleuth.settings import Settings

    method = LocateRules(Settings())
    method._moments["v.mp4"] = _moments()  # as if the video were indexed
    method._similarity = False  # no embedder: label words only
    ctx = MethodContext(task="needle_haystack")
    flash = QARecord(
        uid="q1",
        video_key="v",
        question="The screen briefly flashes a solid colour. Which colour?",
        options={"A": "green", "B": "white", "C": "red", "D": "yellow"},
        answer="C",
    )
    pred = method(flash, Path("v.mp4"), ctx)
    assert (pred.answer, pred.answered_by, pred.stop_reason) == ("C", "rule", "locate_rules")
    assert pred.evidence == [(400.5, 401.5)] and pred.cost["model_calls"] == 0
    unknown = QARecord(
        uid="q2",
        video_key="v",
        question="Which of these objects appears in the video at some point?",
        options={"A": "horse", "B": "clock", "C": "coins", "D": "astronaut"},
        answer="A",
    )
    pred = method(unknown, Path("v.mp4"), ctx)
    assert (pred.answer, pred.confidence, pred.answered_by) == (None, 0.0, "none")


@pytest.mark.slow
def test_locate_rules_answers_generated_needles_end_to_end(tmp_path: Path) -> None:
    """Generate a 2-minute video with a colour flash and on-screen text, index it with the
    default frame perceivers and answer every question with no model: each answered question
    must be right and cite the needle's true span, and the *what* questions must be answered."""
    from vidsleuth.evals.haystack import build_questions
    from vidsleuth.evals.locate_rules import LocateRules
    from vidsleuth.evals.methods import MethodContext
    from vidsleuth.evals.synth.generator import generate
    from vidsleuth.evals.synth.schema import load_needles
    from vidsleuth.settings import Settings

    cfg = Settings(store=tmp_path / "store", perceivers="ocr,objects,tags")
    video = tmp_path / "needles.mp4"
    generate(video, minutes=2, seed=5, kinds="flash,text", fps=10, progress=False)
    manifest = load_needles(video.with_suffix(".json")).model_dump()
    qs = build_questions(manifest, "needles", seed=5)
    assert qs
    method = LocateRules(cfg)
    ctx = MethodContext(task="needle_haystack", settings=cfg)
    for q in qs:
        pred = method(q, video, ctx)
        assert pred.cost["model_calls"] == 0 and pred.stop_reason == "locate_rules"
        assert pred.answered_by == ("rule" if pred.answer else "none")
        if q.categories[0] == "what":
            assert pred.answer is not None, q.question
        if pred.answer is None:
            continue
        assert pred.answer == q.answer, (q.question, q.options, pred.trace)
        assert any(a <= r[1] and r[0] <= b for a, b in pred.evidence for r in q.reference_spans)
