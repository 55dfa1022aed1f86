"""The PNG plots of a run's report and of a side-by-side comparison (matplotlib, Agg).

Every plot has a title, labelled axes and the counts behind each bar.  A bar chart that would
carry no information, one bar or only zeros, is not drawn: :func:`degenerate` says why, and the
report lists the plot and the reason instead (a single bar of "accuracy by video length" or
three zero bars of "cost" looked like results and were not).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsleuth.evals.schema import COST_KEYS

COST_UNITS = {
    "frames_decoded": "frames decoded",
    "model_calls": "model calls",
    "tokens": "model tokens",
    "seconds": "seconds (wall)",
}


@dataclass
class Plots:
    """The files drawn and, for each plot left out, why."""

    made: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def markdown(self) -> list[str]:
        lines = [f"![{p}]({p})" for p in self.made]
        if self.skipped:
            lines += ["", "Left out (one bar, all zero or all equal: nothing to compare):", ""]
            lines += [f"- `{name}`: {why}" for name, why in self.skipped]
        return lines


def number(x: float) -> str:
    """A cost for people: ``0``, ``<0.01``, ``0.847``, ``12.3``, ``1,234`` (never 1.78e-05)."""
    if x == 0:
        return "0"
    if abs(x) < 0.01:
        return "<0.01"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def degenerate(values: Sequence[float]) -> str | None:
    """Why a bar chart of ``values`` would show nothing (one bar, no bars, all zero), or None.

    Values under 0.005 count as zero: bars of a few microseconds are as empty as zero bars."""
    if not values:
        return "no bars"
    if len(values) == 1:
        return "one bar"
    if all(abs(v) < 0.005 for v in values):
        return "all zero"
    return None


def _flat(values: Sequence[float]) -> str | None:
    """Why a per-question histogram would show nothing (all zero, or every value the same)."""
    if not values:
        return "no questions"
    if all(abs(v) < 0.005 for v in values):
        return "all zero"
    if len(set(values)) == 1:
        return f"every question {number(values[0])}"
    return None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain(ax: Any) -> None:
    """Plain tick numbers: no offsets or scientific notation ("8.4735x10^-1" helps nobody)."""
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


class _Drawer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.plt = _pyplot()
        self.plots = Plots()

    def save(self, fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(self.out / name, dpi=80)
        self.plt.close(fig)
        self.plots.made.append(name)

    def skip(self, name: str, why: str) -> None:
        self.plots.skipped.append((name, why))

    def bars(
        self,
        name: str,
        title: str,
        labels: list[str],
        values: list[float],
        counts: list[str],
        ylabel: str,
        xlabel: str,
        what: str,
    ) -> None:
        """One bar per label with its count on top, or a note when the chart is degenerate
        (``what`` says what the bars would have shown)."""
        why = degenerate(values)
        if why:
            self.skip(name, f"{why} ({what or 'nothing'})")
            return
        fig, ax = self.plt.subplots(figsize=(max(5.0, 0.8 * len(labels) + 2), 3.2))
        bars = ax.bar(labels, values)
        ax.bar_label(bars, labels=counts, fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 110 if ylabel.endswith("%") else None)  # room for the counts
        ax.tick_params(axis="x", labelsize=7)
        _plain(ax)
        ax.set_title(title)
        self.save(fig, name)


def _acc_cell(a: dict[str, Any]) -> str:
    return f"{a['correct']}/{a['total']}"


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


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def run_plots(out: Path, s: dict[str, Any]) -> Plots:
    """A run's plots: accuracy by category, by who answered and by video length, reliability,
    coverage-accuracy and the cost per question."""
    d = _Drawer(out)
    method = s["run"]["method"]
    by_key = s["scores"]["by_key"]
    keys = [k for k, a in by_key.items() if a["total"]]
    d.bars(
        "accuracy_by_category.png",
        f"Accuracy by category: {method} (missing counted wrong)",
        [f"{k}\n(n={by_key[k]['total']})" for k in keys],
        [100 * (by_key[k]["strict"] or 0) for k in keys],
        [_acc_cell(by_key[k]) for k in keys],
        "accuracy %",
        "category",
        ", ".join(f"{k} {_acc_cell(by_key[k])}" for k in keys),
    )
    by = s["answered_by"]
    d.bars(
        "accuracy_by_answered_by.png",
        f"Accuracy by who answered: {method}",
        list(by),
        [100 * (by[k]["strict"] or 0) for k in by],
        [_acc_cell(by[k]) for k in by],
        "accuracy %",
        "who chose the answer",
        ", ".join(f"{k} {_acc_cell(by[k])}" for k in by),
    )
    lengths = s["by_length"]
    d.bars(
        "accuracy_by_length.png",
        f"Accuracy by video length: {method} (answered only)",
        [f"{k}\n(n={lengths[k]['total']})" for k in lengths],
        [100 * (lengths[k]["official"] or 0) for k in lengths],
        [f"{a['correct']}/{a['answered']}" for a in lengths.values()],
        "accuracy %",
        "video length",
        ", ".join(f"{k} {a['correct']}/{a['answered']}" for k, a in lengths.items()),
    )
    cal = s["calibration"]
    if any(b["n"] for b in cal["buckets"]):
        fig, ax = d.plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        _reliability(ax, cal["buckets"], method, annotate=True)
        ax.set_xlabel("mean confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"Reliability: {method}\n{cal['n']} answers, ECE {_fmt(cal['ece'])}")
        ax.legend(fontsize=7, loc="upper left")
        d.save(fig, "calibration.png")
    else:
        d.skip("calibration.png", "no answer carries a confidence")
    conf = s["confidence"]
    if conf["curve"]:
        fig, ax = d.plt.subplots(figsize=(5, 3.5))
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
        d.save(fig, "coverage_accuracy.png")
    _cost_histograms(d, method, cost_values(s["per_question"]))
    return d.plots


def cost_values(per_question: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each cost key's values over the questions a method was asked (not those whose video was
    missing, which cost nothing because nothing was tried)."""
    out: dict[str, list[float]] = {k: [] for k in COST_KEYS}
    for p in per_question:
        if p.get("stop_reason") in (None, "video_missing"):
            continue
        for k in COST_KEYS:
            v = (p.get("cost") or {}).get(k)
            if isinstance(v, int | float):
                out[k].append(float(v))
    return out


