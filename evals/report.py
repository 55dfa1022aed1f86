"""``report.md`` + PNG plots + ``summary.json`` from an eval output folder alone.

Everything is recomputed from ``run.json``, ``questions.jsonl`` and ``results.jsonl``, so
``vidsleuth eval report DIR`` gives the same report as the run that wrote the folder.

Every number says who answered and how sure it was: accuracy is broken down by ``answered_by``
(model, rule, none, or unreported when a method did not say) and by the tools called; the
calibration section gives accuracy, the confident-wrong rate (wrong answers at or above the
confidence threshold, as a share of all questions), accuracy among confident answers, ECE, a
reliability diagram and a coverage-accuracy curve with its AURC.  The report also says whether
the questions were isolated (a fresh session each) or shared a session.

``vidsleuth eval report DIR1 DIR2 ...`` rebuilds each folder's report and writes a comparison
(:func:`build_comparison`): per benchmark (task + data), one table with the methods side by
side, a per-question table, and the methods' reliability diagrams and coverage curves together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
COMPARISON_FILE = "comparison.md"
COMPARISON_JSON = "comparison.json"
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


def summarize(out: Path, threshold: float = metrics.CONFIDENT_THRESHOLD) -> dict[str, Any]:
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
    per_question = []
    for q in questions:
        if q.get("excluded"):
            continue
        r = rows.get(q["uid"])
        per_question.append(
            {
                "uid": q["uid"],
                "categories": q.get("categories") or [],
                "gold": q.get("answer"),
                "answer": r.get("answer") if r else None,
                "correct": bool(r and r.get("answer") is not None and r["answer"] == q["answer"]),
                "confidence": r.get("confidence") if r else None,
                "answered_by": metrics.answered_by_label(r),
                "tools_used": (r.get("tools_used") or {}) if r else {},
                "seconds": ((r.get("cost") or {}).get("seconds") if r else None),
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
    plots = _plots(out, s)
    path = out / REPORT_FILE
    md = _markdown(out, s, plots)
    path.write_text(md, encoding="utf-8")
    from vidsleuth.evals.report_html import write_html_report

    write_html_report(out, s, md)
    return path


def _models_text(run: dict[str, Any]) -> str:
    models = run.get("configured_models") or {}
    return ", ".join(f"{k} `{v}`" for k, v in models.items()) or "none recorded"


def _markdown(out: Path, s: dict[str, Any], plots: list[str]) -> str:
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
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
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


# --- plots ------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _reliability(ax: Any, buckets: list[dict[str, Any]], label: str, annotate: bool) -> None:
    used = [b for b in buckets if b["n"]]
    xs = [b["mean_confidence"] for b in used]
    ys = [b["accuracy"] for b in used]
    ax.plot(xs, ys, "o-", label=label)
    if annotate:
        for b in used:
            ax.annotate(
                f"n={b['n']}",
                (b["mean_confidence"], b["accuracy"]),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
            )


def _plots(out: Path, s: dict[str, Any]) -> list[str]:
    """Accuracy by category, answerer and length, reliability, coverage curve, cost (Agg)."""
    plt = _pyplot()
    made: list[str] = []
    method = s["run"]["method"]

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=80)
        plt.close(fig)
        made.append(name)

    by_key = s["scores"]["by_key"]
    keys = [k for k, a in by_key.items() if a["total"]]
    if keys:
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(keys) + 2), 3.2))
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
        ax.set_xticks(list(x), [f"{k}\n(n={by_key[k]['total']})" for k in keys], fontsize=7)
        ax.set_ylabel("accuracy %")
        ax.set_ylim(0, 100)
        ax.set_title(f"Accuracy by category: {method}")
        ax.legend(fontsize=7)
        save(fig, "accuracy_by_category.png")
    by = s["answered_by"]
    if by:
        fig, ax = plt.subplots(figsize=(5, 3))
        ks = list(by)
        ax.bar(ks, [100 * (by[k]["strict"] or 0) for k in ks])
        for i, k in enumerate(ks):
            ax.annotate(f"{by[k]['correct']}/{by[k]['total']}", (i, 2), ha="center", fontsize=8)
        ax.set_ylabel("accuracy %")
        ax.set_ylim(0, 100)
        ax.set_title(f"Accuracy by who answered: {method}")
        save(fig, "accuracy_by_answered_by.png")
    lengths = s["by_length"]
    if lengths:
        fig, ax = plt.subplots(figsize=(6, 3))
        ks = list(lengths)
        ax.bar(
            [f"{k}\n(n={lengths[k]['total']})" for k in ks],
            [100 * (lengths[k]["official"] or 0) for k in ks],
        )
        ax.set_ylabel("accuracy %")
        ax.set_xlabel("video length")
        ax.set_ylim(0, 100)
        ax.set_title(f"Accuracy by video length: {method}")
        save(fig, "accuracy_by_length.png")
    cal = s["calibration"]
    if any(b["n"] for b in cal["buckets"]):
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        _reliability(ax, cal["buckets"], method, annotate=True)
        ax.set_xlabel("mean confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"Reliability: {method}\n{cal['n']} answers, ECE {_fmt(cal['ece'])}")
        ax.legend(fontsize=7, loc="upper left")
        save(fig, "calibration.png")
    conf = s["confidence"]
    if conf["curve"]:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs, ys = zip(*conf["curve"], strict=True)
        ax.plot(xs, ys, label=f"{method} (AURC {_fmt(conf['aurc'])})")
        ax.axvline(conf["confident_coverage"] or 0, color="grey", ls=":", lw=1)
        ax.set_xlabel("coverage (share of questions answered, most confident first)")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(
            f"Coverage vs accuracy: {method}\n{conf['questions']} questions; dotted: "
            f"confidence >= {conf['threshold']:g}"
        )
        ax.legend(fontsize=7)
        save(fig, "coverage_accuracy.png")
    if s["cost"]:
        fig, ax = plt.subplots(figsize=(6, 3))
        ks = list(s["cost"])
        ax.bar(ks, [s["cost"][k]["mean"] for k in ks])
        ax.set_yscale("symlog")
        ax.set_ylabel("mean per question")
        n = max(c["n"] for c in s["cost"].values())
        ax.set_title(f"Cost per question: {method} (n={n})")
        save(fig, "cost.png")
    return made


# --- several runs side by side ----------------------------------------------------------------


def _labels(summaries: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Method names, with the folder name added where two runs share a method name."""
    names = [s["run"]["method"] for _, s in summaries]
    return [
        f"{n} ({folder.name})" if names.count(n) > 1 else n
        for n, (folder, _) in zip(names, summaries, strict=True)
    ]


