"""``vidsleuth eval``: run a benchmark, check its data, score predictions, rebuild a report.

``vidsleuth eval TASK ...`` is shorthand for ``vidsleuth eval run TASK ...``: the group inserts
``run`` whenever its first argument is not one of its own subcommands (``run``, ``report``,
``list``, ``build-real``), so ``vidsleuth eval report DIR`` and ``vidsleuth eval lvbench --data F``
both work and task names can never shadow a subcommand (the registry refuses the first three;
``build-real`` has a hyphen, which task names resolve to underscores).

- ``vidsleuth eval report DIR [DIR ...] [--out CMP] [--threshold 0.75]``: rebuild each folder's
  report; with two or more runs of one benchmark also write ``CMP/report.md`` and
  ``CMP/report.html`` (methods side by side, a per-question table, plots) and
  ``CMP/comparison.json``; runs of different benchmarks are refused (one line, exit 2).
- ``vidsleuth eval build-real --minutes 10 --out DIR/real-10min.mp4 [--seed S]``: build a
  real-clips haystack (video + manifest) from ``../shared/data/videos``; prints a clear "skipped"
  line and exits 0 when those clips are absent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, settings

IncludeOpt = Annotated[
    list[Path] | None,
    typer.Option("--include-path", help="extra folder to search for task.yaml (repeatable)"),
]


class _DefaultRunGroup(TyperGroup):
    """Route ``eval TASK`` to ``eval run TASK``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultRunGroup,
    help="Evaluate an answering method on a benchmark: `vidsleuth eval TASK --data PATH`.",
    no_args_is_help=True,
)


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


