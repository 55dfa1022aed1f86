"""Who answered, how sure, and was it earned: metrics on hand-made rows, the runner's new
fields (and old results without them), session mode, and a report over two run folders."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from test_evals_runner import write_meta

from vidsleuth.agent.cli.main import main
from vidsleuth.errors import ConfigError
from vidsleuth.evals import methods
from vidsleuth.evals.metrics import (
    accuracy_by_answered_by,
    accuracy_by_tool,
    calibration_summary,
    risk_coverage,
)
from vidsleuth.evals.registry import get_task
from vidsleuth.evals.report import build_report
from vidsleuth.evals.runner import RESULTS_FILE, RunOptions, read_results, run
from vidsleuth.evals.schema import Prediction, QARecord, tools_from_trace


def q(uid: str, gold: str = "A", excluded: str | None = None) -> dict:
    return {
        "uid": uid,
        "answer": gold,
        "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
        "categories": ["what"],
        "excluded": excluded,
    }


QUESTIONS = [q("1"), q("2"), q("3"), q("4"), q("5", excluded="broken label")]
ROWS: dict[str, dict] = {
    "1": {"answer": "A", "confidence": 0.9, "answered_by": "model", "tools_used": {"ocr": 2}},
    "2": {"answer": "B", "confidence": 0.8, "answered_by": "rule", "tools_used": {"ocr": 1}},
    "3": {"answer": "A", "confidence": 0.6},  # an old row: no answered_by, no tools_used
    "4": {"answer": None, "confidence": None, "answered_by": "none"},
}


def test_confident_wrong_and_confident_accuracy() -> None:
    s = calibration_summary(QUESTIONS, ROWS, threshold=0.75)
    assert s["questions"] == 4 and s["answered"] == 3 and s["correct"] == 2
    assert s["accuracy"] == 0.5
    assert s["confident"] == 2 and s["confident_wrong"] == 1
    assert s["confident_wrong_rate"] == 0.25  # one wrong-but-sure answer out of four questions
    assert s["confident_accuracy"] == 0.5
    assert s["confident_coverage"] == 0.5
    # ECE over the three answers with a confidence (buckets 0.2 wide):
    # [0.8,1.0]: confs 0.9, 0.8 -> mean 0.85, accuracy 0.5; [0.6,0.8): 0.6 -> accuracy 1.
    assert s["ece"] == pytest.approx((2 / 3) * abs(0.5 - 0.85) + (1 / 3) * abs(1 - 0.6))
    assert calibration_summary(QUESTIONS, ROWS, threshold=0.95)["confident"] == 0


def test_aurc_by_hand() -> None:
    # Ranked: 0.9 right, 0.8 wrong, 0.6 right, then the unanswered (wrong).
    rc = risk_coverage(QUESTIONS, ROWS)
    risks = [0 / 1, 1 / 2, 1 / 3, 2 / 4]
    assert rc["n"] == 4
    assert rc["aurc"] == pytest.approx(statistics.fmean(risks))
    assert [p[0] for p in rc["points"]] == [0.25, 0.5, 0.75, 1.0]
    assert [p[1] for p in rc["points"]] == pytest.approx([1 - r for r in risks])
    # The oracle ranks both right answers first: risks 0, 0, 1/3, 2/4.
    assert rc["aurc_oracle"] == pytest.approx(statistics.fmean([0, 0, 1 / 3, 1 / 2]))
    # A perfect ranking reaches the oracle.
    better = {**ROWS, "2": {**ROWS["2"], "confidence": 0.1}}
    assert risk_coverage(QUESTIONS, better)["aurc"] == pytest.approx(rc["aurc_oracle"])


def test_aurc_ties_do_not_depend_on_row_order() -> None:
    qs = [q(str(i)) for i in range(4)]
    rows = {str(i): {"answer": "A" if i % 2 else "B", "confidence": 0.5} for i in range(4)}
    rc = risk_coverage(qs, rows)
    assert rc["aurc"] == pytest.approx(0.5)  # every coverage: half right, in expectation
    rev = dict(reversed(list(rows.items())))
    assert risk_coverage(list(reversed(qs)), rev)["aurc"] == rc["aurc"]
    assert risk_coverage([], {})["aurc"] is None


def test_accuracy_by_answerer_and_tool() -> None:
    by = accuracy_by_answered_by(QUESTIONS, ROWS)
    assert list(by) == ["model", "rule", "unreported", "none"]
    assert [(a.total, a.correct) for a in by.values()] == [(1, 1), (1, 0), (1, 1), (1, 0)]
    assert sum(a.total for a in by.values()) == 4  # excluded question in no group
    tools = accuracy_by_tool(QUESTIONS, ROWS)
    assert tools["ocr"]["total"] == 2 and tools["ocr"]["calls"] == 3
    assert tools["ocr"]["correct"] == 1
    assert tools["(no tool)"]["total"] == 2
    trace = [
        {"node": "perceive", "tool": "ocr", "args": {}},
        {"node": "perceive", "tool": "ocr", "args": {}, "error": "boom"},
        {"node": "perceive", "tool": "speech", "skipped": "frame budget spent"},
        {"node": "answer"},
    ]
    assert tools_from_trace(trace) == {"ocr": 2}


class Sure:
    """Answers "A" with a model's confidence, says so, and reports a tool call."""

    name = "sure"
    needs_video = False
    session_modes = ("isolated", "shared")

    def __call__(self, record: QARecord, video_path: Path | None, context: object) -> Prediction:
        return Prediction(
            answer="A",
            confidence=0.9,
            answered_by="model",
            tools_used={"ocr": 1, "search": 2},
            cost={"model_calls": 1},
        )


