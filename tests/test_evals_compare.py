"""``vidsleuth eval report RUN RUN ...``: runs of one benchmark side by side, from small
hand-written run folders whose numbers are worked out by hand below; plots with nothing to show
are left out and named; runs of different benchmarks are refused with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.errors import ConfigError
from vidsleuth.evals.report import build_report
from vidsleuth.evals.report_compare import build_comparison, common_questions
from vidsleuth.evals.report_plots import degenerate, number

OPTIONS = {"A": "red", "B": "green", "C": "blue", "D": "black"}


def question(uid: str, text: str, gold: str, category: str, ref: list[float]) -> dict[str, Any]:
    return {
        "uid": uid,
        "video_key": "n",
        "question": text,
        "options": OPTIONS,
        "answer": gold,
        "categories": [category],
        "reference_spans": [ref],
        "duration_s": 180.0,
        "video_path": None,
        "excluded": None,
        "meta": {},
    }


QUESTIONS = [
    question("q1", "What is shown?", "A", "what", [10, 14]),
    question("q2", "When is it said?", "B", "when", [50, 54]),
    question("q3", "What colour flashes?", "C", "what", [90, 92]),
    question("q4", "When does it appear?", "D", "when", [120, 125]),
]


def row(
    uid: str,
    answer: str | None,
    conf: float | None,
    by: str,
    seconds: float,
    calls: int = 0,
    evidence: list[list[float]] | None = None,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "answer": answer,
        "confidence": conf,
        "answered_by": by,
        "tools_used": {},
        "evidence": evidence or [],
        "stop_reason": "answered" if answer else "abstained",
        "cost": {"frames_decoded": 0, "model_calls": calls, "tokens": 0, "seconds": seconds},
    }


# Rules: q1 right and sure (evidence inside the reference), q2 wrong and sure, q3 no answer,
# q4 right and unsure.
RULES = [
    row("q1", "A", 0.9, "rule", 1.0, evidence=[[10, 12]]),
    row("q2", "C", 0.8, "rule", 2.0),
    row("q3", None, None, "none", 3.0),
    row("q4", "D", 0.3, "rule", 10.0),
]
# Model: q1 right (0.6), q2 right and sure, q3 wrong and sure, q4 right (0.5).
MODEL = [
    row("q1", "A", 0.6, "model", 5.0, 2),
    row("q2", "B", 0.9, "model", 6.0, 3),
    row("q3", "D", 0.9, "model", 7.0, 3),
    row("q4", "D", 0.5, "model", 8.0, 4),
]


def write_run(
    folder: Path,
    method: str,
    rows: list[dict[str, Any]],
    *,
    questions: list[dict[str, Any]] = QUESTIONS,
    task: str = "needle_haystack",
    session_mode: str = "isolated",
    models: dict[str, str] | None = None,
) -> Path:
    folder.mkdir(parents=True)
    run = {
        "task": task,
        "data": "/data/n.json",
        "method": method,
        "seed": 0,
        "categories": ["what", "when"],
        "overall_key": "Overall",
        "session_mode": session_mode,
        "configured_models": models or {},
    }
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    a = write_run(tmp_path / "rules", "locate-rules", RULES)
    b = write_run(
        tmp_path / "model",
        "agent",
        MODEL,
        session_mode="shared",
        models={"chat": "llamacpp:qwen2.5-coder-1.5b"},
    )
    return a, b


def table(md: str) -> dict[str, list[str]]:
    """The methods table: measure -> cells."""
    out = {}
    part = md.split("## Methods", 1)[1].split("## Plots", 1)[0]
    for line in part.splitlines():
        if line.startswith("| ") and not line.startswith("| measure"):
            cells = [c.strip() for c in line.strip()[1:-1].split(" | ")]
            out[cells[0].strip("*")] = cells[1:]
    return out


def test_side_by_side_numbers(runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = runs
    md = build_comparison([a, b], tmp_path / "cmp").read_text()
    t = table(md)
    assert md.startswith("# needle_haystack: 2 runs side by side")
    assert "| measure | locate-rules | agent · qwen2.5-coder-1.5b |" in md
    assert t["session mode"] == ["isolated", "shared"]
    assert t["accuracy: Overall"] == ["50.0% (2/4)", "75.0% (3/4)"]
    assert t["accuracy: what"] == ["50.0% (1/2)", "50.0% (1/2)"]
    assert t["accuracy: when"] == ["50.0% (1/2)", "100.0% (2/2)"]
    assert t["accuracy among answered (official)"] == ["66.7% (2/3)", "75.0% (3/4)"]
    assert t["confident-wrong rate (conf >= 0.75)"] == ["25.0% (1/4)", "25.0% (1/4)"]
    assert t["accuracy among confident"] == ["50.0% (1/2)", "50.0% (1/2)"]
    # Rules: bucket 0.8-1.0 holds 0.9 (right) and 0.8 (wrong): |0.5 - 0.85| x 2/3; bucket
    # 0.2-0.4 holds 0.3 (right): |1 - 0.3| x 1/3; ECE = 0.2333 + 0.2333.
    assert t["ECE"][0] == "0.467 (n=3)"
    # Grounding: 3 answered rules questions; q1 cites 10-12 s of 10-14 s (IoU 0.5).
    assert t["grounding: evidence overlaps reference"][0] == "33.3% (1/3), mean IoU 0.167"
    assert t["answers citing evidence"] == ["1/3", "0/4"]
    assert t["seconds / question, median"] == [
        "2.5 (mean 4, max 10)",
        "6.5 (mean 6.5, max 8)",
    ]
    assert t["model calls / question, median"] == ["0 (mean 0, max 0)", "3 (mean 3, max 4)"]
    assert t["answered by model"] == ["0", "4 (3/4 right)"]
    assert t["answered by rule"] == ["3 (2/3 right)", "0"]
    assert t["answered by none"] == ["1 (0/1 right)", "0"]
    assert "locate-rules: **isolated" in md and "**shared" in md
    # Per question: answer, right, confidence, who, evidence, seconds for each method.
    assert (
        "| `q1` | What is shown? | A | A ✓ · 0.900 · rule · ev 10.0-12.0s · 1.0 s | "
        "A ✓ · 0.600 · model · ev none · 5.0 s |"
    ) in md
    assert "| `q3` | What colour flashes? | C | - ✗ · - · none · ev none · 3.0 s | " in md
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["questions"] == ["q1", "q2", "q3", "q4"]
    assert [m["scores"]["by_key"]["Overall"]["correct"] for m in data["methods"]] == [2, 3]
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "<table>" in html and "http://" not in html
    assert '<img src="data:image/png;base64,' in html


def test_degenerate_plots_are_left_out_and_named(runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = runs
    assert degenerate([]) == "no bars" and degenerate([0.4]) == "one bar"
    assert degenerate([0, 0, 0]) == "all zero" and degenerate([0, 1]) is None
    assert [number(x) for x in (0, 1.78e-05, 0.84735, 12.34, 1234.5)] == [
        "0",
        "<0.01",
        "0.847",
        "12.3",
        "1,234",
    ]
    # One run: every question is 3 minutes long (one bar); of the costs only seconds vary.
    md = build_report(a).read_text()
    assert "- `accuracy_by_length.png`: one bar (0-10 min 2/3)" in md
    assert not (a / "accuracy_by_length.png").exists()
    assert (a / "accuracy_by_category.png").is_file()  # Overall, what, when
    assert (a / "cost.png").is_file()
    assert (
        "- `cost.png`: panels left out: frames decoded: all zero; model calls: all zero; "
        "model tokens: all zero"
    ) in md
    # Two runs that made no model call: that chart would be two zero bars.
    c = write_run(
        tmp_path / "rules2", "always-a", [row(r["uid"], "A", 0.25, "rule", 0.5) for r in RULES]
    )
    out = tmp_path / "cmp"
    md = build_comparison([a, c], out).read_text()
    assert "- `model_calls.png`: all zero (locate-rules 0, always-a 0)" in md
    assert not (out / "model_calls.png").exists()
    assert (out / "seconds.png").is_file() and (out / "accuracy.png").is_file()
    assert "![seconds.png](seconds.png)" in md


def test_runs_of_different_benchmarks_are_refused(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = runs
    other_task = write_run(tmp_path / "lv", "random", RULES, task="lvbench")
    assert main(["eval", "report", str(a), str(other_task), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "different benchmarks" in err and "'needle_haystack'" in err and "'lvbench'" in err
    assert not (tmp_path / "x").exists()  # nothing written
    disjoint = [{**q, "uid": q["uid"] + "x"} for q in QUESTIONS]
    d = write_run(
        tmp_path / "other-video",
        "random",
        [{**r, "uid": r["uid"] + "x"} for r in RULES],
        questions=disjoint,
    )
    with pytest.raises(ConfigError, match="shares no question"):
        common_questions([a, d])
    # Same uids asking about another video (another seed): not the same benchmark.
    regold = [{**q, "answer": "D"} if q["uid"] == "q2" else q for q in QUESTIONS]
    e = write_run(tmp_path / "regold", "random", RULES, questions=regold)
    with pytest.raises(ConfigError, match="question 'q2' differs between"):
        common_questions([a, e])
    with pytest.raises(ConfigError, match="given twice"):
        common_questions([a, a])
    with pytest.raises(ConfigError, match="is one of the run folders"):
        build_comparison([a, e], a)


def test_overlapping_runs_compare_on_shared_questions(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = runs
    half = write_run(tmp_path / "half", "random", MODEL[:2], questions=QUESTIONS[:2])
    assert common_questions([a, half]) == (["q1", "q2"], {str(a): 2, str(half): 0})
    md = build_comparison([a, half], tmp_path / "cmp").read_text()
    assert (
        "questions compared: **2** (those every run holds); left out of the comparison: rules 2"
        in md
    )
    assert table(md)["accuracy: Overall"] == ["50.0% (1/2)", "100.0% (2/2)"]
    assert "`q3`" not in md


def test_single_run_report_still_works(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = runs
    assert main(["eval", "report", str(a)]) == 0
    assert (a / "report.md").is_file() and (a / "report.html").is_file()
    assert "Overall" in capsys.readouterr().out
