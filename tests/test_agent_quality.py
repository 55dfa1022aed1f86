"""Evidence location and the option resolver (fast), and the agent end to end on a generated
video with the real embedded models (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsleuth.graphs.routing import (
    parse_window,
    question_kind,
    question_target,
    resolve_choice,
)
from vidsleuth.tools.evidence import Moments, frame_colour, locate, occurrences, parse_query


def _moments() -> Moments:
    items = [
        {"t_start": 100.0, "t_end": 104.0, "kind": "ocr", "text": "BLUE F0X"},  # OCR misread
        {"t_start": 300.0, "t_end": 304.0, "kind": "ocr", "text": "BLUE FOX"},
        {"t_start": 200.0, "t_end": 203.5, "kind": "speech", "text": "It was the best of times"},
        {"t_start": 400.5, "t_end": 401.5, "kind": "colour", "text": "red"},
        {"t_start": 50.0, "t_end": 54.0, "kind": "object", "text": "cat"},
        {"t_start": 50.0, "t_end": 54.0, "kind": "tag", "text": "tabby cat"},
    ]
    # "daisy" is in every chunk: scenery, never a moment
    items += [
        {"t_start": float(t), "t_end": float(t + 4), "kind": "tag", "text": "daisy"}
        for t in range(0, 600, 4)
    ]
    return Moments(items, {"cat": 1, "tabby cat": 1, "daisy": 150}, 150)


def _locate(description: str) -> list[dict]:
    return locate(_moments(), description)


def test_frame_colour_names_uniform_frames_only() -> None:
    red = np.zeros((90, 160, 3), np.uint8)
    red[..., 0] = 250
    assert frame_colour(red)[0] == "red"  # type: ignore[index]
    noisy = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    assert frame_colour(noisy) is None


def test_parse_query_reads_how_a_thing_shows() -> None:
    assert parse_query("the on-screen text 'BLUE FOX'").kinds == ("ocr",)
    assert parse_query("the on-screen text 'BLUE FOX'").text == "BLUE FOX"
    assert parse_query("the spoken phrase 'best of times'").kinds == ("speech",)
    assert parse_query("the red colour flash") == parse_query("red")
    assert parse_query("the red colour flash").kinds == ("colour",)
    assert "object" in parse_query("the cat").kinds


def test_locate_tolerates_ocr_misreads_and_skips_scenery() -> None:
    hits = _locate("the on-screen text 'BLUE FOX'")
    assert [h["t_start"] for h in hits] == [100.0, 300.0]
    assert _locate("daisy") == []  # a label in every chunk is not a moment
    assert {h["text"] for h in _locate("cat")} == {"cat", "tabby cat"}
    assert len(occurrences(hits, 10.0)) == 2


def test_resolver_answers_each_question_form() -> None:
    what = resolve_choice("Which colour flashes?", ["green", "red", "blue", "white"], _locate)
    assert what is not None and what["answer"] == "B"
    assert what["t_start"] == 400.5
    when = resolve_choice(
        "When does the spoken phrase 'best of times' appear?",
        ["00:00:10-00:00:14", "00:05:00-00:05:04", "00:03:19-00:03:23", "00:08:00-00:08:04"],
        _locate,
    )
    assert when is not None and when["answer"] == "C"
    count = resolve_choice(
        "How many separate times does the on-screen text 'BLUE FOX' appear?",
        ["1", "3", "2", "4"],
        _locate,
    )
    assert count is not None and count["answer"] == "C"
    first = resolve_choice(
        "Which of these appears first in the video?",
        ["the red colour flash", "the spoken phrase 'best of times'", "the cat", "the horse"],
        _locate,
    )
    assert first is not None and first["answer"] == "C"
    # nothing located: undecided, the model is asked instead
    assert resolve_choice("Which object?", ["horse", "clock", "rocket", "coins"], _locate) is None


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
        lambda d: locate(moments, d),
    )
    assert got is not None and got["answer"] == "B" and got["t_start"] == 30.0


def test_window_and_target_parsing() -> None:
    assert parse_window("00:01:23-00:01:29") == (83.0, 89.0)
    assert parse_window("12:05-12:09") == (725.0, 729.0)
    assert parse_window("red") is None
    assert question_target("When does the red colour flash appear?") == "the red colour flash"


@pytest.mark.slow
def test_agent_answers_generated_needles_end_to_end(tmp_path: Path) -> None:
    """Generate a 2-minute video with a colour flash and on-screen text, index it with the
    default perceivers and answer with the embedded CPU models; every answer must be right and
    cite the needle's true span."""
    from vidsleuth.settings import Settings
    from vidsleuth.agent.session import VideoAgent
    from vidsleuth.evals.haystack import build_questions
    from vidsleuth.evals.synth.generator import generate
    from vidsleuth.evals.synth.schema import load_needles

    try:
        from vidsleuth.tools.models.factory import load_chat_model

        cfg = Settings(store=tmp_path / "store", perceivers="ocr,objects,tags")
        chat = load_chat_model(cfg)
    except Exception as err:  # the embedded model packages are not installed
        pytest.skip(f"embedded chat model unavailable: {err}")
    video = tmp_path / "needles.mp4"
    generate(video, minutes=2, seed=5, kinds="flash,text", fps=10, progress=False)
    manifest = load_needles(video.with_suffix(".json")).model_dump()
    qs = [q for q in build_questions(manifest, "needles", seed=5) if q.categories[0] == "what"]
    assert qs
    with VideoAgent(cfg, chat=chat) as agent:
        for q in qs:
            letters = list(q.options)
            ans = agent.ask(video, q.question, [q.options[x] for x in letters])
            assert letters["ABCD".index(ans.answer)] == q.answer, (q.question, ans.trace)
            ref = q.reference_spans[0]
            assert any(e.t_start <= ref[1] and ref[0] <= e.t_end for e in ans.evidence)
            assert ans.cost["model_calls"] == 0  # the located evidence decided it


def test_agent_and_single_pass_methods_are_registered() -> None:
    from vidsleuth.settings import Settings
    from vidsleuth.evals.methods import MethodContext, build_method, method_names

    assert {"agent", "single-pass"} <= set(method_names())
    ctx = MethodContext(task="needle_haystack", settings=Settings(), options={"frames": 8})
    agent = build_method("agent", ctx)
    single = build_method("single-pass", ctx)
    assert (agent.name, single.name) == ("agent", "single-pass")
    assert single.frames == 8 and agent.needs_video and single.needs_video  # type: ignore[attr-defined]