@eval_app.command("run")
def run_cmd(
    task: Annotated[str, typer.Argument(help="benchmark name (see `vidsleuth eval list`)")],
    data: Annotated[Path, typer.Option("--data", help="the benchmark's annotation file/folder")],
    videos: Annotated[
        Path | None, typer.Option("--videos", help="folder holding the videos")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="answering method")] = "random",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="first N questions")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="questions in flight")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed for seeded methods")] = 0,
    include_path: IncludeOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="validate the data, print every problem, answer nothing")
    ] = False,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="score this official predictions file instead"),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="KEY=VALUE for the task's loader (e.g. offsets=FILE, wording=both, open=yes)",
        ),
    ] = None,
    session_mode: Annotated[
        str,
        typer.Option(
            "--session-mode",
            help="isolated (a fresh session per question) or shared (one per video); recorded "
            "in run.json and refused for a method that does not support it",
        ),
    ] = "isolated",
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer every question of TASK with METHOD (resumable), then score and report."""
    from vidsleuth.evals.registry import get_task

    includes = list(include_path or [])
    t = get_task(task, includes)
    task_options = _parse_options(option or [])
    if check:
        raise typer.Exit(_check(t, data, videos, limit, json_out, task_options))
    if predictions is not None:
        _score_file(t, data, videos, limit, predictions, json_out, task_options)
        return
    from vidsleuth.evals.report import summarize
    from vidsleuth.evals.runner import RunOptions
    from vidsleuth.evals.runner import run as run_eval

    out = out or Path("eval-out") / f"{t.name}-{method.replace(':', '_')}-s{seed}"
    opts = RunOptions(
        task=t.name,
        data=data,
        videos=videos,
        method=method,
        limit=limit,
        workers=workers,
        out=out,
        seed=seed,
        include_paths=includes,
        task_options=task_options,
        session_mode=session_mode,
    )

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\r{done}/{total} questions")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    result = run_eval(t, opts, settings=settings(store=store), progress=progress)
    if result.loaded.problems:
        _err(f"{len(result.loaded.problems)} data problem(s); see {out / 'problems.txt'}")
    _err(f"asked {result.asked}, already done {result.resumed}; report: {out / 'report.md'}")
    summary = summarize(out)
    if json_out:
        print_json(summary)
    else:
        _print_scores(summary["scores"], summary["run"]["overall_key"])


@eval_app.command("report")
def report_cmd(
    folders: Annotated[
        list[Path], typer.Argument(help="one or more eval output folders (run folders)")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="where the side-by-side report goes (two or more folders; default "
            "eval-out/compare-TASK)",
        ),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="confidence at or above which an answer is "
            "'confident' (confident-wrong rate, accuracy among confident answers)",
        ),
    ] = 0.75,
    json_out: JsonOpt = False,
) -> None:
    """Rebuild report.md, report.html (a page per question), summary.json and the plots from
    saved results; with several runs of one benchmark, also put them side by side (report.md,
    report.html and comparison.json in --out)."""
    from vidsleuth.evals.report import build_report, summarize

    if len(folders) == 1:
        path = build_report(folders[0], threshold)
        summary = summarize(folders[0], threshold)
        if json_out:
            print_json(summary)
        else:
            _print_scores(summary["scores"], summary["run"]["overall_key"])
            _err(f"report: {path}")
        return
    from vidsleuth.evals.report_compare import COMPARISON_JSON, build_comparison, common_questions
    from vidsleuth.evals.runner import read_run

    common_questions(folders)  # refuse runs of different benchmarks before writing anything
    for f in folders:
        build_report(f, threshold)
    cmp_out = out or Path("eval-out") / f"compare-{read_run(folders[0])['task']}"
    path = build_comparison(folders, cmp_out, threshold)
    data = json.loads((cmp_out / COMPARISON_JSON).read_text(encoding="utf-8"))
    if json_out:
        print_json(data)
        return
    overall = summarize(folders[0], threshold)["run"].get("overall_key", "Overall")
    typer.echo(f"{data['task']}: {len(data['questions'])} question(s) compared")
    for m in data["methods"]:
        a = m["scores"]["by_key"][overall]
        c = m["confidence"]
        typer.echo(
            f"  {m['label']:32s} {a['correct']:4d}/{a['total']:<4d} right, "
            f"{c['confident_wrong']} confident-wrong, {m['session_mode']}"
        )
    _err(f"report: {path}")


@eval_app.command("build-real")
def build_real_cmd(
    out: Annotated[Path, typer.Option("--out", help="video to write (.mp4); OUT.json beside it")],
    minutes: Annotated[float, typer.Option("--minutes", "-m", help="length in minutes")] = 10.0,
    seed: Annotated[int, typer.Option("--seed", "-s", help="placement seed")] = 0,
    videos: Annotated[
        Path | None,
        typer.Option("--videos", help="folder of the real clips (default ../shared/data/videos)"),
    ] = None,
    fps: Annotated[float, typer.Option("--fps", help="output frame rate")] = 10.0,
    width: Annotated[int, typer.Option("--width", help="frame width (even)")] = 640,
    height: Annotated[int, typer.Option("--height", help="frame height (even)")] = 360,
    json_out: JsonOpt = False,
) -> None:
    """Build a real-clips haystack: the clips of SOURCES.md spliced into filler at seeded offsets.

    Evaluate it with `vidsleuth eval real_haystack --data OUT.json` (or the folder).
    """
    from vidsleuth.evals.real_haystack import (
        DEFAULT_VIDEOS_DIR,
        build,
        build_questions,
        missing_source_message,
        question_counts,
    )

    src = videos or DEFAULT_VIDEOS_DIR
    why = missing_source_message(src)
    if why:
        if json_out:
            print_json({"skipped": why})
        else:
            typer.echo(f"skipped: {why}")
        return
    manifest = build(src, out, minutes=minutes, seed=seed, fps=fps, width=width, height=height)
    counts = question_counts(build_questions(manifest, out.stem))
    if json_out:
        print_json(
            {
                "video": str(out),
                "manifest": str(out.with_suffix(".json")),
                "clips": len(manifest["clips"]),
                "missing": manifest["missing"],
                "questions": counts,
            }
        )
        return
    typer.echo(
        f"wrote {out} ({manifest['duration_s']:g} s, {len(manifest['clips'])} clips) and "
        f"{out.with_suffix('.json')}"
    )
    if manifest["missing"]:
        typer.echo(f"clips absent (no questions on them): {', '.join(manifest['missing'])}")
    typer.echo("questions: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@eval_app.command("list")
def list_cmd(include_path: IncludeOpt = None, json_out: JsonOpt = False) -> None:
    """List the benchmarks and methods the registry knows."""
    from vidsleuth.evals.methods import method_names
    from vidsleuth.evals.registry import find_tasks

    tasks = find_tasks(list(include_path or []))
    if json_out:
        print_json(
            {
                "tasks": {
                    n: {"folder": str(t.folder), "description": t.description}
                    for n, t in tasks.items()
                },
                "methods": method_names(),
            }
        )
        return
    for name, t in sorted(tasks.items()):
        typer.echo(f"{name:20s} {t.description}")
        hint = t.config.get("data_hint")
        if hint:
            typer.echo(f"{'':20s} --data: {hint}")
    typer.echo("methods: " + ", ".join(method_names()))


def _parse_options(pairs: list[str]) -> dict[str, str]:
    from vidsleuth.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _check(
    t: Any,
    data: Path,
    videos: Path | None,
    limit: int | None,
    json_out: bool,
    task_options: dict[str, str],
) -> int:
    from vidsleuth.evals.metrics import letter_counts
    from vidsleuth.evals.runner import select

    loaded = t.load(data, videos, **task_options)
    records = select(loaded.records, limit)
    if json_out:
        print_json(
            {
                "questions": len(records),
                "excluded": sum(not r.askable for r in records),
                "videos_missing": sum(r.video_path is None for r in records) if videos else None,
                "gold_letters": letter_counts(r.answer for r in records),
                "problems": [
                    {
                        "source": p.source,
                        "message": p.message,
                        "kind": p.kind,
                        "uid": p.uid,
                        "blocking": p.blocking,
                    }
                    for p in loaded.problems
                ],
            }
        )
    else:
        for p in loaded.problems:
            typer.echo(str(p))
        typer.echo(
            f"{len(records)} question(s), {sum(not r.askable for r in records)} excluded, "
            f"{len(loaded.problems)} problem(s); gold letters: "
            + ", ".join(f"{k} {v}" for k, v in letter_counts(r.answer for r in records).items())
        )
        if videos is not None:
            n_missing = sum(r.video_path is None for r in records)
            typer.echo(f"videos missing for {n_missing} question(s)")
    return 1 if loaded.problems else 0


def _score_file(
    t: Any,
    data: Path,
    videos: Path | None,
    limit: int | None,
    path: Path,
    json_out: bool,
    task_options: dict[str, str],
) -> None:
    from vidsleuth.evals.metrics import score_answers
    from vidsleuth.evals.runner import select

    loaded = t.load(data, videos, **task_options)
    questions = [r.to_json() for r in select(loaded.records, limit)]
    preds = t.read_predictions(path)
    scores = score_answers(questions, preds, list(t.categories), t.overall_key)
    if json_out:
        print_json(scores.to_json())
        return
    _print_scores(scores.to_json(), t.overall_key)
    if scores.unknown_uids:
        shown = ", ".join(scores.unknown_uids[:20])
        more = f" (+{len(scores.unknown_uids) - 20} more)" if len(scores.unknown_uids) > 20 else ""
        n = len(scores.unknown_uids)
        typer.echo(f"{n} prediction uid(s) match no question: {shown}{more}")
    if scores.invalid_letters:
        n = scores.invalid_letters
        typer.echo(f"{n} prediction(s) are not an option letter (scored wrong)")


def _print_scores(scores: dict[str, Any], overall_key: str) -> None:
    def pct(x: float | None) -> str:
        return "  n/a" if x is None else f"{100 * x:5.1f}"

    head = ("key", "official", "strict", "answered", "total", "missing")
    typer.echo("{:8s} {:>8s} {:>7s} {:>9s} {:>6s} {:>8s}".format(*head))
    for k, a in scores["by_key"].items():
        typer.echo(
            f"{k:8s} {pct(a['official']):>8s} {pct(a['strict']):>7s} {a['answered']:9d} "
            f"{a['total']:6d} {a['missing']:8d}"
        )
    ov = scores["by_key"][overall_key]
    typer.echo(
        f"missing predictions: {ov['missing']} (official skips them, strict counts them wrong)"
    )
    if scores.get("excluded"):
        typer.echo(f"excluded questions (data/label problems): {scores['excluded']}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
