"""Fit the agent's stop rule on labelled runs, cross-validated by video.

The stop rule turns evidence features (agreement, stated confidence, retrieval margin, what kind
of evidence the answer rests on) into a probability that the answer is right.  Its weights are
fitted here on the agent's own labelled results (``results.jsonl`` of ``vidsleuth eval run
--method agent``), pooled over benchmarks (synthetic needles and real clips together, so neither
one's evidence mix decides alone), and checked by leaving one *video* out at a time: a weight
that only fits the questions it was fitted on shows up as a worse held-out ECE.

    python -m vidsleuth.evals.fit_stop RUN_DIR [RUN_DIR ...] [--out weights.json]

The output says which runs and how many questions the weights came from; copy the weights into
``Settings.agent_stop_weights`` (or ``VIDSLEUTH_AGENT_STOP_WEIGHTS``) with that note.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidsleuth.errors import ConfigError
from vidsleuth.graphs.stop import FEATURES, StopFeatures, confidence, fit_weights

THRESHOLD = 0.75


def load_rows(run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """``{video, correct, features, run}`` for every answered question with stop features."""
    rows: list[dict[str, Any]] = []
    for d in run_dirs:
        path = Path(d) / "results.jsonl"
        if not path.is_file():
            raise ConfigError(f"{d}: no results.jsonl (is it an eval run folder?)")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                raise ConfigError(f"{path}:{n}: not JSON") from None
            trace = r.get("trace") or []
            feats = next(
                (t["features"] for t in trace if isinstance(t, dict) and "features" in t), None
            )
            if r.get("answer") is None or not isinstance(feats, dict):
                continue
            if r.get("answered_by") not in ("model", "arithmetic"):
                continue  # abstentions and rule answers carry their own confidence
            vals = {k: float(feats.get(k) or 0.0) for k in FEATURES}
            rows.append(
                {
                    # the video itself, not the run: two runs over one video are one fold
                    "video": str(r.get("video_key")),
                    "correct": bool(r.get("correct")),
                    "features": StopFeatures(**vals),
                    "run": str(d),
                }
            )
    return rows


def ece(conf: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error (equal-width bins)."""
    n = len(conf)
    if not n:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(conf) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if idx:
            acc = sum(correct[i] for i in idx) / len(idx)
            mean = sum(conf[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(acc - mean)
    return total


def summary(conf: Sequence[float], correct: Sequence[bool], threshold: float) -> dict[str, Any]:
    n = len(conf)
    sure = [i for i, c in enumerate(conf) if c >= threshold]
    right_sure = sum(1 for i in sure if correct[i])
    return {
        "n": n,
        "ece": round(ece(conf, correct), 4),
        "confident": len(sure),
        "confident_wrong_rate": round((len(sure) - right_sure) / n, 4) if n else None,
        "confident_accuracy": round(right_sure / len(sure), 4) if sure else None,
    }


def cross_validate(rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Leave one video out: fit on the others, score the held-out video's questions (pooled,
    and per held-out video under ``by_video``: a real-footage video scored by weights fitted
    on the others says how the rule carries to footage it was not fitted on)."""
    videos = sorted({r["video"] for r in rows})
    held_conf: list[float] = []
    held_ok: list[bool] = []
    by_video: dict[str, Any] = {}
    for v in videos:
        train = [r for r in rows if r["video"] != v]
        test = [r for r in rows if r["video"] == v]
        if not train or len({r["correct"] for r in train}) < 2:
            continue
        w = fit_weights([r["features"] for r in train], [r["correct"] for r in train])
        conf = [confidence(r["features"], w) for r in test]
        ok = [r["correct"] for r in test]
        by_video[v] = summary(conf, ok, threshold)
        held_conf += conf
        held_ok += ok
    return {**summary(held_conf, held_ok, threshold), "by_video": by_video}


def fit(run_dirs: Sequence[Path], current: Sequence[float], threshold: float) -> dict[str, Any]:
    rows = load_rows(run_dirs)
    if len(rows) < 10 or len({r["correct"] for r in rows}) < 2:
        raise ConfigError(
            f"need at least 10 model-answered questions with both right and wrong answers "
            f"(found {len(rows)})"
        )
    feats = [r["features"] for r in rows]
    ok = [r["correct"] for r in rows]
    weights = fit_weights(feats, ok)
    return {
        "features": ["bias", *FEATURES],
        "weights": list(weights),
        "threshold": threshold,
        "data": {
            "runs": [str(d) for d in run_dirs],
            "questions": len(rows),
            "videos": sorted({r["video"] for r in rows}),
            "accuracy": round(sum(ok) / len(ok), 4),
        },
        "current_weights_in_sample": summary(
            [confidence(f, current) for f in feats], ok, threshold
        ),
        "fitted_in_sample": summary([confidence(f, weights) for f in feats], ok, threshold),
        "fitted_leave_one_video_out": cross_validate(rows, threshold),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from vidsleuth.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="eval run folders (results.jsonl)")
    ap.add_argument("--out", type=Path, help="write the fitted weights and their note here")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    args = ap.parse_args(argv)
    try:
        res = fit(args.runs, Settings().agent_stop_weights, args.threshold)
    except ConfigError as err:
        print(f"fit_stop: {err}", file=sys.stderr)
        return 2
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
