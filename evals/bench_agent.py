"""Seconds per question of the agent on an indexed video, cold and warm.

*Cold* is what a user meets with ``vidsleuth ask``: a new process per question (models load, the
persisted prompt cache is restored, memory is opened).  *Warm* is a long-lived process (``chat``,
the servers) answering one question after another.  Both run in this invocation on the same
questions, so the ratio warm/cold is a like-for-like reading on this machine; the absolute
seconds depend on the machine and on what else runs on it (say so beside the numbers).

    python -m vidsleuth.evals.bench_agent --data NEEDLES.json --store DIR [--n 4] [--json]
        [--no-cold] [--baseline SETTING=VALUE ...]

``--baseline`` adds a warm pass with other settings in the same invocation (same questions, same
machine load), so a speed change reads as a ratio, with how many answers stayed the same.

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


def _warm(qs: Sequence[Any], store: Path, overrides: dict[str, str]) -> list[dict[str, Any]]:
    """Each question asked in one long-lived agent (the model loaded by a first, untimed ask)."""
    from vidsleuth.agent.session import VideoAgent
    from vidsleuth.settings import Settings

    out = []
    with VideoAgent(Settings(store=store, **overrides)) as agent:  # type: ignore[arg-type]
        agent.ask(str(qs[0].video_path), qs[0].question, list(qs[0].options.values()))  # load
        for q in qs:
            t0 = time.perf_counter()
            ans = agent.ask(
                str(q.video_path), q.question, [q.options[k] for k in sorted(q.options)]
            )
            out.append(
                {
                    "uid": q.uid,
                    "seconds": round(time.perf_counter() - t0, 2),
                    **_brief(ans.as_json()),
                }
            )
    return out


def run(
    data: Path,
    store: Path,
    n: int,
    wording: str = "orig",
    *,
    cold: bool = True,
    baseline: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Time ``n`` questions cold and warm; with ``baseline`` (setting overrides), also warm with
    those settings in this same invocation, and report the ratio to it."""
    qs = _questions(data, n, wording)
    res: dict[str, Any] = {"questions": len(qs)}
    warm = _warm(qs, store, {})
    res["median_seconds_warm"] = round(statistics.median(r["seconds"] for r in warm), 2)
    if cold:
        runs = [_cold(q, store) for q in qs]
        res["median_seconds_cold"] = round(statistics.median(r["seconds"] for r in runs), 2)
        res["warm_over_cold"] = round(res["median_seconds_warm"] / res["median_seconds_cold"], 3)
        res["cold"] = runs
    res["warm"] = warm
    if baseline:
        base = _warm(qs, store, baseline)
        med = statistics.median(r["seconds"] for r in base)
        res["baseline"] = {"settings": baseline, "median_seconds_warm": round(med, 2), "warm": base}
        res["warm_over_baseline"] = round(res["median_seconds_warm"] / med, 3) if med else None
        same = sum(a["answer"] == b["answer"] for a, b in zip(warm, base, strict=True))
        res["same_answers_as_baseline"] = f"{same}/{len(qs)}"
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="needle manifest (.json)")
    ap.add_argument("--store", type=Path, required=True, help="store holding the indexed video")
    ap.add_argument("--n", type=int, default=4, help="questions (one of each kind in turn)")
    ap.add_argument("--wording", default="orig", help="orig or alt")
    ap.add_argument("--no-cold", action="store_true", help="time the warm process only")
    ap.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="also time a warm pass with these settings (repeatable), for a ratio",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        baseline = dict(kv.split("=", 1) for kv in args.baseline)
    except ValueError:
        ap.error("--baseline takes SETTING=VALUE")
    res = run(args.data, args.store, args.n, args.wording, cold=not args.no_cold, baseline=baseline)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    line = f"{res['questions']} questions: median {res['median_seconds_warm']} s warm (one process)"
    if "median_seconds_cold" in res:
        line += (
            f", {res['median_seconds_cold']} s cold (a new process each); "
            f"warm/cold {res['warm_over_cold']}"
        )
    print(line)
    if "baseline" in res:
        b = res["baseline"]
        print(
            f"baseline {b['settings']}: median {b['median_seconds_warm']} s warm; "
            f"this/baseline {res['warm_over_baseline']}; same answers "
            f"{res['same_answers_as_baseline']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
