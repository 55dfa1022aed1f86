"""Perception benchmark: throughput of each default perceiver on this machine.

Per perceiver it reports model load time, frames per second (or audio seconds per second), the
cost of perceiving one 4 s chunk at the coarse level (one frame per chunk, speech over the
chunk's 4 s of audio) and the extrapolation to a 60-minute video, against the issue's goal of
under 15 minutes.  Frames are real clips from ``../shared/data/videos`` scaled like the index's
cached thumbnails; speech is synthesised with espeak-ng when available, else the generator's
packaged real recordings.

:func:`bench_video` measures the real pipeline instead: ``vidsleuth index`` of one video (the
coarse frame index), then :func:`~vidsleuth.tools.perception.cache.perceive_video` of each
perceiver in turn into a fresh store, so every number is end to end (frames read from the store,
batching, reuse of unchanged frames, writes).  With the generator's needles JSON beside the video
it also reports OCR recall of the text needles.  ``baseline=True`` runs the configuration before
the speed work (RapidOCR's default detector size, no frame reuse, tags one frame per call).

Run: ``python -m vidsleuth.evals.bench_perception [--frames N] [--json]`` or
``python -m vidsleuth.evals.bench_perception --video FILE.mp4 [--baseline] [--json]``.
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


def _packaged_speech_wav(wav: Path, repeats: int) -> bool:
    """Write the generator's packaged real speech (every phrase, ``repeats`` times) to ``wav``;
    False when the package with the recordings is not installed."""
    import wave

    import numpy as np

    from vidsleuth.evals.synth import speech

    if not speech.packaged_available():
        return False
    rate = 16000
    audio = np.concatenate([speech.clip_audio(c, rate) for c in speech.PACKAGED_CLIPS] * repeats)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return True


def mux_on_grey(
    wav: Path, out: Path, *, offset: float = 0.0, seconds: float | None = None, fps: int = 10
) -> Path:
    """A small grey H.264 video whose AAC audio is ``wav`` starting ``offset`` s in.

    Without ``seconds`` the video lasts as long as the audio; with it, the audio is padded or cut
    to that length (speech tests place real speech at a known time this way).
    """
    import imageio_ffmpeg

    ms = int(offset * 1000)
    length = ["-t", str(seconds)] if seconds is not None else ["-shortest"]
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
            "-f", "lavfi", "-i", f"color=c=gray:s=160x96:r={fps}",
            "-i", str(wav),
            "-filter_complex", f"[1:a]adelay={ms}|{ms},apad[a]" if seconds is not None
            else f"[1:a]adelay={ms}|{ms}[a]",
            "-map", "0:v", "-map", "[a]", *length,
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


def _speech_video(tmp: Path, repeats: int) -> Path | None:
    wav = tmp / "speech.wav"
    espeak = shutil.which("espeak-ng")
    if espeak is not None:
        subprocess.run(
            [espeak, "-v", "en-us", "-s", "150", "-w", str(wav), SPEECH * repeats], check=True
        )
    elif not _packaged_speech_wav(wav, repeats):
        return None
    return mux_on_grey(wav, tmp / "speech.mp4", fps=5)


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
    from vidsleuth.settings import Settings
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
                    result["perceivers"][name] = {"skipped": "no espeak-ng, no packaged speech"}
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


def _norm(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def text_needle_recall(
    needles_json: Path, observations: list[Any], frame_times: list[float]
) -> dict[str, Any]:
    """Recall of the generator's text needles in OCR observations.

    Only needles on screen at one of the coarse frame times can be read at the coarse level;
    a needle counts as read when the OCR lines of one of its frames, joined, contain its value
    (letters and digits only, case ignored).  ``token_recall`` is the share of the needles'
    words found, a softer measure of partial reads.
    """
    from vidsleuth.evals.synth.schema import load_needles

    needles = [n for n in load_needles(needles_json).needles if n.kind == "text"]
    by_t: dict[float, list[str]] = {}
    for o in observations:
        if o.kind == "ocr":
            by_t.setdefault(round(o.t_start, 3), []).append(o.text)
    visible = [n for n in needles if any(n.contains(t) for t in frame_times)]
    hits, tokens, found_tokens, missed = 0, 0, 0, []
    for n in visible:
        texts = [" ".join(by_t.get(round(t, 3), [])) for t in frame_times if n.contains(t)]
        joined = [_norm(t) for t in texts]
        ok = any(_norm(n.value) in j for j in joined)
        hits += ok
        if not ok:
            missed.append({"value": n.value, "read": texts[:2]})
        words = [_norm(w) for w in n.value.split() if _norm(w)]
        tokens += len(words)
        found_tokens += sum(any(w in j for j in joined) for w in words)
    return {
        "text_needles": len(needles),
        "visible_at_coarse_frames": len(visible),
        "read": hits,
        "recall": round(hits / len(visible), 3) if visible else None,
        "token_recall": round(found_tokens / tokens, 3) if tokens else None,
        "missed": missed[:10],
    }


def bench_video(
    video: Path,
    *,
    names: tuple[str, ...] = ("ocr", "objects", "tags", "speech"),
    baseline: bool = False,
    store_dir: Path | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Index ``video`` and run each perceiver over it at the coarse level, timing each stage."""
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings
    from vidsleuth.tools.perception.cache import (
        chunk_frame_time,
        perceive_video,
        stored_observations,
    )
    from vidsleuth.tools.perception.registry import make_perceiver

    with tempfile.TemporaryDirectory() as tmp:
        root = store_dir or Path(tmp) / "store"
        extra: dict[str, Any] = {"ocr_det_side": 0, "ocr_reuse_diff": 0.0} if baseline else {}
        cfg = Settings(store=root, **extra)
        with Store.open(cfg.store) as store:
            t0 = time.perf_counter()
            summary = index_video(store, video, cfg)
            index_s = time.perf_counter() - t0
            record = store.video(summary.video_id)
            plan = chunk_plan_for(record, cfg)
            result: dict[str, Any] = {
                "video": str(video),
                "duration_s": round(record.probe.duration_s, 1),
                "size": f"{record.probe.width}x{record.probe.height}",
                "chunks": len(plan.chunks),
                "baseline": baseline,
                "index_s": round(index_s, 1),
                "perceivers": {},
            }
            for name in names:
                if name == "speech" and not record.probe.has_audio:
                    continue
                p = make_perceiver(name, cfg)
                t0 = time.perf_counter()
                p.load()  # type: ignore[attr-defined]
                load_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                out = perceive_video(
                    store,
                    record,
                    plan,
                    [name],
                    progress,
                    settings=cfg,
                    frames_plan=plan_key(plan, cfg),
                    batch=1 if baseline else 16,
                )
                secs = time.perf_counter() - t0
                st = out["perceivers"][name]
                row = {
                    "load_s": round(load_s, 2),
                    "seconds": round(secs, 1),
                    "units": st["units_computed"],
                    "units_similar": st["units_similar"],
                    "observations": st["observations"],
                }
                if p.modality == "frames":
                    row["frames_per_s"] = round(st["units_computed"] / secs, 2)
                    row["frames_seconds"] = out.get("frames_seconds")
                else:
                    row["audio_s_per_s"] = round(record.probe.duration_s / secs, 1)
                result["perceivers"][name] = row
            result["perception_s"] = round(
                sum(r["seconds"] for r in result["perceivers"].values()), 1
            )
            scale = 3600 / max(record.probe.duration_s, 1e-9)
            result["estimate_60min_s"] = round(result["perception_s"] * scale, 1)
            result["goal_s"] = GOAL_S
            needles = video.with_suffix(".json")
            if "ocr" in names and needles.exists():
                obs = stored_observations(store, record.video_id, ["ocr"], cfg)
                times = [chunk_frame_time(c) for c in plan.chunks]
                result["ocr_text_needles"] = text_needle_recall(needles, obs, times)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--videos", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/videos"
    )
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--perceivers", default="ocr,objects,tags,speech")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--video", type=Path, help="measure index + perception of this video")
    ap.add_argument("--baseline", action="store_true", help="with --video: before the speed work")
    args = ap.parse_args(argv)
    if args.video is not None:
        res = bench_video(
            args.video, names=tuple(args.perceivers.split(",")), baseline=args.baseline
        )
        print(json.dumps(res, indent=2))
        return 0
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
