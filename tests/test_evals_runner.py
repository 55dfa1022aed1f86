"""The eval runner end to end: a tiny run, resume after a kill, report rebuild, task registry."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.evals import methods
from vidsleuth.evals.metrics import calibration, interval_iou, overlaps
from vidsleuth.evals.registry import find_tasks, get_task
from vidsleuth.evals.runner import RESULTS_FILE, RunOptions, read_results, run
from vidsleuth.evals.schema import Prediction, QARecord

CALLS: list[str] = []
_LOCK = threading.Lock()


class Counting:
    """Answers "B" citing the reference span, and records every question it is asked."""

    name = "counting"
    needs_video = False

    def __call__(self, record: QARecord, video_path: Path | None, context: object) -> Prediction:
        with _LOCK:
            CALLS.append(record.uid)
        return Prediction(
            answer="B",
            confidence=0.9,
            evidence=list(record.reference_spans),
            stop_reason="answered",
            cost={"model_calls": 1, "tokens": 7},
        )


def make_counting(context: object) -> Counting:
    return Counting()


def write_meta(tmp: Path, n_videos: int = 3) -> Path:
    lines = []
    for v in range(n_videos):
        qa = [
            {
                "uid": v * 10 + i,
                "answer": "ABCD"[(v + i) % 4],
                "question": f"Q{v}.{i}?\n(A) a\n(B) b\n(C) c\n(D) d",
                "question_type": ["reasoning"] if i % 2 else ["entity recognition"],
                "time_reference": f"00:{10 + i:02d}-00:{20 + i:02d}",
            }
            for i in range(4)
        ]
        lines.append(
            json.dumps(
                {
                    "key": f"vid{v}",
                    "type": "tv",
                    "video_info": {"duration_minutes": 5 + 40 * v},
                    "qa": qa,
                }
            )
        )
    path = tmp / "video_info.meta.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setitem(methods.METHODS, "counting", f"{__name__}:make_counting")
    CALLS.clear()
    return CALLS


def test_tiny_run_with_random_end_to_end(tmp_path: Path) -> None:
    meta, out = write_meta(tmp_path), tmp_path / "out"
    args = ["eval", "lvbench", "--data", str(meta), "--method", "random", "--out", str(out)]
    assert main([*args, "--workers", "2"]) == 0
    rows = read_results(out / RESULTS_FILE)
    assert len(rows) == 12 and all(r["answer"] in "ABCD" for r in rows.values())
    for r in rows.values():
        assert set(r["cost"]) == {"frames_decoded", "model_calls", "tokens", "seconds"}
        assert r["stop_reason"] == "random" and r["prompt"].startswith("Question: Q")
    preds = json.loads((out / "predictions.json").read_text())
    assert preds == {u: r["answer"] for u, r in rows.items()}
    summary = json.loads((out / "summary.json").read_text())
    n_correct = sum(r["correct"] for r in rows.values())
    assert summary["scores"]["by_key"]["Overall"]["correct"] == n_correct
    assert summary["scores"]["by_key"]["Overall"]["missing"] == 0
    assert set(summary["by_length"]) == {"0-10 min", "30-60 min", "60-120 min"}
    report = (out / "report.md").read_text()
    assert "## Grounding" in report and "## Calibration" in report and "## Cost" in report
    for png in ("accuracy_by_category.png", "calibration.png", "accuracy_by_length.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Seeded: a second run elsewhere gives the same answers, whatever the worker count.
    out2 = tmp_path / "out2"
    assert main(["eval", "lvbench", "--data", str(meta), "--out", str(out2)]) == 0
    assert json.loads((out2 / "predictions.json").read_text()) == preds


def test_resume_after_kill_never_reasks(tmp_path: Path, counting: list[str]) -> None:
    meta, out = write_meta(tmp_path), tmp_path / "out"
    opts = RunOptions(task="lvbench", data=meta, method="counting", out=out, limit=6)
    run(get_task("lvbench"), opts)
    assert len(counting) == 6
    # Simulate a kill mid-write: the last line is cut in half.
    results = out / RESULTS_FILE
    lines = results.read_bytes().splitlines(keepends=True)
    torn_uid = json.loads(lines[-1])["uid"]
    results.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    counting.clear()
    outcome = run(
        get_task("lvbench"), RunOptions(task="lvbench", data=meta, method="counting", out=out)
    )
    # Only the torn question and the six never asked are asked; nothing answered is re-asked.
    assert torn_uid == "11"
    assert sorted(counting) == ["11", "12", "13", "20", "21", "22", "23"]
    assert outcome.resumed == 5 and outcome.asked == 7
    assert len(read_results(results)) == 12
    for line in results.read_text().splitlines():
        json.loads(line)  # the torn half-line was cut, not kept
    counting.clear()
    run(get_task("lvbench"), RunOptions(task="lvbench", data=meta, method="counting", out=out))
    assert counting == []
    summary = json.loads((out / "summary.json").read_text())
    g = summary["grounding"]
    assert g["with_reference"] == 12 and g["overlap_share"] == 1.0 and g["mean_iou"] == 1.0
    assert summary["cost"]["model_calls"]["total"] == 12


def test_out_folder_of_another_run_is_refused(tmp_path: Path, counting: list[str]) -> None:
    meta, out = write_meta(tmp_path, 1), tmp_path / "out"
    run(get_task("lvbench"), RunOptions(task="lvbench", data=meta, method="counting", out=out))
    args = ["eval", "lvbench", "--data", str(meta), "--method", "always-a", "--out", str(out)]
    assert main(args) == 2


def test_report_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta, out = write_meta(tmp_path), tmp_path / "out"
    assert (
        main(["eval", "lvbench", "--data", str(meta), "--method", "always-a", "--out", str(out)])
        == 0
    )
    before = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predicted_letters"] == {"A": 12}
    for f in ("report.md", "summary.json", "calibration.png"):
        (out / f).unlink()
    capsys.readouterr()
    assert main(["eval", "report", str(out)]) == 0
    assert (out / "report.md").read_text() == before
    assert (out / "calibration.png").is_file()
    assert "Overall" in capsys.readouterr().out
    assert main(["eval", "report", str(tmp_path / "nothing")]) == 2


def test_video_missing_is_counted_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counting: list[str]
) -> None:
    monkeypatch.setattr(Counting, "needs_video", True)
    meta, out = write_meta(tmp_path, 1), tmp_path / "out"
    vids = tmp_path / "videos"
    vids.mkdir()
    run(
        get_task("lvbench"),
        RunOptions(task="lvbench", data=meta, videos=vids, method="counting", out=out),
    )
    assert counting == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reasons"] == {"video_missing": 4}
    assert summary["scores"]["by_key"]["Overall"]["missing"] == 4
    (vids / "vid0.mp4").write_bytes(b"x")  # the video turns up: a resumed run asks them now
    run(
        get_task("lvbench"),
        RunOptions(task="lvbench", data=meta, videos=vids, method="counting", out=out),
    )
    assert len(counting) == 4


def test_include_path_task(tmp_path: Path) -> None:
    folder = tmp_path / "mytasks" / "tiny"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text("name: tiny\nhooks: hooks.py\nload: load\n")
    (folder / "hooks.py").write_text(
        "from vidsleuth.evals.schema import LoadResult, QARecord\n"
        "def load(data, videos, options):\n"
        "    return LoadResult([QARecord('q1', 'v', 'Why?', {'A': 'a', 'B': 'b'}, 'B')])\n"
    )
    assert "tiny" not in find_tasks()
    task = get_task("tiny", [tmp_path / "mytasks"])
    rec = task.load(tmp_path).records[0]
    assert task.prompt(rec) == (
        "Question: Why?\nOptions:\n(A) a\n(B) b\nAnswer with the letter of the correct option."
    )
    assert task.score(rec, "b") and not task.score(rec, "A")
    (folder / "task.yaml").write_text("name: report\n")
    with pytest.raises(Exception, match="reserved"):
        find_tasks([tmp_path / "mytasks"])


def test_span_metrics_and_calibration() -> None:
    assert overlaps([(5, 5)], [(4, 6)]) and not overlaps([(0, 3)], [(4, 6)])
    assert interval_iou([(0, 10)], [(5, 15)]) == pytest.approx(5 / 15)
    assert interval_iou([(0, 4), (2, 6)], [(0, 6)]) == 1.0
    assert interval_iou([], [(0, 1)]) == 0.0
    rows = [
        {"answer": "A", "confidence": 0.9, "correct": True},
        {"answer": "A", "confidence": 0.95, "correct": False},
        {"answer": "B", "confidence": 0.1, "correct": False},
        {"answer": None, "confidence": 0.5, "correct": False},
    ]
    cal = calibration(rows)
    assert cal["n"] == 3
    top = cal["buckets"][-1]
    assert top["n"] == 2 and top["accuracy"] == 0.5
    assert cal["ece"] == pytest.approx((2 / 3) * abs(0.5 - 0.925) + (1 / 3) * 0.1)
