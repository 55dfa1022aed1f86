"""Run one answering method over one benchmark, resumably, and save everything it did.

The output folder holds:

- ``run.json``: what was run (task, data, method, seed, categories, ``session_mode``: whether
  every question had a fresh session, ``isolated``, or the questions of a video shared one,
  ``shared``; the configured models) so the report can be rebuilt and a resumed run can refuse
  to mix two different runs;
- ``questions.jsonl``: the selected questions as loaded (gold answers, categories, spans);
- ``problems.txt``: every problem the loader found;
- ``results.jsonl``: one line per answered question, appended and fsync'ed as each finishes,
  saying who answered (``answered_by``: model, arithmetic, rule, none) and which tools it called
  (``tools_used``); rows written before those fields existed still load (they read as
  ``unreported`` and no tools);
  The last line for a uid wins.  A half-written last line (a killed run) is cut off and that
  question is asked again; any other question already in the file is never re-asked, except
  rows whose ``stop_reason`` says they could not be attempted (video missing, error);
- the official predictions file, ``report.md`` and the plots (see :mod:`vidsleuth.evals.report`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsleuth.errors import ConfigError, VidsleuthError
from vidsleuth.evals.methods import Method, MethodContext, build_method
from vidsleuth.evals.registry import Task
from vidsleuth.evals.schema import (
    COST_KEYS,
    SESSION_MODES,
    LoadResult,
    Prediction,
    QARecord,
    tools_from_trace,
)

RESULTS_FILE = "results.jsonl"
QUESTIONS_FILE = "questions.jsonl"
RUN_FILE = "run.json"
PROBLEMS_FILE = "problems.txt"
# Rows with these stop reasons are attempted again when a run resumes.
RETRY_STOP_REASONS = frozenset({"video_missing", "error"})
# run.json fields that must match for a folder to be resumed.
IDENTITY_KEYS = ("task", "data", "method", "seed", "session_mode")
# What an identity key meant in run.json files written before it existed.
IDENTITY_DEFAULTS: dict[str, Any] = {"session_mode": "isolated"}


@dataclass
class RunOptions:
    task: str
    data: Path
    videos: Path | None = None
    method: str = "random"
    limit: int | None = None
    workers: int = 1
    out: Path = Path("eval-out")
    seed: int = 0
    include_paths: list[Path] = field(default_factory=list)
    task_options: dict[str, str] = field(default_factory=dict)  # passed to the task's load hook
    session_mode: str = "isolated"  # isolated: a fresh session per question; shared: per video


@dataclass
class RunOutcome:
    out: Path
    asked: int  # questions the method was called on in this invocation
    resumed: int  # questions already done before this invocation
    loaded: LoadResult


def read_results(path: Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Final row per uid.  A trailing partial line is ignored (and cut off when ``repair``)."""
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end < len(raw) and repair:
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    rows: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(raw[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # only a torn write can produce this; the question is simply asked again
        uid = row.get("uid") if isinstance(row, dict) else None
        if not isinstance(uid, str | int) or isinstance(uid, bool) or not str(uid).strip():
            raise ConfigError(
                f"{path}:{lineno}: result line has no 'uid' (not written by vidsleuth?); "
                "remove that line and run again"
            )
        rows[str(uid)] = row
    return rows


def _json_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{lineno}: malformed JSON line ({err.msg})") from None
        if not isinstance(row, dict) or "uid" not in row:
            raise ConfigError(f"{path}:{lineno}: not a question written by vidsleuth (no 'uid')")
        rows.append(row)
    return rows


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (offset {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None


def read_questions(out: Path) -> list[dict[str, Any]]:
    path = out / QUESTIONS_FILE
    if not path.is_file():
        raise ConfigError(f"{out}: no {QUESTIONS_FILE}; is this an eval output folder?")
    return _json_lines(path)


def read_run(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    if not path.is_file():
        raise ConfigError(f"{out}: no {RUN_FILE}; is this an eval output folder?")
    try:
        run = json.loads(_text(path))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(run, dict):
        raise ConfigError(f"{path}: not a run description written by vidsleuth")
    return run


class ResultWriter:
    """Appends one JSON line per result and fsyncs it, so a kill loses at most that line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock, open(self.path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def _row(
    task: Task, record: QARecord, method_name: str, pred: Prediction, seconds: float, prompt: str
) -> dict[str, Any]:
    cost = {k: pred.cost.get(k, 0) for k in COST_KEYS}
    cost["seconds"] = float(pred.cost.get("seconds", seconds))
    answer = pred.answer.strip().upper() if isinstance(pred.answer, str) else None
    answered_by = pred.answered_by
    if answer is None:
        answered_by = "none"  # nobody answered, whatever the method claims
    elif answered_by is not None:
        answered_by = str(answered_by)  # an unexpected value is kept and reported under its name
    tools = {str(k): int(v) for k, v in (pred.tools_used or {}).items() if v}
    if not tools:
        tools = tools_from_trace(pred.trace)
    return {
        "uid": record.uid,
        "video_key": record.video_key,
        "method": method_name,
        "answer": answer,
        "gold": record.answer,
        "correct": bool(answer is not None and task.score(record, answer)),
        "confidence": pred.confidence,
        "answered_by": answered_by,
        "tools_used": tools,
        "evidence": [list(s) for s in pred.evidence],
        "stop_reason": pred.stop_reason,
        "cost": cost,
        "categories": record.categories,
        "duration_s": record.duration_s,
        "reference_spans": [list(s) for s in record.reference_spans],
        "prompt": prompt,
        "trace": pred.trace,
        "finished_at": time.time(),
    }


def _answer_one(
    task: Task, method: Method, method_name: str, record: QARecord, context: MethodContext
) -> dict[str, Any]:
    prompt = task.prompt(record)
    if getattr(method, "needs_video", True) and record.video_path is None:
        pred = Prediction(answer=None, stop_reason="video_missing")
        return _row(task, record, method_name, pred, 0.0, prompt)
    t0 = time.perf_counter()
    try:
        pred = method(record, record.video_path, context)
    except VidsleuthError as err:  # expected failures (bad video, missing model) are recorded
        pred = Prediction(answer=None, stop_reason="error", trace=[{"error": str(err)}])
    except Exception as err:  # one broken question must not end a 1,500-question run
        msg = f"{type(err).__name__}: {err}"
        pred = Prediction(answer=None, stop_reason="error", trace=[{"error": msg}])
    return _row(task, record, method_name, pred, time.perf_counter() - t0, prompt)


def _prepare_out(out: Path, identity: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    run_path = out / RUN_FILE
    if run_path.is_file():
        old = read_run(out)
        diff = [
            k
            for k in IDENTITY_KEYS
            if str(old.get(k, IDENTITY_DEFAULTS.get(k)))
            != str(identity.get(k, IDENTITY_DEFAULTS.get(k)))
        ]
        if diff:
            raise ConfigError(
                f"{out} holds a different run ({', '.join(f'{k}={old.get(k)}' for k in diff)}); "
                "choose another --out"
            )
    tmp = run_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(identity, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, run_path)


def select(records: list[QARecord], limit: int | None) -> list[QARecord]:
    return records[:limit] if limit is not None else list(records)


def run(
    task: Task,
    opts: RunOptions,
    *,
    settings: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutcome:
    """Load, answer every not-yet-answered question, write predictions and the report."""
    from vidsleuth.evals.report import build_report

    if opts.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if opts.session_mode not in SESSION_MODES:
        raise ConfigError(
            f"session mode {opts.session_mode!r}: expected one of {', '.join(SESSION_MODES)}"
        )
    loaded = task.load(opts.data, opts.videos, **opts.task_options)
    records = select(loaded.records, opts.limit)
    if not records:
        why = "; ".join(str(p) for p in loaded.problems[:3])
        msg = f"{opts.data}: no questions loaded for task {task.name!r}"
        raise ConfigError(msg + (f" ({why})" if why else ""))
    context = MethodContext(
        task=task.name,
        seed=opts.seed,
        settings=settings,
        prompt_for=task.prompt,
        options={"session_mode": opts.session_mode},
    )
    method = build_method(opts.method, context)
    method_name = getattr(method, "name", opts.method)
    # A method states the session modes it honours; one that says nothing runs every question
    # in a fresh session, so a run can never record "shared" for questions that were isolated.
    modes = tuple(getattr(method, "session_modes", ("isolated",)))
    if opts.session_mode not in modes:
        raise ConfigError(
            f"method {method_name!r} does not support session mode {opts.session_mode!r} "
            f"(it supports: {', '.join(modes)})"
        )
    out = Path(opts.out)
    identity = {
        "task": task.name,
        "data": str(Path(opts.data).resolve()),
        "videos": str(Path(opts.videos).resolve()) if opts.videos else None,
        "method": method_name,
        "seed": opts.seed,
        "limit": opts.limit,
        "categories": list(task.categories),
        "overall_key": task.overall_key,
        "predictions_file": task.predictions_file,
        "prediction_format": task.config.get("prediction_format", "uid_letter_json"),
        "include_paths": [str(p) for p in opts.include_paths],
        "task_options": opts.task_options,
        "session_mode": opts.session_mode,
        "configured_models": configured_models(settings),
        "code": code_version(),
    }
    _prepare_out(out, identity)
    _write_lines(out / QUESTIONS_FILE, (r.to_json() for r in records))
    (out / PROBLEMS_FILE).write_text("".join(f"{p}\n" for p in loaded.problems), encoding="utf-8")

    done = read_results(out / RESULTS_FILE, repair=True)
    finished = {u for u, r in done.items() if r.get("stop_reason") not in RETRY_STOP_REASONS}
    todo = [r for r in records if r.askable and r.uid not in finished]
    writer = ResultWriter(out / RESULTS_FILE)
    n_done = 0
    if opts.workers == 1:
        for rec in todo:
            writer.append(_answer_one(task, method, method_name, rec, context))
            n_done += 1
            if progress:
                progress(n_done, len(todo))
    else:
        with ThreadPoolExecutor(max_workers=opts.workers) as pool:
            futures = [
                pool.submit(_answer_one, task, method, method_name, rec, context) for rec in todo
            ]
            for fut in as_completed(futures):
                writer.append(fut.result())
                n_done += 1
                if progress:
                    progress(n_done, len(todo))
    write_predictions(task, out)
    build_report(out)
    return RunOutcome(out=out, asked=len(todo), resumed=len(finished), loaded=loaded)


def code_version() -> str:
    """The vidsleuth version that answered, with the git commit when it runs from a checkout
    (``0.4.0+g1a2b3c4``, ``+dirty`` when files differ from it), so a run can be reproduced and
    two runs of different code are not mistaken for one."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("vidsleuth")
    except PackageNotFoundError:
        v = "unknown"
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return v
    return f"{v}+g{rev}" + ("+dirty" if dirty else "") if rev else v


def configured_models(settings: Any) -> dict[str, str]:
    """The models the settings name (what a model-backed method would use), for run.json.

    Who actually answered each question is the row's ``answered_by``; this only says which
    model a "model" answer came from.
    """
    if settings is None:
        return {}
    out: dict[str, str] = {}
    chat = getattr(settings, "chat_model", None)
    if chat:
        out["chat"] = f"{getattr(settings, 'chat_backend', '?')}:{chat}"
    vlm_backend = getattr(settings, "vlm_backend", None)
    vlm = getattr(settings, "vlm_model", None)
    if vlm_backend and vlm_backend != "none":
        out["vlm"] = f"{vlm_backend}:{vlm}"
    return out


def write_predictions(task: Task, out: Path) -> Path:
    """The official submission file from the final rows (questions never answered are absent)."""
    rows = read_results(out / RESULTS_FILE)
    preds = {u: r["answer"] for u, r in rows.items() if r.get("answer")}
    path = out / task.predictions_file
    task.write_predictions(preds, path)
    return path


def _write_lines(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for obj in objs:
            fh.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
