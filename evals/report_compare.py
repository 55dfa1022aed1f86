"""Several runs of one benchmark side by side: ``report.md``, ``report.html``,
``comparison.json`` and plots in a folder of their own.

A run is a method with the models it was configured with; each gets a column.  Runs are only
compared when the numbers mean the same thing:

- they must be runs of the same task (an LVBench run next to a needle run is refused);
- they must share questions (same uid, same question text, options and gold answer); runs that
  selected different subsets of one benchmark (``--limit``, another ``--option per_kind``) are
  compared on the questions they share, and the report says how many of each run's questions
  were left out; runs with no question in common, or one uid asking two different things
  (another generated video reusing the uids), are refused.

Every refusal is one line naming the two runs and what differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidsleuth.errors import ConfigError
from vidsleuth.evals import metrics
from vidsleuth.evals.report import SESSION_TEXT, summarize
from vidsleuth.evals.report_plots import comparison_plots, number
from vidsleuth.evals.runner import read_questions, read_run

REPORT_FILE = "report.md"
COMPARISON_JSON = "comparison.json"
QUESTION_CHARS = 90  # question text shown in the per-question table


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _of(n: int, d: int) -> str:
    return f"{_pct(n / d if d else None)} ({n}/{d})"


def _identity(q: dict[str, Any]) -> tuple[str, str, str]:
    """What makes two questions with one uid the same question."""
    return (
        str(q.get("question") or "").strip(),
        json.dumps(q.get("options") or {}, sort_keys=True, ensure_ascii=False),
        str(q.get("answer")),
    )


def common_questions(folders: Sequence[Path]) -> tuple[list[str], dict[str, int]]:
    """The scorable question uids every run holds (in the first run's order) and, per folder,
    how many of its scorable questions are not among them; raises :class:`ConfigError` (one
    line) when the runs are not of one benchmark."""
    if len(folders) < 2:
        raise ConfigError("a comparison needs two or more run folders")
    seen: set[Path] = set()
    for f in folders:
        if Path(f).resolve() in seen:
            raise ConfigError(f"{f}: given twice; name each run folder once")
        seen.add(Path(f).resolve())
    runs = [read_run(Path(f)) for f in folders]
    first, task = folders[0], runs[0].get("task")
    for f, run in zip(folders[1:], runs[1:], strict=True):
        if run.get("task") != task:
            raise ConfigError(
                f"cannot compare runs of different benchmarks: {first} is {task!r}, "
                f"{f} is {run.get('task')!r}"
            )
    questions = [
        {str(q["uid"]): q for q in read_questions(Path(f)) if not q.get("excluded")}
        for f in folders
    ]
    order = list(questions[0])
    common = set(order)
    for f, run, qs in zip(folders[1:], runs[1:], questions[1:], strict=True):
        shared = common & set(qs)
        if not shared:
            raise ConfigError(
                f"cannot compare: {f} shares no question with "
                f"{'the runs before it' if len(folders) > 2 else first} (data {run.get('data')} "
                f"vs {runs[0].get('data')}); compare runs of one benchmark"
            )
        for uid in sorted(shared):
            if _identity(qs[uid]) != _identity(questions[0][uid]):
                raise ConfigError(
                    f"cannot compare: question {uid!r} differs between {first} and {f} "
                    "(different data under the same uid); compare runs of one benchmark"
                )
        common = shared
    kept = [u for u in order if u in common]
    left_out = {str(f): len(qs) - len(kept) for f, qs in zip(folders, questions, strict=True)}
    return kept, left_out


def _label(run: dict[str, Any], s: dict[str, Any]) -> str:
    """Method name, plus the chat model when a model chose any of the answers."""
    chat = (run.get("configured_models") or {}).get("chat")
    if chat and "model" in s["answered_by"]:
        return f"{run['method']} · {str(chat).split(':', 1)[-1]}"
    return str(run["method"])


def _labels(folders: Sequence[Path], sums: list[dict[str, Any]]) -> list[str]:
    """Run labels, with the folder name added where two runs would share one."""
    names = [_label(s["run"], s) for s in sums]
    return [
        f"{n} ({Path(f).name})" if names.count(n) > 1 else n
        for n, f in zip(names, folders, strict=True)
    ]


def _models(s: dict[str, Any]) -> str:
    models = s["run"].get("configured_models") or {}
    text = ", ".join(f"{k} {v}" for k, v in models.items()) or "none recorded"
    if models and "model" not in s["answered_by"]:
        text += " (no answer came from a model)"
    return text


def _median(s: dict[str, Any], key: str) -> str:
    c = s["cost"].get(key)
    if not c:
        return "-"
    return f"{number(c['median'])} (mean {number(c['mean'])}, max {number(c['max'])})"


def _method_table(
    labels: list[str], folders: Sequence[Path], sums: list[dict[str, Any]]
) -> list[str]:
    lines = [
        "| measure | " + " | ".join(_cell(lab) for lab in labels) + " |",
        "|---|" + "---|" * len(labels),
    ]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("run folder", [f"`{_cell(Path(f).name)}`" for f in folders])
    row("code", [_cell(str(s["run"].get("code") or "not recorded")) for s in sums])
    row("session mode", [s["session_mode"] for s in sums])
    row("configured models", [_cell(_models(s)) for s in sums])
    row("questions compared", [str(s["confidence"]["questions"]) for s in sums])
    row("answered", [str(s["confidence"]["answered"]) for s in sums])
    overall = sums[0]["run"].get("overall_key", "Overall")
    keys = [overall]
    for s in sums:
        keys += [k for k, a in s["scores"]["by_key"].items() if a["total"] and k not in keys]
    for k in keys:
        cells = []
        for s in sums:
            a = s["scores"]["by_key"].get(k)
            cells.append(_of(a["correct"], a["total"]) if a and a["total"] else "-")
        row(f"**accuracy: {_cell(k)}**" if k == overall else f"accuracy: {_cell(k)}", cells)
    row(
        "accuracy among answered (official)",
        [
            _of(
                s["scores"]["by_key"][overall]["correct"],
                s["scores"]["by_key"][overall]["answered"],
            )
            for s in sums
        ],
    )
    thr = sums[0]["confidence"]["threshold"]
    row(
        f"confident-wrong rate (conf >= {thr:g})",
        [_of(s["confidence"]["confident_wrong"], s["confidence"]["questions"]) for s in sums],
    )
    row(
        "accuracy among confident",
        [
            _of(
                s["confidence"]["confident"] - s["confidence"]["confident_wrong"],
                s["confidence"]["confident"],
            )
            for s in sums
        ],
    )
    row("ECE", [f"{_fmt(s['confidence']['ece'])} (n={s['confidence']['ece_n']})" for s in sums])
    row(
        "AURC, lower is better (oracle)",
        [f"{_fmt(s['confidence']['aurc'])} ({_fmt(s['confidence']['aurc_oracle'])})" for s in sums],
    )
    row(
        "grounding: evidence overlaps reference",
        [
            f"{_of(s['grounding']['overlapping'], s['grounding']['with_reference'])}, "
            f"mean IoU {_fmt(s['grounding']['mean_iou'])}"
            for s in sums
        ],
    )
    row(
        "answers citing evidence",
        [f"{s['grounding']['cited']}/{s['grounding']['with_reference']}" for s in sums],
    )
    row("seconds / question, median", [_median(s, "seconds") for s in sums])
    row("model calls / question, median", [_median(s, "model_calls") for s in sums])
    row("tokens / question, median", [_median(s, "tokens") for s in sums])
    who: list[str] = []
    for s in sums:
        who += [k for k in s["answered_by"] if k not in who]
    for k in who:
        cells = []
        for s in sums:
            a = s["answered_by"].get(k)
            cells.append(f"{a['total']} ({a['correct']}/{a['total']} right)" if a else "0")
        row(f"answered by {_cell(k)}", cells)
    tools: list[str] = []
    for s in sums:
        tools += [k for k in s["by_tool"] if k not in tools]
    for k in tools:
        cells = []
        for s in sums:
            a = s["by_tool"].get(k)
            cells.append(
                f"{a['total']} q, {a['calls']} calls, {_pct(a['strict'])} right" if a else "-"
            )
        row(f"used tool {_cell(k)}", cells)
    return lines


def _spans(spans: Any) -> str:
    out = []
    for sp in spans or []:
        try:
            out.append(f"{float(sp[0]):.1f}-{float(sp[1]):.1f}s")
        except (TypeError, ValueError, IndexError):
            out.append(str(sp))
    shown = ", ".join(out[:2])
    return shown + (f" +{len(out) - 2}" if len(out) > 2 else "") if out else "none"


def _answer_cell(p: dict[str, Any] | None) -> str:
    if p is None:
        return "not in run"
    mark = "✓" if p["correct"] else "✗"
    conf = _fmt(p["confidence"]) if p["confidence"] is not None else "-"
    secs = p["seconds"]
    t = f"{secs:.1f} s" if isinstance(secs, int | float) else "- s"
    ev = _spans(p["evidence"])
    return f"{p['answer'] or '-'} {mark} · {conf} · {p['answered_by']} · ev {ev} · {t}"


def _question_table(labels: list[str], sums: list[dict[str, Any]], uids: list[str]) -> list[str]:
    lines = [
        "Each cell: answer, right (✓) or wrong (✗), confidence, who answered, evidence cited, "
        "seconds.",
        "",
        "| uid | question | gold | " + " | ".join(_cell(lab) for lab in labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    per = [{str(p["uid"]): p for p in s["per_question"]} for s in sums]
    for uid in uids:
        first = next((p[uid] for p in per if uid in p), None)
        if first is None:
            continue
        text = " ".join(str(first["question"]).split())
        if len(text) > QUESTION_CHARS:
            text = text[: QUESTION_CHARS - 1] + "…"
        cells = [_cell(_answer_cell(p.get(uid))) for p in per]
        lines.append(
            f"| `{_cell(uid)}` | {_cell(text)} | {first['gold']} | " + " | ".join(cells) + " |"
        )
    return lines


def compare(
    folders: Sequence[Path], threshold: float = metrics.CONFIDENT_THRESHOLD
) -> dict[str, Any]:
    """The runs' summaries over their shared questions, with labels (refuses other benchmarks)."""
    folders = [Path(f) for f in folders]
    uids, left_out = common_questions(folders)
    sums = [summarize(f, threshold, uids) for f in folders]
    labels = _labels(folders, sums)
    return {
        "task": sums[0]["run"]["task"],
        "data": sorted({str(s["run"].get("data")) for s in sums}),
        "threshold": threshold,
        "uids": uids,
        "left_out": left_out,
        "methods": [
            {"label": lab, "folder": str(f), "summary": s}
            for lab, f, s in zip(labels, folders, sums, strict=True)
        ],
    }


def _session_modes(labels: list[str], sums: list[dict[str, Any]]) -> str:
    modes = [s["session_mode"] for s in sums]
    if len(set(modes)) == 1:
        return f"**{SESSION_TEXT.get(modes[0], modes[0])}**, every run"
    return "; ".join(
        f"{lab}: **{SESSION_TEXT.get(m, m)}**" for lab, m in zip(labels, modes, strict=True)
    )


def _markdown(c: dict[str, Any], plots: list[str]) -> str:
    ms = c["methods"]
    labels = [m["label"] for m in ms]
    folders = [Path(m["folder"]) for m in ms]
    sums = [m["summary"] for m in ms]
    left = [f"{Path(f).name} {n}" for f, n in c["left_out"].items() if n]
    lines = [
        f"# {c['task']}: {len(ms)} runs side by side",
        "",
        f"- data: {', '.join(f'`{d}`' for d in c['data'])}",
        f"- questions compared: **{len(c['uids'])}** (those every run holds)"
        + (f"; left out of the comparison: {', '.join(left)}" if left else ""),
        "- session mode: " + _session_modes(labels, sums),
        "- accuracy counts a missing answer as wrong; `answered by` says who chose each letter "
        "(`model`: a model's reply, `rule`: code, `none`: no answer, `unreported`: the method "
        f"did not say); confident means confidence >= {c['threshold']:g}; medians are over the "
        "questions each method was asked.",
        "",
        "## Methods",
        "",
        *_method_table(labels, folders, sums),
        "",
        "## Plots",
        "",
        *plots,
        "",
        "## Per question",
        "",
        *_question_table(labels, sums, c["uids"]),
    ]
    return "\n".join(lines) + "\n"


def build_comparison(
    folders: Sequence[Path], out: Path, threshold: float = metrics.CONFIDENT_THRESHOLD
) -> Path:
    """Write ``report.md``, ``report.html``, ``comparison.json`` and the plots into ``out`` for
    several runs of one benchmark; return the ``report.md`` path."""
    out = Path(out)
    if any(out.resolve() == Path(f).resolve() for f in folders):
        raise ConfigError(f"{out}: is one of the run folders; choose another --out")
    c = compare(folders, threshold)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{c['task']} ({len(c['uids'])} questions)"
    plots = comparison_plots(out, title, c["methods"])
    md = _markdown(c, plots.markdown())
    path = out / REPORT_FILE
    path.write_text(md, encoding="utf-8")
    from vidsleuth.evals.report_html import write_page

    write_page(out, f"{c['task']}: runs side by side", md)
    slim = {
        "task": c["task"],
        "data": c["data"],
        "threshold": threshold,
        "questions": c["uids"],
        "left_out": c["left_out"],
        "plots": plots.made,
        "plots_left_out": [{"plot": p, "why": w} for p, w in plots.skipped],
        "methods": [
            {
                "label": m["label"],
                "folder": m["folder"],
                "session_mode": m["summary"]["session_mode"],
                "configured_models": m["summary"]["run"].get("configured_models") or {},
                "scores": m["summary"]["scores"],
                "answered_by": m["summary"]["answered_by"],
                "by_tool": m["summary"]["by_tool"],
                "grounding": m["summary"]["grounding"],
                "cost": m["summary"]["cost"],
                "confidence": {k: v for k, v in m["summary"]["confidence"].items() if k != "curve"},
            }
            for m in c["methods"]
        ],
    }
    (out / COMPARISON_JSON).write_text(json.dumps(slim, indent=1) + "\n", encoding="utf-8")
    return path
