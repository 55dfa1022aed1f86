"""Needle and real-clips haystack questions: exact answers and spans, deterministic by seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vidsleuth.evals.haystack import build_questions
from vidsleuth.evals.real_haystack import CLIPS, build
from vidsleuth.evals.real_haystack import build_questions as clip_questions
from vidsleuth.evals.registry import get_task
from vidsleuth.evals.runner import RunOptions, read_results, run
from vidsleuth.evals.timecodes import format_clock

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"

NEEDLES = {
    "duration_s": 600.0,
    "seed": 7,
    "needles": [
        {"id": "n1", "kind": "text", "t_start": 100.0, "t_end": 105.0, "value": "BLUE FOX 12"},
        {"id": "n2", "kind": "flash", "t_start": 40.0, "t_end": 41.5, "value": "red"},
        {"id": "n3", "kind": "object", "t_start": 300.0, "t_end": 306.0, "value": "rocket"},
        {"id": "n4", "kind": "text", "t_start": 400.0, "t_end": 404.0, "value": "BLUE FOX 12"},
        {
            "id": "n5",
            "kind": "speech",
            "t_start": 500.0,
            "t_end": 503.0,
            "value": "the spare key is under the pot",
        },
    ],
    "distractors": {
        "text": ["RED OWL 3", "CODE M5-41", "NORTH COMET 21", "AMBER 9"],
        "flash": ["green", "blue", "yellow"],
        "object": ["cat", "coffee cup", "horse", "clock"],
        "speech": ["dinner is at eight", "turn left", "bring a map"],
    },
}


def by_id(records):
    return {r.uid.split(":", 1)[1]: r for r in records}


def test_needle_questions_exact_and_deterministic() -> None:
    qs = build_questions(NEEDLES, "hay", seed=7)
    assert [q.uid for q in qs] == [q.uid for q in build_questions(NEEDLES, "hay", seed=7)]
    assert [q.options for q in qs] == [q.options for q in build_questions(NEEDLES, "hay", seed=7)]
    assert all(len(q.options) == 4 and q.answer in q.options for q in qs)
    assert all(len(set(q.options.values())) == 4 for q in qs)
    q = by_id(qs)
    what = q["n2:what"]
    assert what.options[what.answer] == "red" and what.reference_spans == [(40.0, 41.5)]
    assert set(what.options.values()) - {"red"} <= set(NEEDLES["distractors"]["flash"])
    when = q["n3:when"]
    assert when.options[when.answer] == f"{format_clock(300)}-{format_clock(306)}"
    count = q["n1:count"]  # the text appears twice
    assert count.options[count.answer] == "2"
    assert count.reference_spans == [(100.0, 105.0), (400.0, 404.0)]
    assert "n1:when" not in q  # a value shown twice has no single "when"
    order = q["n2:order"]
    assert order.options[order.answer] == "the red colour flash"
    assert order.reference_spans == [(40.0, 41.5)]
    assert Counter(c for r in qs for c in r.categories[:1]) == {
        "what": 4,
        "when": 3,
        "count": 4,
        "order": 1,
    }
    other_seed = build_questions(NEEDLES, "hay", seed=8)
    assert [r.options for r in other_seed] != [r.options for r in qs]


def test_generated_video_end_to_end(tmp_path: Path) -> None:
    """Generate a 0.3-minute video, load it through the task, answer with `random`, report."""
    from vidsleuth.evals.synth.generator import generate

    data = generate(
        tmp_path / "tiny.mp4", minutes=0.3, seed=5, kinds=["text", "flash"], progress=False
    )
    task = get_task("needle_haystack")
    res = task.load(tmp_path)
    assert not res.problems and res.records
    assert all(r.video_path == tmp_path / "tiny.mp4" for r in res.records)
    spans = {(n["t_start"], n["t_end"]) for n in data["needles"]}
    assert all(set(r.reference_spans) <= spans for r in res.records)
    out = tmp_path / "out"
    run(task, RunOptions(task=task.name, data=tmp_path, method="random", out=out))
    assert len(read_results(out / "results.jsonl")) == len(res.records)
    assert (out / "report.md").is_file()


def test_real_clip_questions_from_manifest() -> None:
    manifest = {
        "duration_s": 300.0,
        "seed": 1,
        "clips": [
            {"file": "bikes.mp4", "t_start": 20.0, "t_end": 30.0},
            {"file": "airplane.mp4", "t_start": 100.0, "t_end": 111.3},
        ],
    }
    qs = {q.uid: q for q in clip_questions(manifest, "real")}
    car = qs["real:bikes.mp4:what0"]
    assert car.options[car.answer] == "a red car" and car.reference_spans == [(20.0, 30.0)]
    when = qs["real:airplane.mp4:when"]
    assert when.options[when.answer] == f"{format_clock(100)}-{format_clock(111.3)}"
    assert len(set(when.options.values())) == 4


@pytest.mark.skipif(not (VIDEOS / "bikes.mp4").is_file(), reason="../shared/data/videos absent")
def test_real_clips_spliced_at_recorded_offsets(tmp_path: Path) -> None:
    import av

    clips = tuple(c for c in CLIPS if c.file in ("bikes.mp4", "carphone.mp4"))
    manifest = build(
        VIDEOS, tmp_path / "hay.mp4", minutes=0.5, seed=2, fps=5, width=320, height=180, clips=clips
    )
    assert {c["file"] for c in manifest["clips"]} == {"bikes.mp4", "carphone.mp4"}
    with av.open(str(tmp_path / "hay.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 150
    bikes = next(c for c in manifest["clips"] if c["file"] == "bikes.mp4")
    mid = frames[int((bikes["t_start"] + bikes["t_end"]) / 2 * 5)]
    before = frames[int(bikes["t_start"] * 5) - 1]
    # Inside the clip the picture is the road (letterboxed: black bars top and bottom), outside
    # it is the filler gradient, which has no black rows.
    assert mid[:20].max() < 30 and before[:20].max() > 30
    res = get_task("real_haystack").load(tmp_path / "hay.json")
    assert not res.problems and len(res.records) == 4