def _cost_histograms(d: _Drawer, method: str, values: dict[str, list[float]]) -> None:
    """One panel per cost with something to show: its distribution over the questions."""
    panels, flat = [], []
    for k in COST_KEYS:
        why = _flat(values.get(k) or [])
        if why:
            flat.append(f"{COST_UNITS[k]}: {why}")
        else:
            panels.append(k)
    if not panels:
        d.skip("cost.png", "; ".join(flat))
        return
    fig, axes = d.plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), squeeze=False)
    for ax, k in zip(axes[0], panels, strict=True):
        v = values[k]
        ax.hist(v, bins=min(20, max(2, len(set(v)))))
        ax.set_xlabel(f"{COST_UNITS[k]} per question")
        ax.set_ylabel("questions")
        _plain(ax)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.set_title(f"n={len(v)}, median {number(statistics.median(v))}", fontsize=9)
    fig.suptitle(f"Cost per question: {method}")
    d.save(fig, "cost.png")
    if flat:
        d.skip("cost.png", "panels left out: " + "; ".join(flat))


def comparison_plots(out: Path, title: str, methods: list[dict[str, Any]]) -> Plots:
    """Side-by-side plots: accuracy per category and method, median seconds and model calls per
    question, reliability diagrams and coverage curves of every method on one axis each."""
    d = _Drawer(out)
    labels = [m["label"] for m in methods]
    sums = [m["summary"] for m in methods]
    keys: list[str] = []
    for s in sums:
        keys += [k for k, a in s["scores"]["by_key"].items() if a["total"] and k not in keys]
    values = [
        100 * (s["scores"]["by_key"].get(k, {}).get("strict") or 0) for k in keys for s in sums
    ]
    why = degenerate(values)
    if why:
        d.skip("accuracy.png", f"{why} (every method and category)")
    else:
        fig, ax = d.plt.subplots(figsize=(max(6.0, 0.5 * len(values) + 2), 3.6))
        width = 0.8 / len(sums)
        for j, (lab, s) in enumerate(zip(labels, sums, strict=True)):
            accs = [s["scores"]["by_key"].get(k) for k in keys]
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(keys))]
            bars = ax.bar(
                xs, [100 * ((a or {}).get("strict") or 0) for a in accs], width, label=lab
            )
            ax.bar_label(bars, labels=[_acc_cell(a) if a else "-" for a in accs], fontsize=6)
        ax.set_xticks(range(len(keys)), keys, fontsize=7)
        ax.set_xlabel("category")
        ax.set_ylabel("accuracy % (missing counted wrong)")
        ax.set_ylim(0, 105)
        ax.set_title(f"Accuracy by method: {title}")
        ax.legend(fontsize=7)
        d.save(fig, "accuracy.png")
    for name, key, unit in (
        ("seconds.png", "seconds", "median seconds per question"),
        ("model_calls.png", "model_calls", "median model calls per question"),
    ):
        meds = [float((s["cost"].get(key) or {}).get("median") or 0) for s in sums]
        ns = [int((s["cost"].get(key) or {}).get("n") or 0) for s in sums]
        d.bars(
            name,
            f"{unit.capitalize()}: {title}",
            labels,
            meds,
            [f"{number(m)} (n={n})" for m, n in zip(meds, ns, strict=True)],
            unit,
            "method",
            ", ".join(f"{lab} {number(m)}" for lab, m in zip(labels, meds, strict=True)),
        )
    if any(s["calibration"]["n"] for s in sums):
        fig, ax = d.plt.subplots(figsize=(5, 5))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        for lab, s in zip(labels, sums, strict=True):
            cal = s["calibration"]
            if cal["n"]:
                _reliability(
                    ax, cal["buckets"], f"{lab} (n={cal['n']}, ECE {_fmt(cal['ece'])})", False
                )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Reliability: {title}")
        ax.legend(fontsize=7, loc="upper left")
        d.save(fig, "reliability.png")
    else:
        d.skip("reliability.png", "no method gave a confidence")
    if any(s["confidence"]["curve"] for s in sums):
        fig, ax = d.plt.subplots(figsize=(6, 4))
        for lab, s in zip(labels, sums, strict=True):
            conf = s["confidence"]
            if conf["curve"]:
                cx, cy = zip(*conf["curve"], strict=True)
                ax.plot(cx, cy, label=f"{lab} (N={conf['questions']}, AURC {_fmt(conf['aurc'])})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("coverage (most confident first)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Coverage vs accuracy: {title}")
        ax.legend(fontsize=7)
        d.save(fig, "coverage.png")
    return d.plots