def make_sure(context: object) -> Sure:
    return Sure()


@pytest.fixture
def sure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(methods.METHODS, "sure", f"{__name__}:make_sure")


def test_runner_records_answerer_tools_and_session_mode(tmp_path: Path, sure: None) -> None:
    meta, out = write_meta(tmp_path, 1), tmp_path / "out"
    task = get_task("lvbench")
    run(task, RunOptions(task="lvbench", data=meta, method="sure", out=out))
    rows = read_results(out / RESULTS_FILE)
    assert all(r["answered_by"] == "model" for r in rows.values())
    assert all(r["tools_used"] == {"ocr": 1, "search": 2} for r in rows.values())
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["session_mode"] == "isolated"
    from importlib.metadata import version

    assert run_json["code"].startswith(version("vidsleuth"))  # + the git commit in a checkout
    report = (out / "report.md").read_text()
    assert "session mode: **isolated" in report
    assert "## Who answered" in report and "| model | 4 |" in report
    assert "| search | 4 | 8 |" in report
    assert "confident-wrong rate" in report and "AURC" in report
    assert "## Per question" in report
    for png in ("calibration.png", "coverage_accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # Only a model answered: one bar, so no chart, and the report says why.
    assert not (out / "accuracy_by_answered_by.png").exists()
    assert "- `accuracy_by_answered_by.png`: one bar (model 1/4)" in report
    # A resumed run may not switch session mode; a method that cannot share refuses "shared".
    with pytest.raises(ConfigError, match="session_mode"):
        run(
            task,
            RunOptions(task="lvbench", data=meta, method="sure", out=out, session_mode="shared"),
        )
    shared = tmp_path / "shared"
    run(
        task,
        RunOptions(task="lvbench", data=meta, method="sure", out=shared, session_mode="shared"),
    )
    assert "session mode: **shared" in (shared / "report.md").read_text()
    with pytest.raises(ConfigError, match="does not support session mode"):
        run(
            task,
            RunOptions(
                task="lvbench",
                data=meta,
                method="random",
                out=tmp_path / "r",
                session_mode="shared",
            ),
        )


def test_old_results_without_the_new_fields_still_report(tmp_path: Path) -> None:
    meta, out = write_meta(tmp_path, 1), tmp_path / "out"
    assert (
        main(["eval", "lvbench", "--data", str(meta), "--method", "random", "--out", str(out)]) == 0
    )
    # Rewrite the folder as an older version wrote it: no answered_by / tools_used /
    # session_mode anywhere.
    results = out / RESULTS_FILE
    old_rows = []
    for line in results.read_text().splitlines():
        row = json.loads(line)
        row.pop("answered_by"), row.pop("tools_used")
        old_rows.append(json.dumps(row))
    results.write_text("\n".join(old_rows) + "\n")
    run_json = json.loads((out / "run.json").read_text())
    run_json.pop("session_mode"), run_json.pop("configured_models")
    (out / "run.json").write_text(json.dumps(run_json))
    build_report(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["session_mode"] == "isolated"
    assert list(summary["answered_by"]) == ["unreported"]
    assert list(summary["by_tool"]) == ["(no tool)"]
    # ...and a resumed run of that old folder is accepted (same identity, default mode).
    assert (
        main(["eval", "lvbench", "--data", str(meta), "--method", "random", "--out", str(out)]) == 0
    )


def test_report_with_two_run_folders(tmp_path: Path, sure: None) -> None:
    meta = write_meta(tmp_path)
    a, b, cmp = tmp_path / "a", tmp_path / "b", tmp_path / "cmp"
    for method, out in (("random", a), ("sure", b)):
        assert (
            main(["eval", "lvbench", "--data", str(meta), "--method", method, "--out", str(out)])
            == 0
        )
    assert main(["eval", "report", str(a), str(b), "--out", str(cmp), "--threshold", "0.5"]) == 0
    text = (cmp / "report.md").read_text()
    # A run is a method and its model: "sure" says a model answered, so its label names it.
    assert "| measure | random | sure · " in text
    assert "confident-wrong rate (conf >= 0.5)" in text
    assert "answered by model" in text and "answered by rule" in text  # random: a rule
    assert "## Per question" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 12 and all(line.count("✓") + line.count("✗") == 2 for line in rows)
    for png in ("reliability.png", "coverage.png", "accuracy.png"):
        assert (cmp / png).read_bytes()[:4] == b"\x89PNG"
    assert (cmp / "report.html").is_file()
    data = json.loads((cmp / "comparison.json").read_text())
    labels = [m["label"] for m in data["methods"]]
    assert labels[0] == "random" and labels[1].startswith("sure · ")
    sure_conf = data["methods"][1]["confidence"]
    # "sure" always says A at 0.9: every wrong answer is a confident one.
    assert sure_conf["confident_wrong"] == 12 - sure_conf["correct"]
    assert (a / "report.md").is_file() and (b / "report.md").is_file()
    # Two runs of the same method are told apart by folder name.
    c = tmp_path / "c"
    assert (
        main(["eval", "lvbench", "--data", str(meta), "--method", "random", "--out", str(c)]) == 0
    )
    assert main(["eval", "report", str(a), str(c), "--out", str(cmp)]) == 0
    assert "| measure | random (a) | random (c) |" in (cmp / "report.md").read_text()
