"""Calibrate the confidence below which closed-set labels stay out of memory (entities, summaries).

ImageNet tags and COCO detections are closed-set guesses: on a frame that shows none of their
classes they still name one ("fireboat", "dhole", "patas" on Big Buck Bunny).  Memory turns
labels into entities and summary lines only when they are more likely right than noise, and the
threshold for that is measured, not chosen:

1. every real clip in ``../shared/data/videos`` is sampled at 1 fps (``t + 0.5`` s) and run
   through the tag perceiver (top-k as configured, no score floor) and the object detector
   (score floor 0.05, below its 0.3 default, so the fit sees the low end too);
2. each (clip, label) was judged right or noise by looking at the clip
   (``evals/fitted/label_judgements.json``, written before any fit; its ``rule`` says how);
3. per kind, a logistic regression of "right" on ``logit(score)`` (Platt scaling) turns a raw
   score into a probability of being right, and the threshold is the score where that
   probability reaches 0.5.  Leaving one clip out at a time shows how much one clip moves it.

    python -m vidsleuth.evals.fit_label_confidence [CLIPS_DIR] [--out label_confidence.json]

Nothing here looks at the synthetic generator's videos.  Copy the thresholds into
``Settings.memory_tag_min_score`` / ``memory_object_min_score`` with the data note.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import ConfigError

HERE = Path(__file__).resolve().parent
JUDGEMENTS = HERE / "fitted" / "label_judgements.json"
DEFAULT_CLIPS = HERE.parents[1] / "shared" / "data" / "videos"
OBJECT_FLOOR = 0.05
TARGET = 0.5  # keep a label when it is more likely right than noise
REPORT_AT = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def collect(clips_dir: Path, judged: dict[str, Any], top_k: int = 5) -> list[dict[str, Any]]:
    """``{clip, t, kind, label, score, right}`` for every label the taggers gave a judged clip."""
    from vidsleuth.tools.perception.objects import ObjectPerceiver
    from vidsleuth.tools.perception.tags import TagPerceiver
    from vidsleuth.tools.video import probe, sample_frames

    tags = TagPerceiver(top_k=top_k, min_score=0.0)
    objects = ObjectPerceiver(min_score=OBJECT_FLOOR)
    rows: list[dict[str, Any]] = []
    for clip in sorted(judged):
        path = clips_dir / clip
        if not path.is_file():
            raise ConfigError(f"{path}: judged clip is missing (is {clips_dir} the clips folder?)")
        duration = probe(path).duration_s
        times = [t + 0.5 for t in range(max(1, int(duration)))]
        frames = sample_frames(str(path), times, max_side=640)
        for o in tags.perceive_frames(frames) + objects.perceive_frames(frames):
            kind = "tag" if o.kind == "tag" else "object"
            rows.append(
                {
                    "clip": clip,
                    "t": round(o.t_start, 3),
                    "kind": kind,
                    "label": o.label,
                    "score": round(float(o.score or 0.0), 5),
                    "right": o.label in judged[clip][kind],
                }
            )
    return rows


def _logit(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 1e-4, 1 - 1e-4)
    return np.asarray(np.log(s / (1 - s)))


def fit_platt(scores: np.ndarray, right: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """``(a, b)`` of ``P(right) = sigmoid(a + b * logit(score))`` by Newton's method."""
    x = np.stack([np.ones_like(scores), _logit(scores)], 1)
    w = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - right) + l2 * w
        hess = (x.T * (p * (1 - p))) @ x + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def threshold_at(a: float, b: float, target: float = TARGET) -> float:
    """The score whose calibrated probability of being right is ``target`` (clipped to [0, 1])."""
    if b <= 0:  # a higher score is no more often right: no score can be trusted
        return 1.0
    z = (math.log(target / (1 - target)) - a) / b
    return float(min(1.0, max(0.0, 1 / (1 + math.exp(-z)))))


def fit_kind(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Threshold, leave-one-clip-out range and a precision/recall table for one label kind."""
    scores = np.array([r["score"] for r in rows], float)
    right = np.array([r["right"] for r in rows], float)
    a, b = fit_platt(scores, right)
    loco = []
    for clip in sorted({r["clip"] for r in rows}):
        keep = np.array([r["clip"] != clip for r in rows])
        loco.append(threshold_at(*fit_platt(scores[keep], right[keep])))
    table = []
    for t in REPORT_AT:
        kept = scores >= t
        table.append(
            {
                "at": t,
                "kept": int(kept.sum()),
                "precision": round(float(right[kept].mean()), 3) if kept.any() else None,
                "recall": round(float(right[kept].sum() / max(right.sum(), 1)), 3),
            }
        )
    return {
        "sightings": len(rows),
        "right": int(right.sum()),
        "platt": [round(a, 4), round(b, 4)],
        "threshold": round(threshold_at(a, b), 3),
        "leave_one_clip_out": {
            "min": round(min(loco), 3),
            "median": round(float(np.median(loco)), 3),
            "max": round(max(loco), 3),
        },
        "table": table,
    }


def fit(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The fitted thresholds per kind, with the evidence behind them."""
    out: dict[str, Any] = {"target_probability": TARGET, "kinds": {}}
    for kind in ("tag", "object"):
        mine = [r for r in rows if r["kind"] == kind]
        if mine:
            out["kinds"][kind] = fit_kind(mine)
    out["clips"] = sorted({r["clip"] for r in rows})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from vidsleuth.settings import Settings

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("clips", nargs="?", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--out", type=Path, default=HERE / "fitted" / "label_confidence.json")
    ap.add_argument("--rows", type=Path, help="also write every scored label (JSON lines)")
    args = ap.parse_args(argv)
    judged = json.loads(JUDGEMENTS.read_text(encoding="utf-8"))["right"]
    rows = collect(args.clips, judged, top_k=Settings().tags_top_k)
    result = fit(rows)
    result["data"] = {
        "judgements": str(JUDGEMENTS.relative_to(HERE.parent)),
        "frames": "1 fps at t + 0.5 s, longest side 640 px",
        "object_floor": OBJECT_FLOOR,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for kind, k in result["kinds"].items():
        sys.stdout.write(
            f"{kind}: {k['right']}/{k['sightings']} right; P(right) >= {TARGET} from score "
            f"{k['threshold']} (leave one clip out: {k['leave_one_clip_out']['min']}-"
            f"{k['leave_one_clip_out']['max']})\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
