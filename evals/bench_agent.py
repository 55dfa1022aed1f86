"""Seconds per question of the agent on an indexed video, cold and warm.

*Cold* is what a user meets with ``vidsleuth ask``: a new process per question (models load, the
persisted prompt cache is restored, memory is opened).  *Warm* is a long-lived process (``chat``,
the servers) answering one question after another.  Both run in this invocation on the same
questions, so the ratio warm/cold is a like-for-like reading on this machine; the absolute
seconds depend on the machine and on what else runs on it (say so beside the numbers).

    python -m vidsleuth.evals.bench_agent --data NEEDLES.json --store DIR [--n 4] [--json]

The video must already be indexed in ``--store`` (``vidsleuth index VIDEO --perceive all``), so
what is timed is answering, not indexing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _questions(data: Path, n: int, wording: str) -> list[Any]:
    from vidsleuth.evals.registry import get_task

    task = get_task("needle_haystack")
    res = task.load(data, None, wording=wording)
    kinds: dict[str, list[Any]] = {}
    for q in res.records:
        kinds.setdefault(q.categories[-1] if q.categories else "?", []).append(q)
    picked: list[Any] = []
    while len(picked) < n and any(kinds.values()):  # one of each kind in turn
        for k in sorted(kinds):
            if kinds[k] and len(picked) < n:
                picked.append(kinds[k].pop(0))
    return picked


def _cold(q: Any, store: Path) -> dict[str, Any]:
    opts = [q.options[k] for k in sorted(q.options)]
    cmd = [sys.executable, "-m", "vidsleuth", "ask", str(q.video_path), q.question, "--store"]
    cmd += [str(store), "--json", "--quiet", "--options", *opts]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    doc = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}
    return {"uid": q.uid, "seconds": round(seconds, 2), "ok": out.returncode == 0, **_brief(doc)}


def _brief(doc: dict[str, Any]) -> dict[str, Any]:
    cost = doc.get("cost") or {}
    return {
        "answer": doc.get("answer"),
        "confidence": doc.get("confidence"),
        "model_calls": cost.get("model_calls"),
        "cached_tokens": cost.get("cached_tokens"),
        "prompt_tokens": cost.get("prompt_tokens"),
    }


def run(data: Path, store: Path, n: int, wording: str = "orig") -> dict[str, Any]:
    from vidsleuth.agent.session import VideoAgent
    from vidsleuth.settings import Settings

    qs = _questions(data, n, wording)
    cold = [_cold(q, store) for q in qs]
    warm = []
    with VideoAgent(Settings(store=store)) as agent:
        agent.ask(str(qs[0].video_path), qs[0].question, list(qs[0].options.values()))  # load
        for q in qs:
            t0 = time.perf_counter()
            ans = agent.ask(
                str(q.video_path), q.question, [q.options[k] for k in sorted(q.options)]
            )
            warm.append(
                {
                    "uid": q.uid,
                    "seconds": round(time.perf_counter() - t0, 2),
                    **_brief(ans.as_json()),
                }
            )
    med_cold = statistics.median(r["seconds"] for r in cold)
    med_warm = statistics.median(r["seconds"] for r in warm)
    return {
        "questions": len(qs),
        "median_seconds_cold": round(med_cold, 2),
        "median_seconds_warm": round(med_warm, 2),
        "warm_over_cold": round(med_warm / med_cold, 3) if med_cold else None,
        "cold": cold,
        "warm": warm,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="needle manifest (.json)")
    ap.add_argument("--store", type=Path, required=True, help="store holding the indexed video")
    ap.add_argument("--n", type=int, default=4, help="questions (one of each kind in turn)")
    ap.add_argument("--wording", default="orig", help="orig or alt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.data, args.store, args.n, args.wording)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(
            f"{res['questions']} questions: median {res['median_seconds_cold']} s cold (a new "
            f"process each), {res['median_seconds_warm']} s warm (one process); warm/cold "
            f"{res['warm_over_cold']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
