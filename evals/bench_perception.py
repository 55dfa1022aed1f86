"""Perception benchmark: throughput of each default perceiver on this machine.

Per perceiver it reports model load time, frames per second (or audio seconds per second), the
cost of perceiving one 4 s chunk at the coarse level (one frame per chunk, speech over the
chunk's 4 s of audio) and the extrapolation to a 60-minute video, against the issue's goal of
under 15 minutes.  Frames are real clips from ``../shared/data/videos`` scaled like the index's
cached thumbnails; speech is synthesised with espeak-ng when available.

Run: ``python -m vidsleuth.evals.bench_perception [--frames N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_S = 15 * 60
CLIPS = (
    "timecode_pattern.mp4",
    "bikes.mp4",
    "chaplin.mp4",
    "big_buck_bunny_0_30.webm",
    "airplane.mp4",
)
SPEECH = (
    "The committee met on Tuesday to discuss the budget for the new library. "
    "After a long debate, the members agreed to open the building at nine in the morning. "
    "Seven purple elephants danced in the hall at midnight, and nobody could explain why. "
)


def _frames(videos: Path, n: int, max_side: int) -> list[Any]:
    from vidsleuth.tools.video import probe, sample_frames

    out: list[Any] = []
    clips = [videos / c for c in CLIPS if (videos / c).exists()]
    per = max(1, -(-n // max(1, len(clips))))
    for clip in clips:
        d = probe(clip).duration_s
        times = [d * (i + 0.5) / per for i in range(per)]
        out += sample_frames(clip, times, max_side=max_side)
    return out[:n]


def _speech_video(tmp: Path, repeats: int) -> Path | None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    import imageio_ffmpeg

    wav = tmp / "speech.wav"
    subprocess.run(
        [espeak, "-v", "en-us", "-s", "150", "-w", str(wav), SPEECH * repeats], check=True
    )
    out = tmp / "speech.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=160x96:r=5",
            "-i",
            str(wav),
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            str(out),
        ],
        check=True,
    )
    return out


def bench_perception(
    videos: Path,
    *,
    n_frames: int = 20,
    max_side: int = 640,
    speech_repeats: int = 4,
    names: tuple[str, ...] = ("ocr", "objects", "tags", "speech"),
    chunk_seconds: float = 4.0,
) -> dict[str, Any]:
    """Measure each perceiver in ``names``: per-perceiver numbers and the 60-min estimate."""
    from vidsleuth.agent.config import Settings
    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.perception.speech import decode_audio

    cfg = Settings()
    frames = _frames(videos, n_frames, max_side)
    result: dict[str, Any] = {"frames": len(frames), "max_side": max_side, "perceivers": {}}
    per_chunk = 0.0
    for name in names:
        p = make_perceiver(name, cfg)
        t0 = time.perf_counter()
        p.load()  # type: ignore[attr-defined]
        load_s = time.perf_counter() - t0
        if p.modality == "frames":
            p.perceive_frames(frames[:1])  # warm-up (first-call allocations)
            t0 = time.perf_counter()
            obs = p.perceive_frames(frames)
            secs = time.perf_counter() - t0
            rate = len(frames) / secs
            chunk_cost = 1 / rate
            result["perceivers"][name] = {
                "load_s": round(load_s, 2),
                "frames_per_s": round(rate, 2),
                "chunk_cost_s": round(chunk_cost, 3),
                "observations": len(obs),
            }
        else:
            with tempfile.TemporaryDirectory() as tmp:
                video = _speech_video(Path(tmp), speech_repeats)
                if video is None:
                    result["perceivers"][name] = {"skipped": "espeak-ng not installed"}
                    continue
                audio_s = len(decode_audio(video)[0]) / 16000
                t0 = time.perf_counter()
                obs = p.perceive_audio(video)
                secs = time.perf_counter() - t0
            rate = audio_s / secs
            chunk_cost = chunk_seconds / rate
            result["perceivers"][name] = {
                "load_s": round(load_s, 2),
                "audio_s_per_s": round(rate, 1),
                "audio_s": round(audio_s, 1),
                "chunk_cost_s": round(chunk_cost, 3),
                "segments": len(obs),
                "note": "continuous speech: the worst case; VAD skips silence and music",
            }
        per_chunk += chunk_cost
    chunks_60 = 3600 / chunk_seconds
    est = per_chunk * chunks_60
    result["chunk_cost_s"] = round(per_chunk, 3)
    result["estimate_60min_s"] = round(est, 1)
    result["goal_s"] = GOAL_S
    result["meets_goal"] = est < GOAL_S
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--videos", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/videos"
    )
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--perceivers", default="ocr,objects,tags,speech")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.videos.is_dir():
        sys.stderr.write(f"bench_perception: {args.videos} not found (pass --videos)\n")
        return 2
    res = bench_perception(
        args.videos, n_frames=args.frames, names=tuple(args.perceivers.split(","))
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for name, r in res["perceivers"].items():
            print(f"{name:8} {r}")
        print(
            f"one 4 s chunk: {res['chunk_cost_s']} s; 60-min video: {res['estimate_60min_s']} s "
            f"(goal {GOAL_S} s: {'met' if res['meets_goal'] else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
