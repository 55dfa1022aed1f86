"""``report.md`` + PNG plots + ``summary.json`` from an eval output folder alone.

Everything is recomputed from ``run.json``, ``questions.jsonl`` and ``results.jsonl``, so
``vidsleuth eval report DIR`` gives the same report as the run that wrote the folder.

Every number says who answered and how sure it was: accuracy is broken down by ``answered_by``
(model, rule, none, or unreported when a method did not say) and by the tools called; the
calibration section gives accuracy, the confident-wrong rate (wrong answers at or above the
confidence threshold, as a share of all questions), accuracy among confident answers, ECE, a
reliability diagram and a coverage-accuracy curve with its AURC.  The report also says whether
the questions were isolated (a fresh session each) or shared a session.

``vidsleuth eval report DIR1 DIR2 ...`` rebuilds each folder's report and puts the runs side by
side (:mod:`vidsleuth.evals.report_compare`).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from vidsleuth.evals import metrics
from vidsleuth.evals.report_plots import Plots, run_plots
from vidsleuth.evals.runner import (
    PROBLEMS_FILE,
    RESULTS_FILE,
    read_questions,
    read_results,
    read_run,
)

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"
SESSION_TEXT = {
    "isolated": "isolated (every question in a fresh session; no question saw another's answer)",
    "shared": "shared (the questions of a video ran in one session, in order)",
}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _pcts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items()) or "none"


def _tools_text(tools: dict[str, int] | None) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted((tools or {}).items())) or "-"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summarize(
    out: Path,
    threshold: float = metrics.CONFIDENT_THRESHOLD,
    uids: Collection[str] | None = None,
) -> dict[str, Any]:
    """All report numbers as one JSON-able dict; with ``uids``, over those questions only (a
    comparison scores every run on the questions they share)."""
    run = read_run(out)
    questions = read_questions(out)
    if uids is not None:
        keep = {str(u) for u in uids}
        questions = [q for q in questions if str(q["uid"]) in keep]
    rows = read_results(out / RESULTS_FILE)
    selected = {q["uid"] for q in questions}
    rows = {u: r for u, r in rows.items() if u in selected}
    answers = {u: r.get("answer") for u, r in rows.items()}
    overall_key = run.get("overall_key", "Overall")
    scores = metrics.score_answers(questions, answers, run.get("categories") or [], overall_key)
    excluded = [{"uid": q["uid"], "reason": q["excluded"]} for q in questions if q.get("excluded")]
    stop = metrics.letter_counts(r.get("stop_reason") for r in rows.values())
    asked = [r for r in rows.values() if r.get("stop_reason") not in ("video_missing",)]
    per_question = []
    for q in questions:
        if q.get("excluded"):
            continue
        r = rows.get(q["uid"])
        cost = (r.get("cost") or {}) if r else {}
        per_question.append(
            {
                "uid": q["uid"],
                "question": q.get("question") or "",
                "categories": q.get("categories") or [],
                "gold": q.get("answer"),
                "answer": r.get("answer") if r else None,
                "correct": bool(r and r.get("answer") is not None and r["answer"] == q["answer"]),
                "confidence": r.get("confidence") if r else None,
                "answered_by": metrics.answered_by_label(r),
                "tools_used": (r.get("tools_used") or {}) if r else {},
                "seconds": cost.get("seconds"),
                "model_calls": cost.get("model_calls"),
                "cost": cost,
                "evidence": (r.get("evidence") or []) if r else [],
                "stop_reason": r.get("stop_reason") if r else None,
            }
        )
    return {
        "run": run,
        "session_mode": run.get("session_mode", "isolated"),
        "questions": len(questions),
        "scores": scores.to_json(),
        "by_length": {
            k: v.to_json() for k, v in metrics.accuracy_by_length(questions, answers).items()
        },
        "answered_by": {
            k: v.to_json() for k, v in metrics.accuracy_by_answered_by(questions, rows).items()
        },
        "by_tool": metrics.accuracy_by_tool(questions, rows),
        "grounding": metrics.grounding(questions, rows).to_json(),
        "calibration": metrics.calibration(rows.values()),
        "confidence": metrics.calibration_summary(questions, rows, threshold),
        "cost": metrics.cost_summary(asked),
        "stop_reasons": stop,
        "excluded": excluded,
        "gold_letters": metrics.letter_counts(q.get("answer") for q in questions),
        "predicted_letters": metrics.letter_counts(a for a in answers.values() if a),
        "per_question": per_question,
    }


def build_report(out: Path, threshold: float = metrics.CONFIDENT_THRESHOLD) -> Path:
    """Write ``summary.json``, ``report.md``, the plots and ``report.html`` (with a page per
    question under ``questions/``); return the ``report.md`` path."""
    out = Path(out)
    s = summarize(out, threshold)
    (out / SUMMARY_FILE).write_text(json.dumps(s, indent=1, default=str) + "\n", encoding="utf-8")
    plots = run_plots(out, s)
    path = out / REPORT_FILE
    md = _markdown(out, s, plots)
    path.write_text(md, encoding="utf-8")
    from vidsleuth.evals.report_html import write_html_report

    write_html_report(out, s, md)
    return path


def _models_text(run: dict[str, Any]) -> str:
    models = run.get("configured_models") or {}
    return ", ".join(f"{k} `{v}`" for k, v in models.items()) or "none recorded"


def _markdown(out: Path, s: dict[str, Any], plots: Plots) -> str:
    run = s["run"]
    overall_key = run.get("overall_key", "Overall")
    by_key = s["scores"]["by_key"]
    ov = by_key[overall_key]
    conf = s["confidence"]
    lines = [
        f"# {run['task']}: method `{run['method']}`",
        "",
        f"- data: `{run['data']}`; seed {run['seed']}; questions selected: {s['questions']}",
        f"- **{overall_key}: {_pct(ov['official'])}% official** "
        f"({ov['correct']}/{ov['answered']} answered), **{_pct(ov['strict'])}% strict** "
        f"({ov['correct']}/{ov['total']}, missing counted wrong)",
        f"- missing predictions: **{ov['missing']}** (skipped by the official rule)",
        f"- excluded from scoring (data/label problems, open-ended): **{len(s['excluded'])}**",
        f"- session mode: **{SESSION_TEXT.get(s['session_mode'], s['session_mode'])}**",
        f"- configured models: {_models_text(run)} (who answered each question: below)",
        f"- answered by: {_counts({k: v['total'] for k, v in s['answered_by'].items()})}",
        f"- stop reasons: {', '.join(f'{k} {v}' for k, v in s['stop_reasons'].items()) or 'none'}",
    ]
    if run.get("task_options"):
        lines.append(f"- task options: {_counts(run['task_options'])}")
    lines += [
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
        "## Who answered",
        "",
        "`model`: a model's reply chose the letter; `rule`: code did (matcher, heuristic, "
        "baseline); `none`: no answer; `unreported`: the method did not say.",
        "",
        "| answered by | questions | correct | accuracy % |",
        "|---|---|---|---|",
    ]
    for k, a in s["answered_by"].items():
        lines.append(f"| {k} | {a['total']} | {a['correct']} | {_pct(a['strict'])} |")
    lines += [
        "",
        "## Accuracy by tool used",
        "",
        "A question that called several tools counts toward each.",
        "",
        "| tool | questions | calls | correct | accuracy % |",
        "|---|---|---|---|---|",
    ]
    for k, a in s["by_tool"].items():
        lines.append(
            f"| {_cell(k)} | {a['total']} | {a['calls']} | {a['correct']} | {_pct(a['strict'])} |"
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
        f"Over {conf['questions']} scorable questions; confident means confidence >= "
        f"{conf['threshold']:g}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| accuracy (missing counted wrong) | {_pcts(conf['accuracy'])} "
        f"({conf['correct']}/{conf['questions']}) |",
        f"| confident answers (coverage) | {conf['confident']} "
        f"({_pcts(conf['confident_coverage'])}) |",
        f"| accuracy among confident answers | {_pcts(conf['confident_accuracy'])} |",
        f"| confident-wrong rate (share of all questions) | "
        f"**{_pcts(conf['confident_wrong_rate'])}** ({conf['confident_wrong']}) |",
        f"| expected calibration error (ECE) | {_fmt(conf['ece'])} over {conf['ece_n']} answers |",
        f"| AURC (lower is better; oracle) | {_fmt(conf['aurc'])} ({_fmt(conf['aurc_oracle'])}) |",
        f"| answers without a confidence | {conf['answered_without_confidence']} |",
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
    if plots.made or plots.skipped:
        lines += ["", "## Plots", "", *plots.markdown()]
    lines += [
        "",
        "## Per question",
        "",
        "| uid | categories | gold | answer | right | confidence | answered by | tools | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in s["per_question"]:
        secs = p["seconds"]
        lines.append(
            f"| `{_cell(p['uid'])}` | {_cell(', '.join(p['categories']))} | {p['gold']} | "
            f"{p['answer'] or '-'} | {'yes' if p['correct'] else 'no'} | "
            f"{_fmt(p['confidence']) if p['confidence'] is not None else '-'} | "
            f"{p['answered_by']} | {_cell(_tools_text(p['tools_used']))} | "
            f"{f'{secs:.1f}' if isinstance(secs, int | float) else '-'} |"
        )
    return "\n".join(lines) + "\n"
