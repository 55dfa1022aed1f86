"""Time to a first answer on a video never seen before: the quick pass against the full index.

A newcomer runs ``vidsleuth ask VIDEO "..."`` on a fresh video and waits.  This benchmark runs
exactly that, one new process and one new store per run, for the same questions twice: with
``VIDSLEUTH_ASK_INDEX=full`` (every chunk decoded and perceived before the first question: the
old behaviour) and ``=quick`` (keyframes and audio first, dense perception only where the
question leads).  Both run in this invocation, so the ratio quick/full is a like-for-like reading
on this machine; it reports wall seconds of the whole command, the indexing part of it (the
``index:`` line ``ask`` prints), and whether each answer was right, so quality is compared too.

    python -m vidsleuth.evals.bench_first_answer --task needle_haystack --data NEEDLES.json [--n 2]
    python -m vidsleuth.evals.bench_first_answer --task real_haystack --data REAL.json

The first question of each run is the one timed as "first answer"; later questions of the same
run reuse that run's store, as a user's next questions would.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidsleuth.options import LETTERS

_INDEX_LINE = re.compile(r"index: .* in ([0-9.]+)s$")


def pick_questions(task: str, data: Path, n: int) -> list[Any]:
    """``n`` multiple-choice questions, one of each category in turn (seeded order kept)."""
    from vidsleuth.evals.registry import get_task

    res = get_task(task).load(data, None)
    by_kind: dict[str, list[Any]] = {}
    for q in res.records:
        if q.options and q.answer is not None:
            by_kind.setdefault(q.categories[-1] if q.categories else "?", []).append(q)
    picked: list[Any] = []
    while len(picked) < n and any(by_kind.values()):
        for k in sorted(by_kind):
            if by_kind[k] and len(picked) < n:
                picked.append(by_kind[k].pop(0))
    return picked


def ask_once(q: Any, store: Path, mode: str) -> dict[str, Any]:
    """One ``vidsleuth ask`` in a new process; wall seconds, indexing seconds and the answer."""
    letters = sorted(q.options)
    cmd = [sys.executable, "-m", "vidsleuth", "ask", str(q.video_path), q.question]
    cmd += ["--store", str(store), "--json", "--options", *[q.options[k] for k in letters]]
    env = {**os.environ, "VIDSLEUTH_ASK_INDEX": mode}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    doc = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}
    index_s = next(
        (
            float(m.group(1))
            for line in out.stderr.splitlines()
            if (m := _INDEX_LINE.search(line.strip()))
        ),
        0.0,
    )
    got = doc.get("answer")
    gold = LETTERS[letters.index(q.answer)] if q.answer in letters else None
    return {
        "uid": q.uid,
        "mode": mode,
        "seconds": round(wall, 1),
        "index_seconds": round(index_s, 1),
        "answer": got,
        "correct": bool(got and got == gold),
        "confidence": doc.get("confidence"),
        "answered_by": doc.get("answered_by"),
        "ok": out.returncode == 0,
        "error": out.stderr.strip().splitlines()[-1] if out.returncode else "",
    }


def run(
    task: str,
    data: Path,
    n: int,
    modes: Sequence[str] = ("quick", "full"),
    work: Path | None = None,
) -> dict[str, Any]:
    """Each mode in a new store (kept under ``work/<mode>`` when given, else a temporary one)."""
    qs = pick_questions(task, data, n)
    if not qs:
        raise SystemExit(f"{data}: no multiple-choice questions with an answer")
    rows: list[dict[str, Any]] = []
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"vs-first-{mode}-") as tmp:
            store = (work / mode) if work is not None else Path(tmp) / "store"
            if store.exists():
                raise SystemExit(f"{store} exists: the benchmark needs a new store")
            for q in qs:  # the first question meets a fresh store; later ones reuse it
                rows.append(ask_once(q, store, mode))
    out: dict[str, Any] = {"task": task, "questions": len(qs), "runs": rows}
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        out[mode] = {
            "first_answer_seconds": mine[0]["seconds"],
            "first_index_seconds": mine[0]["index_seconds"],
            "median_seconds": statistics.median(r["seconds"] for r in mine),
            "correct": f"{sum(r['correct'] for r in mine)}/{len(mine)}",
        }
    if "quick" in out and "full" in out and out["full"]["first_answer_seconds"]:
        out["quick_over_full"] = round(
            out["quick"]["first_answer_seconds"] / out["full"]["first_answer_seconds"], 3
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="needle_haystack", help="needle_haystack or real_haystack")
    ap.add_argument("--data", type=Path, required=True, help="the task's manifest (.json)")
    ap.add_argument("--n", type=int, default=2, help="questions per run (one of each kind)")
    ap.add_argument("--modes", default="quick,full", help="which runs, in order")
    ap.add_argument("--work", type=Path, help="keep each run's store under WORK/<mode>")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    res = run(args.task, args.data, args.n, modes, args.work)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    for r in res["runs"]:
        print(
            f"{r['mode']:5} {r['uid']}: {r['seconds']:7.1f} s (index {r['index_seconds']:.1f} s) "
            f"answer {r['answer']} {'right' if r['correct'] else 'wrong'} "
            f"conf {r['confidence']} by {r['answered_by']} {r['error']}"
        )
    for mode in ("quick", "full"):
        if mode in res:
            m = res[mode]
            print(
                f"{mode}: first answer {m['first_answer_seconds']} s "
                f"(index {m['first_index_seconds']} s), median {m['median_seconds']} s, "
                f"{m['correct']} right"
            )
    if "quick_over_full" in res:
        print(f"quick/full time to first answer: {res['quick_over_full']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
