"""Needle and real-clips haystack questions: exact answers and spans, deterministic by seed;
the reworded needle questions; the real-clips catalogue and a short build on the shared clips."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from vidsleuth.errors import ConfigError, VideoError
from vidsleuth.evals.haystack import ALT_SUFFIX, build_questions
from vidsleuth.evals.real_haystack import (
    CLIPS,
    FACT_KINDS,
    QUESTION_KINDS,
    build,
    missing_source_message,
    question_counts,
)
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
    both = task.load(tmp_path, wording="both").records
    assert len(both) == 2 * len(res.records)
    assert [r.uid for r in both[::2]] == [r.uid for r in res.records]
    assert all(r.uid.endswith(ALT_SUFFIX) for r in both[1::2])
    with pytest.raises(ConfigError, match="wording"):
        task.load(tmp_path, wording="reworded")
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
    car = qs["real:bikes.mp4:what0"]  # the red car passes in the clip's first 1.2 s
    assert car.options[car.answer] == "a red car" and car.reference_spans == [(20.0, 21.2)]
    when = qs["real:airplane.mp4:when"]
    assert when.options[when.answer] == f"{format_clock(100)}-{format_clock(111.3)}"
    assert len(set(when.options.values())) == 4
    close = qs["real:airplane.mp4:when1"]  # a moment inside the clip: seconds 0-3.4 of it
    assert close.reference_spans == [(100.0, 103.4)]
    assert close.options[close.answer] == f"{format_clock(100)}-{format_clock(103.4)}"
    assert not any(q.categories == ["order"] and ":order:" in q.uid for q in qs.values())


WORDING_KEY_PHRASES = ("appear", "colour flash", "on-screen text", "spoken phrase")


def test_reworded_needle_questions_keep_options_and_answers() -> None:
    orig = build_questions(NEEDLES, "hay", seed=7)
    alt = build_questions(NEEDLES, "hay", seed=7, wording="alt")
    both = build_questions(NEEDLES, "hay", seed=7, wording="both")
    assert [q.uid for q in both] == [u for q in orig for u in (q.uid, q.uid + ALT_SUFFIX)]
    assert [q.uid for q in alt] == [q.uid + ALT_SUFFIX for q in orig]
    # The original wording alone keeps its historic categories; with a rewording each record
    # also says its wording, so the report scores the two side by side.
    assert all(len(o.categories) == 2 for o in orig)
    assert [q.categories[2] for q in both] == ["wording:orig", "wording:alt"] * len(orig)
    for o, a in zip(orig, alt, strict=True):
        assert (a.options, a.answer, a.reference_spans) == (o.options, o.answer, o.reference_spans)
        assert a.categories[:2] == o.categories[:2]
        assert (o.meta["wording"], a.meta["wording"]) == ("orig", "alt")
        assert o.meta["pair"] == a.meta["pair"] == o.uid
        assert a.question != o.question
        low = a.question.lower()
        assert not any(k in low for k in WORDING_KEY_PHRASES), a.question
        # No run of four words is shared between the two wordings (the needle's value aside).
        ow = re.sub(r"'[^']*'", "X", o.question.lower()).split()
        aw = re.sub(r"'[^']*'", "X", low).split()
        grams = {tuple(ow[i : i + 4]) for i in range(len(ow) - 3)}
        assert not any(tuple(aw[i : i + 4]) in grams for i in range(len(aw) - 3)), a.question
    # Every type x kind the needles produce has its own alt wording.
    assert {(q.categories[0], q.categories[1]) for q in alt} == {
        (q.categories[0], q.categories[1]) for q in orig
    }
    assert len({q.question for q in alt}) == len({q.question for q in orig})
    with pytest.raises(ValueError, match="wording"):
        build_questions(NEEDLES, "hay", wording="plain")


def test_real_clip_catalogue_is_well_formed() -> None:
    files = [c.file for c in CLIPS]
    assert len(files) == len(set(files)) and len(files) >= 17
    assert len({c.description for c in CLIPS}) == len(CLIPS)
    for c in CLIPS:
        for f in c.facts:
            assert f.kind in FACT_KINDS, (c.file, f.question)
            assert len({f.answer, *f.wrong}) == 4, (c.file, f.question)
            assert f.at is None or 0 <= f.at[0] < f.at[1], (c.file, f.question)
        for m in c.moments:
            assert 0 <= m.start < m.end, (c.file, m.label)
        labels = [m.label for m in c.moments]
        assert len(labels) == len(set(labels)) and c.description not in labels
    # The new everyday scenes are all in.
    for name in (
        "classroom.mp4",
        "face-demographics-walking.mp4",
        "fruit-and-vegetable-detection.mp4",
        "store-aisle-detection.mp4",
        "worker-zone-detection.mp4",
        "ntu_drink_water.mp4",
        "skeleton_demo.mp4",
        "person-bicycle-car-detection.mp4",
    ):
        assert name in files


def _full_manifest(minutes: float = 60.0) -> dict:
    """Every clip placed 100 s apart (lengths from the catalogue's own moment ends + slack)."""
    clips, t = [], 30.0
    for c in CLIPS:
        end = max([m.end for m in c.moments] + [f.at[1] for f in c.facts if f.at] + [5.0])
        clips.append({"file": c.file, "t_start": t, "t_end": t + end + 1.0})
        t += 100.0
    return {"duration_s": minutes * 60, "seed": 3, "clips": clips}


def test_real_clip_questions_every_kind_and_exact() -> None:
    manifest = _full_manifest()
    qs = clip_questions(manifest, "real")
    counts = question_counts(qs)
    assert list(counts) == list(QUESTION_KINDS)
    assert all(counts[k] >= 17 for k in QUESTION_KINDS), counts
    assert counts["when"] >= 30 and counts["order"] >= 30 and counts["colour"] >= 30
    assert len({q.uid for q in qs}) == len(qs)
    assert all(len(set(q.options.values())) == 4 and q.answer in q.options for q in qs)
    letters = Counter(q.answer for q in qs)  # balanced: no fixed-letter guess beats chance
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1
    starts = {c["file"]: c["t_start"] for c in manifest["clips"]}
    for q in qs:
        (a, b) = q.reference_spans[0]
        if q.categories == ["when"]:
            gold = q.options[q.answer]
            assert gold == f"{format_clock(a)}-{format_clock(b)}"
        if q.uid.startswith("real:order:"):
            first = min(q.meta["clips"], key=lambda f: starts[f])
            assert a == starts[first]
    # Deterministic, and open-ended questions only on request (excluded, with a reference).
    assert [q.options for q in clip_questions(manifest, "real")] == [q.options for q in qs]
    opened = [q for q in clip_questions(manifest, "real", include_open=True) if q.excluded]
    assert opened and all(q.meta["reference"] and q.categories == ["open"] for q in opened)


def test_real_haystack_degrades_without_shared_data(tmp_path: Path) -> None:
    absent = tmp_path / "no-shared" / "videos"
    assert "absent" in (missing_source_message(absent) or "")
    with pytest.raises(VideoError, match="absent"):
        build(absent, tmp_path / "hay.mp4", minutes=1)
    from vidsleuth.agent.cli.main import main

    assert (
        main(["eval", "build-real", "--videos", str(absent), "--out", str(tmp_path / "h.mp4")]) == 0
    )
    assert not (tmp_path / "h.mp4").exists()
    res = get_task("real_haystack").load(tmp_path / "nothing-built.json")
    assert not res.records and "build-real" in res.problems[0].message
    with pytest.raises(ConfigError, match="build-real"):
        run(
            get_task("real_haystack"),
            RunOptions(task="real_haystack", data=tmp_path / "nothing-built.json", out=tmp_path),
        )


SHORT_CLIPS = ("classroom.mp4", "ntu_drink_water.mp4", "carphone.mp4", "skeleton_demo.mp4")


@pytest.mark.skipif(
    not all((VIDEOS / f).is_file() for f in SHORT_CLIPS), reason="../shared/data/videos absent"
)
def test_real_clips_spliced_at_recorded_offsets(tmp_path: Path) -> None:
    import av
    import numpy as np

    clips = tuple(c for c in CLIPS if c.file in SHORT_CLIPS)
    manifest = build(
        VIDEOS, tmp_path / "hay.mp4", minutes=1, seed=2, fps=5, width=160, height=90, clips=clips
    )
    assert {c["file"] for c in manifest["clips"]} == set(SHORT_CLIPS)
    with av.open(str(tmp_path / "hay.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 300
    spans = sorted((c["t_start"], c["t_end"]) for c in manifest["clips"])
    assert all(b0 > a1 for (_, a1), (b0, _) in itertools.pairwise(spans))
    drink = next(c for c in manifest["clips"] if c["file"] == "ntu_drink_water.mp4")
    assert 3.0 <= drink["t_end"] - drink["t_start"] <= 4.0  # 3.4 s clip at 5 fps
    mid = frames[int((drink["t_start"] + drink["t_end"]) / 2 * 5)].astype(np.int16)
    before = frames[int(drink["t_start"] * 5) - 1].astype(np.int16)
    # Inside the clip: the bright white-walled room; outside: the dim filler gradient.
    assert mid.mean() > before.mean() + 40
    res = get_task("real_haystack").load(tmp_path / "hay.json")
    assert not res.problems and res.records
    assert {q.meta["clip"] for q in res.records if "clip" in q.meta} == set(SHORT_CLIPS)
    assert all(r.video_path == tmp_path / "hay.mp4" for r in res.records)


def test_real_haystack_balanced_subset_is_stable_and_per_kind():
    from vidsleuth.evals.schema import QARecord
    from vidsleuth.evals.tasks.real_haystack.hooks import balanced_subset

    def q(uid, kind):
        return QARecord(
            uid=uid,
            video_key="v",
            question="?",
            options={"A": "x", "B": "y"},
            answer="A",
            categories=[kind],
        )

    recs = [q(f"v:{k}{i}", k) for k in ("what", "when") for i in range(10)]
    sub = balanced_subset(recs, 3)
    assert [r.categories[0] for r in sub].count("what") == 3 and len(sub) == 6
    assert [r.uid for r in balanced_subset(list(reversed(recs)), 3)] == [
        r.uid for r in reversed(sub)
    ]
    # The next window of every kind shares nothing with the first, and together they are
    # the first six of every kind.
    nxt = balanced_subset(recs, 3, skip=3)
    assert len(nxt) == 6 and not {r.uid for r in nxt} & {r.uid for r in sub}
    assert {r.uid for r in nxt} | {r.uid for r in sub} == {r.uid for r in balanced_subset(recs, 6)}


def test_real_haystack_skip_needs_per_kind_and_a_count(tmp_path):
    from vidsleuth.errors import ConfigError

    task = get_task("real_haystack")
    with pytest.raises(ConfigError, match="needs --option per_kind"):
        task.load(tmp_path / "none.json", skip="5")
    with pytest.raises(ConfigError, match="skip='x'"):
        task.load(tmp_path / "none.json", per_kind="5", skip="x")


def test_real_haystack_asks_thirty_or_more_of_every_kind():
    """With every clip placed, the benchmark asks at least 30 questions of each kind (the
    real-footage benchmark's floor), every one with four distinct options."""
    placed = [
        {"file": c.file, "t_start": 60.0 * (i + 1), "t_end": 60.0 * (i + 1) + 30.0}
        for i, c in enumerate(CLIPS)
    ]
    records = clip_questions({"duration_s": 3600.0, "seed": 0, "clips": placed}, "v")
    counts = question_counts(records)
    assert all(counts.get(k, 0) >= 30 for k in QUESTION_KINDS), counts
    assert all(len(set(r.options.values())) == 4 for r in records)
