"""EgoMem loader on the real annotations (../shared/data/egomem; skipped when absent)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vidsleuth.evals.registry import get_task

EGOMEM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "egomem"
needs_data = pytest.mark.skipif(
    not (EGOMEM / "EgoMem.json").is_file(), reason="../shared/data/egomem is not here"
)


def hooks():  # the task's hooks module, loaded through the registry like the runner does
    return get_task("egomem").hooks_module()


def test_reason_spans() -> None:
    spans, issues = hooks().reason_spans("From 13:34:26 to 13:35:35, Jake cleaned the whiteboard.")
    assert spans == [(13 * 3600 + 34 * 60 + 26, 13 * 3600 + 35 * 60 + 35)] and not issues
    spans, _ = hooks().reason_spans("At 15:56:02, Alice placed the tray (choice A).")
    assert spans == [(57362.0, 57362.0)]
    text = (
        "Walk (14:47 - 15:38) → Arcade (15:47-16:29). Total span: 14:47~16:29, matching "
        'option C\'s 14:40 - 16:30. "Dance" (16:09-16:35) is an interfering item.'
    )
    spans, _ = hooks().reason_spans(text)
    assert spans == [(53220.0, 56280.0), (56820.0, 59340.0)]
    spans, issues = hooks().reason_spans("On Day 4, from 13:23:22 to 12:10:40, lunch.")
    assert spans == [] and "ends before it starts" in issues[0]


def test_offset_map() -> None:
    single = hooks().OffsetMap.parse("11:00:00")
    assert single.to_video(11 * 3600 + 90) == 90 and single.to_video(10 * 3600) is None
    pieces = hooks().OffsetMap.parse([["10:00", 0], ["13:00", 3600]])
    assert pieces.to_video(10 * 3600 + 60) == 60
    assert pieces.to_video(13 * 3600 + 60) == 3660
    with pytest.raises(ValueError):
        hooks().OffsetMap.parse([["10:00"]])


@needs_data
def test_real_annotations_and_label_problems() -> None:
    res = get_task("egomem").load(EGOMEM)
    assert len(res.records) == 504
    assert Counter(r.categories[0] for r in res.records) == {"Detail": 252, "Event": 252}
    assert all(tuple(r.options) == ("A", "B", "C", "D") for r in res.records)
    label = [p for p in res.problems if p.kind == "label"]
    empty = {p.uid for p in label if p.message == "empty answer label"}
    answer_e = {p.uid for p in label if p.message.startswith("answer 'E' is not one of")}
    assert len(empty) == 2 and len(answer_e) == 2
    excluded = {r.uid for r in res.records if r.excluded}
    assert excluded == empty | answer_e
    bias = [p for p in label if "always answering 'A' beats chance" in p.message]
    assert len(bias) == 1 and "208 of 500" in bias[0].message
    # Grounding labels come from the annos reasons; most questions carry at least one span.
    first = next(r for r in res.records if r.uid == "0")
    t0, t1 = 13 * 3600 + 34 * 60 + 26, 13 * 3600 + 35 * 60 + 35  # "From 13:34:26 to 13:35:35"
    assert first.meta["wall_spans"] == [[t0, t1]]
    assert sum(bool(r.meta.get("wall_spans")) for r in res.records) > 480
    assert all(r.reference_spans == [] for r in res.records)  # no offsets given: nothing mapped


@needs_data
def test_offsets_map_reasons_onto_the_video(tmp_path: Path) -> None:
    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"A1_JAKE_DAY1": "11:00:00", "A2_ALICE_DAY1": "not a time"}))
    res = get_task("egomem").load(EGOMEM, None, offsets=str(offsets))
    first = next(r for r in res.records if r.uid == "0")
    assert first.reference_spans == [(2 * 3600 + 34 * 60 + 26, 2 * 3600 + 35 * 60 + 35)]
    assert any("A2_ALICE_DAY1" in p.source for p in res.problems)
    other = next(r for r in res.records if r.video_key == "A3_TASHA_DAY1")
    assert other.reference_spans == []
