"""``report.md`` + PNG plots + ``summary.json`` from an eval output folder alone.

Everything is recomputed from ``run.json``, ``questions.jsonl`` and ``results.jsonl``, so
``vidsleuth eval report DIR`` gives the same report as the run that wrote the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidsleuth.evals import metrics
from vidsleuth.evals.runner import (
    PROBLEMS_FILE,
    RESULTS_FILE,
    read_questions,
    read_results,
    read_run,
)

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def summarize(out: Path) -> dict[str, Any]:
    """All report numbers as one JSON-able dict."""
    run = read_run(out)
    questions = read_questions(out)
    rows = read_results(out / RESULTS_FILE)
    selected = {q["uid"] for q in questions}
    rows = {u: r for u, r in rows.items() if u in selected}
    answers = {u: r.get("answer") for u, r in rows.items()}
    overall_key = run.get("overall_key", "Overall")
    scores = metrics.score_answers(questions, answers, run.get("categories") or [], overall_key)
    excluded = [{"uid": q["uid"], "reason": q["excluded"]} for q in questions if q.get("excluded")]
    stop = metrics.letter_counts(r.get("stop_reason") for r in rows.values())
    asked = [r for r in rows.values() if r.get("stop_reason") not in ("video_missing",)]
    return {
        "run": run,
        "questions": len(questions),
        "scores": scores.to_json(),
        "by_length": {
            k: v.to_json() for k, v in metrics.accuracy_by_length(questions, answers).items()
        },
        "grounding": metrics.grounding(questions, rows).to_json(),
        "calibration": metrics.calibration(rows.values()),
        "cost": metrics.cost_summary(asked),
        "stop_reasons": stop,
        "excluded": excluded,
        "gold_letters": metrics.letter_counts(q.get("answer") for q in questions),
        "predicted_letters": metrics.letter_counts(a for a in answers.values() if a),
    }


def build_report(out: Path) -> Path:
    """Write ``summary.json``, ``report.md`` and the plots; return the report path."""
    out = Path(out)
    s = summarize(out)
    (out / SUMMARY_FILE).write_text(json.dumps(s, indent=1, default=str) + "\n", encoding="utf-8")
    plots = _plots(out, s)
    path = out / REPORT_FILE
    path.write_text(_markdown(out, s, plots), encoding="utf-8")
    return path


def _markdown(out: Path, s: dict[str, Any], plots: list[str]) -> str:
    run = s["run"]
    overall_key = run.get("overall_key", "Overall")
    by_key = s["scores"]["by_key"]
    ov = by_key[overall_key]
    lines = [
        f"# {run['task']}: method `{run['method']}`",
        "",
        f"- data: `{run['data']}`; seed {run['seed']}; questions selected: {s['questions']}",
        f"- **{overall_key}: {_pct(ov['official'])}% official** "
        f"({ov['correct']}/{ov['answered']} answered), **{_pct(ov['strict'])}% strict** "
        f"({ov['correct']}/{ov['total']}, missing counted wrong)",
        f"- missing predictions: **{ov['missing']}** (skipped by the official rule)",
        f"- excluded from scoring (data/label problems): **{len(s['excluded'])}**",
        f"- stop reasons: {', '.join(f'{k} {v}' for k, v in s['stop_reasons'].items()) or 'none'}",
        "",
        "## Accuracy by category",
        "",
        "| key | official % | strict % | correct | answered | total | missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, a in by_key.items():
        lines.append(
            f"| {k} | {_pct(a['official'])} | {_pct(a['strict'])} | {a['correct']} | "
            f"{a['answered']} | {a['total']} | {a['missing']} |"
        )
    lines += [
        "",
        "## Accuracy by video length",
        "",
        "| length | official % | answered | total |",
        "|---|---|---|---|",
    ]
    for k, a in s["by_length"].items():
        lines.append(f"| {k} | {_pct(a['official'])} | {a['answered']} | {a['total']} |")
    g = s["grounding"]
    lines += [
        "",
        "## Grounding",
        "",
        f"Answered questions with a reference span: {g['with_reference']}; answers citing any "
        f"evidence: {g['cited']}; evidence overlapping the reference: {g['overlapping']} "
        f"(**{_pct(g['overlap_share'])}%**); mean IoU **{_fmt(g['mean_iou'])}** "
        "(an answer with no evidence counts as IoU 0).",
        "",
        "## Calibration",
        "",
        f"Expected calibration error: **{_fmt(s['calibration']['ece'])}** over "
        f"{s['calibration']['n']} answers with a confidence.",
        "",
        "| confidence | n | mean confidence | accuracy % |",
        "|---|---|---|---|",
    ]
    for b in s["calibration"]["buckets"]:
        lines.append(
            f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['n']} | {_fmt(b['mean_confidence'])} | "
            f"{_pct(b['accuracy'])} |"
        )
    lines += [
        "",
        "## Cost per question",
        "",
        "| cost | mean | median | max | total |",
        "|---|---|---|---|---|",
    ]
    for k, c in s["cost"].items():
        lines.append(
            f"| {k} | {c['mean']:.3g} | {c['median']:.3g} | {c['max']:.3g} | {c['total']:.4g} |"
        )
    lines += [
        "",
        "## Labels",
        "",
        f"Gold letters: {_counts(s['gold_letters'])}; "
        f"predicted: {_counts(s['predicted_letters'])}.",
    ]
    if s["excluded"]:
        lines += ["", "Excluded questions:", ""]
        lines += [f"- `{e['uid']}`: {e['reason']}" for e in s["excluded"][:50]]
        if len(s["excluded"]) > 50:
            lines.append(f"- ... and {len(s['excluded']) - 50} more")
    problems = out / PROBLEMS_FILE
    if problems.is_file() and problems.stat().st_size:
        n = len(problems.read_text(encoding="utf-8").splitlines())
        lines += ["", f"The loader reported {n} problem(s); see `{PROBLEMS_FILE}`."]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items()) or "none"


def _plots(out: Path, s: dict[str, Any]) -> list[str]:
    """Accuracy by category and length, reliability diagram, cost histogram (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=80)
        plt.close(fig)
        made.append(name)

    by_key = s["scores"]["by_key"]
    keys = [k for k, a in by_key.items() if a["total"]]
    if keys:
        fig, ax = plt.subplots(figsize=(6, 3))
        x = range(len(keys))
        ax.bar(
            [i - 0.2 for i in x],
            [100 * (by_key[k]["official"] or 0) for k in keys],
            0.4,
            label="official",
        )
        ax.bar(
            [i + 0.2 for i in x],
            [100 * (by_key[k]["strict"] or 0) for k in keys],
            0.4,
            label="strict",
        )
        ax.set_xticks(list(x), keys)
        ax.set_ylabel("accuracy %")
        ax.set_ylim(0, 100)
        ax.legend()
        save(fig, "accuracy_by_category.png")
    lengths = s["by_length"]
    if lengths:
        fig, ax = plt.subplots(figsize=(6, 3))
        ks = list(lengths)
        ax.bar(ks, [100 * (lengths[k]["official"] or 0) for k in ks])
        ax.set_ylabel("accuracy %")
        ax.set_xlabel("video length")
        ax.set_ylim(0, 100)
        save(fig, "accuracy_by_length.png")
    buckets = [b for b in s["calibration"]["buckets"] if b["n"]]
    if buckets:
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.plot([b["mean_confidence"] for b in buckets], [b["accuracy"] for b in buckets], "o-")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        save(fig, "calibration.png")
    if s["cost"]:
        fig, ax = plt.subplots(figsize=(6, 3))
        ks = list(s["cost"])
        ax.bar(ks, [s["cost"][k]["mean"] for k in ks])
        ax.set_yscale("symlog")
        ax.set_ylabel("mean per question")
        save(fig, "cost.png")
    return made