def compare(
    folders: Sequence[Path], threshold: float = metrics.CONFIDENT_THRESHOLD
) -> list[dict[str, Any]]:
    """Group run folders by benchmark (task + data) and line their numbers up per method."""
    groups: dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for folder in folders:
        s = summarize(Path(folder), threshold)
        key = (s["run"]["task"], str(s["run"]["data"]))
        groups.setdefault(key, []).append((Path(folder), s))
    out = []
    for (task, data), members in groups.items():
        labels = _labels(members)
        out.append(
            {
                "task": task,
                "data": data,
                "methods": [
                    {"label": lab, "folder": str(folder), "summary": s}
                    for lab, (folder, s) in zip(labels, members, strict=True)
                ],
            }
        )
    return out


def _group_table(g: dict[str, Any]) -> list[str]:
    ms = g["methods"]
    head = "| measure | " + " | ".join(_cell(m["label"]) for m in ms) + " |"
    lines = [head, "|---|" + "---|" * len(ms)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    sums = [m["summary"] for m in ms]
    row("folder", [f"`{Path(m['folder']).name}`" for m in ms])
    row("session mode", [s["session_mode"] for s in sums])
    row("configured models", [_cell(_models_text(s["run"])) for s in sums])
    row("questions (scorable)", [str(s["confidence"]["questions"]) for s in sums])
    row("answered", [str(s["confidence"]["answered"]) for s in sums])
    keys: list[str] = []
    for s in sums:
        keys += [k for k, a in s["scores"]["by_key"].items() if a["total"] and k not in keys]
    for k in keys:
        cells = []
        for s in sums:
            a = s["scores"]["by_key"].get(k)
            cells.append(
                f"{_pct(a['strict'])} ({a['correct']}/{a['total']})" if a and a["total"] else "-"
            )
        row(f"accuracy % strict: {k}", cells)
    row(
        "accuracy % official (answered only)",
        [
            _pct(s["scores"]["by_key"][s["run"].get("overall_key", "Overall")]["official"])
            for s in sums
        ],
    )
    who: list[str] = []
    for s in sums:
        who += [k for k in s["answered_by"] if k not in who]
    for k in who:
        cells = []
        for s in sums:
            a = s["answered_by"].get(k)
            cells.append(f"{a['total']} q, {_pcts(a['strict'])} right" if a else "-")
        row(f"answered by {k}", cells)
    tools: list[str] = []
    for s in sums:
        tools += [k for k in s["by_tool"] if k not in tools]
    for k in tools:
        cells = []
        for s in sums:
            a = s["by_tool"].get(k)
            cells.append(f"{a['total']} q, {_pcts(a['strict'])} right" if a else "-")
        row(f"used tool {_cell(k)}", cells)
    thr = sums[0]["confidence"]["threshold"]
    row(
        f"confident-wrong rate % (conf >= {thr:g})",
        [f"{_pct(s['confidence']['confident_wrong_rate'])}" for s in sums],
    )
    row(
        "accuracy % among confident",
        [
            f"{_pct(s['confidence']['confident_accuracy'])} (n={s['confidence']['confident']})"
            for s in sums
        ],
    )
    row("ECE", [_fmt(s["confidence"]["ece"]) for s in sums])
    row(
        "AURC (oracle)",
        [f"{_fmt(s['confidence']['aurc'])} ({_fmt(s['confidence']['aurc_oracle'])})" for s in sums],
    )
    row(
        "mean seconds / question",
        [f"{s['cost']['seconds']['mean']:.3g}" if "seconds" in s["cost"] else "-" for s in sums],
    )
    row(
        "mean tokens / question",
        [f"{s['cost']['tokens']['mean']:.3g}" if "tokens" in s["cost"] else "-" for s in sums],
    )
    return lines


def _question_table(g: dict[str, Any]) -> list[str]:
    ms = g["methods"]
    head = "| uid | categories | gold | " + " | ".join(_cell(m["label"]) for m in ms) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(ms)]
    per = [{p["uid"]: p for p in m["summary"]["per_question"]} for m in ms]
    order: list[str] = []
    for m in ms:
        order += [p["uid"] for p in m["summary"]["per_question"] if p["uid"] not in order]
    for uid in order:
        first = next(p[uid] for p in per if uid in p)
        cells = []
        for p in per:
            r = p.get(uid)
            if r is None:
                cells.append("not in run")
                continue
            mark = "✓" if r["correct"] else "✗"
            c = _fmt(r["confidence"]) if r["confidence"] is not None else "-"
            cells.append(f"{r['answer'] or '-'} {mark} ({c}, {r['answered_by']})")
        lines.append(
            f"| `{_cell(uid)}` | {_cell(', '.join(first['categories']))} | {first['gold']} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _comparison_plots(out: Path, i: int, g: dict[str, Any]) -> list[str]:
    plt = _pyplot()
    made = []
    title = f"{g['task']} ({Path(g['data']).name})"
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for m in g["methods"]:
        cal = m["summary"]["calibration"]
        if cal["n"]:
            _reliability(
                ax, cal["buckets"], f"{m['label']} (n={cal['n']}, ECE {_fmt(cal['ece'])})", False
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability: {title}")
    ax.legend(fontsize=7, loc="upper left")
    name = f"reliability_{i}.png"
    fig.tight_layout()
    fig.savefig(out / name, dpi=80)
    plt.close(fig)
    made.append(name)
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in g["methods"]:
        conf = m["summary"]["confidence"]
        if conf["curve"]:
            xs, ys = zip(*conf["curve"], strict=True)
            ax.plot(
                xs,
                ys,
                label=f"{m['label']} (N={conf['questions']}, AURC {_fmt(conf['aurc'])})",
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (most confident first)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Coverage vs accuracy: {title}")
    ax.legend(fontsize=7)
    name = f"coverage_{i}.png"
    fig.tight_layout()
    fig.savefig(out / name, dpi=80)
    plt.close(fig)
    made.append(name)
    return made


def build_comparison(
    folders: Sequence[Path], out: Path, threshold: float = metrics.CONFIDENT_THRESHOLD
) -> Path:
    """``comparison.md`` + ``comparison.json`` + plots in ``out`` for several run folders."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = compare(folders, threshold)
    lines = [
        f"# Comparison of {len(folders)} run(s)",
        "",
        "Per benchmark (task + data), methods side by side.  Strict accuracy counts a missing "
        "answer as wrong; `answered by` says who chose each letter (`unreported`: the method "
        f"did not say); confident means confidence >= {threshold:g}.",
    ]
    for i, g in enumerate(groups):
        plots = _comparison_plots(out, i, g)
        lines += ["", f"## {g['task']}: `{g['data']}`", ""]
        lines += _group_table(g)
        lines += ["", *[f"![{p}]({p})" for p in plots], ""]
        lines += [f"### Per question ({g['task']})", "", *_question_table(g)]
    path = out / COMPARISON_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    slim = [
        {
            "task": g["task"],
            "data": g["data"],
            "methods": [
                {
                    "label": m["label"],
                    "folder": m["folder"],
                    "session_mode": m["summary"]["session_mode"],
                    "scores": m["summary"]["scores"],
                    "answered_by": m["summary"]["answered_by"],
                    "by_tool": m["summary"]["by_tool"],
                    "confidence": {
                        k: v for k, v in m["summary"]["confidence"].items() if k != "curve"
                    },
                }
                for m in g["methods"]
            ],
        }
        for g in groups
    ]
    (out / COMPARISON_JSON).write_text(json.dumps(slim, indent=1) + "\n", encoding="utf-8")
    return path
