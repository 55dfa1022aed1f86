"""Caption benchmark: how fast the configured perceiver VLM captions a video's coarse chunks.

``vidsleuth bench caption VIDEO [--json]`` indexes ``VIDEO`` into a scratch store (its own time
is reported apart), loads the VLM (``vlm_*`` settings), then runs the ``caption`` perceiver over
every chunk exactly as ``index --perceive caption`` does: ``caption_frames`` frames per chunk in
one request, ``vlm_concurrency`` requests in flight or per batch.  It reports chunks per second,
seconds per video-hour, frames and tokens per request, and the goal of issue 13: the coarse
caption pass of a 60-minute video (900 chunks x 4 frames) in under 5 minutes on one GPU.

Run: ``python -m vidsleuth.evals.bench_caption VIDEO [--json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_60MIN_S = 5 * 60


def bench_caption(
    video: str | Path,
    settings: Any = None,
    *,
    store_dir: Path | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Index ``video`` and caption every chunk with the configured VLM; return the numbers."""
    from vidsleuth.memory.indexer import index_video
    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import vlm_identity
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.video.chunks import chunk_plan_for, plan_key

    base = settings or Settings()
    vlm_identity(base)  # one clear line now when no VLM is configured
    with tempfile.TemporaryDirectory() as tmp:
        cfg = base.model_copy(update={"store": store_dir or Path(tmp) / "store"})
        with Store.open(cfg.store) as store:
            t0 = time.perf_counter()
            summary = index_video(store, video, cfg)
            index_s = time.perf_counter() - t0
            record = store.video(summary.video_id)
            plan = chunk_plan_for(record, cfg)
            p: Any = make_perceiver("caption", cfg)
            t0 = time.perf_counter()
            p.load()
            load_s = time.perf_counter() - t0
            before = (p.requests, p.images_sent, p.usage.prompt_tokens, p.usage.completion_tokens)
            t0 = time.perf_counter()
            out = perceive_video(
                store,
                record,
                plan,
                ["caption"],
                progress,
                settings=cfg,
                frames_plan=plan_key(plan, cfg),
            )
            secs = time.perf_counter() - t0
            st = out["perceivers"]["caption"]
            requests = p.requests - before[0]
            images = p.images_sent - before[1]
            prompt = p.usage.prompt_tokens - before[2]
            completion = p.usage.completion_tokens - before[3]
    duration = float(record.probe.duration_s or 0.0)
    chunks = st["units_computed"]
    per_hour = secs * 3600.0 / duration if duration else 0.0
    estimate = secs / chunks * 900 if chunks else 0.0
    vlm = p.vlm()
    return {
        "video": str(video),
        "duration_s": round(duration, 1),
        "size": f"{record.probe.width}x{record.probe.height}",
        "vlm": p.vlm_id,
        "backend": cfg.vlm_backend,
        "device": getattr(vlm, "device", None) or cfg.vlm_base_url,
        "concurrency": cfg.vlm_concurrency,
        "max_side": cfg.vlm_max_side,
        "index_s": round(index_s, 2),
        "load_s": round(load_s, 2),
        "chunks": len(plan.chunks),
        "chunks_captioned": chunks,
        "chunks_failed": st.get("units_failed", 0),
        "seconds": round(secs, 2),
        "frames_seconds": st.get("frames_seconds"),
        "chunks_per_s": round(chunks / secs, 2) if secs else 0.0,
        "seconds_per_video_hour": round(per_hour, 1),
        "estimate_900_chunks_s": round(estimate, 1),
        "goal_60min_s": GOAL_60MIN_S,
        "meets_goal": bool(chunks) and estimate < GOAL_60MIN_S,
        "requests": requests,
        "frames_per_request": round(images / requests, 2) if requests else 0.0,
        "prompt_tokens_per_request": round(prompt / requests, 1) if requests else 0.0,
        "completion_tokens_per_request": round(completion / requests, 1) if requests else 0.0,
        "problems": st["problems"][:5],
    }


def format_result(r: dict[str, Any]) -> str:
    return (
        f"{r['video']}: {r['duration_s']} s, {r['size']}, {r['chunks']} chunks\n"
        f"vlm {r['vlm']} ({r['backend']}, {r['concurrency']} in flight/batch, frames <= "
        f"{r['max_side']} px); load {r['load_s']} s, index {r['index_s']} s\n"
        f"captioned {r['chunks_captioned']} chunks in {r['seconds']} s = {r['chunks_per_s']} "
        f"chunks/s ({r['chunks_failed']} failed; frame reads {r['frames_seconds']} s)\n"
        f"{r['seconds_per_video_hour']} s per video-hour; 900 chunks ~ "
        f"{r['estimate_900_chunks_s']} s (goal < {r['goal_60min_s']} s: "
        f"{'met' if r['meets_goal'] else 'not met'})\n"
        f"per request: {r['frames_per_request']} frames, {r['prompt_tokens_per_request']} prompt "
        f"+ {r['completion_tokens_per_request']} completion tokens"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench_caption(args.video)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
