"""LVBench loading and scoring on a small file in the published format (written here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.evals.metrics import score_answers
from vidsleuth.evals.registry import get_task
from vidsleuth.evals.timecodes import parse_clock, parse_time_reference

VIDEOS = [
    {
        "key": "abcXYZ",
        "type": "documentary",
        "video_info": {
            "duration_minutes": 65.5,
            "fps": 30,
            "resolution": {"width": 640, "height": 360},
        },
        "qa": [
            {
                "uid": 11,
                "question": "What year appears?\n(A) 1636\n(B) 1366\n(C) 1363\n(D) 1633",
                "answer": "A",
                "question_type": ["key information retrieval", "temporal grounding"],
                "time_reference": "00:15-00:19",
            },
            {
                "uid": 12,
                "question": "Who wins in the end?\n(A) red\n(B) blue\n(C) green\n(D) grey",
                "answer": "B",
                "question_type": ["reasoning"],
                "time_reference": "01:02:03-01:05:10",
            },
            {
                "uid": 13,
                "question": "Broken options\n(A) one\n(B) two\n(C) three",
                "answer": "C",
                "question_type": ["summarization"],
                "time_reference": "10:00-12:00",
            },
        ],
    },
    {
        "key": "q-9_k",
        "type": "sport",
        "video_info": {"duration_minutes": 20},
        "qa": [
            {
                "uid": 21,
                "question": "What happens?\n(A) x\n(B) y\n(C) z\n(D) w",
                "answer": "C",
                "question_type": ["event understanding", "entity recognition"],
                "time_reference": "12:30",
            },
        ],
    },
]


def write_meta(tmp: Path) -> Path:
    path = tmp / "video_info.meta.jsonl"
    lines = [json.dumps(VIDEOS[0]), '{"key": "broken", "qa": [', json.dumps(VIDEOS[1])]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_time_formats() -> None:
    assert parse_time_reference("00:15-00:19") == (15.0, 19.0)
    assert parse_time_reference("01:02:03-01:05:10") == (3723.0, 3910.0)
    assert parse_time_reference("12:30") == (750.0, 750.0)
    assert parse_time_reference("59:59 - 1:00:05") == (3599.0, 3605.0)
    assert parse_clock("13:34", two_parts="hh:mm") == 13 * 3600 + 34 * 60
    for bad in ("00:19-00:15", "abc", "1:75"):
        with pytest.raises(ValueError):
            parse_time_reference(bad)


def test_load_published_format(tmp_path: Path) -> None:
    meta = write_meta(tmp_path)
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "abcXYZ.mkv").write_bytes(b"x")  # any video extension is found by key
    res = get_task("lvbench").load(meta, videos)
    by_uid = {r.uid: r for r in res.records}
    assert sorted(by_uid) == ["11", "12", "13", "21"]  # the malformed line lost only itself
    malformed = [p for p in res.problems if "malformed JSON" in p.message]
    assert len(malformed) == 1 and malformed[0].source.endswith("video_info.meta.jsonl:2")
    q = by_uid["11"]
    assert q.question == "What year appears?"
    assert q.options == {"A": "1636", "B": "1366", "C": "1363", "D": "1633"}
    assert q.categories == ["KIR", "TG"] and q.answer == "A"
    assert q.reference_spans == [(15.0, 19.0)] and q.duration_s == 65.5 * 60
    assert q.video_path == videos / "abcXYZ.mkv"
    assert by_uid["12"].reference_spans == [(3723.0, 3910.0)]
    assert by_uid["21"].categories == ["EU", "ER"] and by_uid["21"].video_path is None
    assert by_uid["13"].excluded and any(
        p.uid == "13" and "options cannot be parsed" in p.message for p in res.problems
    )
    assert any(p.kind == "video" and "q-9_k" in p.message for p in res.problems)


def test_official_and_strict_scoring(tmp_path: Path) -> None:
    task = get_task("lvbench")
    res = task.load(write_meta(tmp_path))
    qs = [r.to_json() for r in res.records]
    scores = score_answers(qs, {"11": "A", "21": "D", "999": "B"}, list(task.categories))
    ov = scores.by_key["Overall"]
    # 13 is excluded (bad options); 12 has no prediction: official skips it, strict counts it.
    assert (ov.correct, ov.answered, ov.total, ov.missing) == (1, 2, 3, 1)
    assert ov.official == 0.5 and ov.strict == pytest.approx(1 / 3)
    assert scores.excluded == 1 and scores.unknown_uids == ["999"]
    # A question with several types counts toward each.
    assert scores.by_key["KIR"].correct == 1 and scores.by_key["TG"].correct == 1
    assert scores.by_key["EU"].answered == 1 and scores.by_key["ER"].answered == 1
    assert list(scores.by_key) == ["Overall", "KIR", "EU", "Sum", "ER", "Rea", "TG"]


def test_cli_check_and_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = write_meta(tmp_path)
    assert main(["eval", "lvbench", "--data", str(meta), "--check"]) == 1
    out = capsys.readouterr().out
    assert "video_info.meta.jsonl:2: malformed JSON line" in out
    assert "uid 13: options cannot be parsed" in out
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"11": "A", "21": "c", "999": "B"}))
    assert main(["eval", "lvbench", "--data", str(meta), "--predictions", str(preds)]) == 0
    out = capsys.readouterr().out
    assert "missing predictions: 1" in out
    assert "1 prediction uid(s) match no question: 999" in out
    overall = next(line for line in out.splitlines() if line.startswith("Overall"))
    assert overall.split()[1:3] == ["100.0", "66.7"]  # official 2/2, strict 2/3


def test_unknown_task_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "nosuchbench", "--data", "x"]) == 2
    assert "unknown task 'nosuchbench'" in capsys.readouterr().err
