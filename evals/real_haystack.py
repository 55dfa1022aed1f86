"""The real-clips haystack: real clips spliced into long filler at recorded offsets.

Every run of this benchmark touches footage nobody on the project made (see
``../shared/data/videos/SOURCES.md``).  :func:`build` writes ``OUT.mp4`` and ``OUT.json``; the JSON
records where each clip landed, and :func:`build_questions` asks about those clips only, with
facts taken from SOURCES.md, so every answer and reference span is exact.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import VideoError
from vidsleuth.evals.schema import LETTERS, QARecord
from vidsleuth.evals.timecodes import format_clock


@dataclass(frozen=True)
class ClipFact:
    """One question about a clip: the right answer and three wrong ones (from SOURCES.md)."""

    question: str
    answer: str
    wrong: tuple[str, str, str]


@dataclass(frozen=True)
class Clip:
    file: str
    description: str  # how a "when" question names the clip, without giving away its facts
    facts: tuple[ClipFact, ...]


CLIPS: tuple[Clip, ...] = (
    Clip(
        "bikes.mp4",
        "the overhead view of a road",
        (
            ClipFact(
                "In the overhead view of a road, what vehicle passes?",
                "a red car",
                ("a yellow school bus", "a white delivery van", "a green tractor"),
            ),
        ),
    ),
    Clip(
        "big_buck_bunny_0_30.webm",
        "the animated meadow under a pink sky",
        (
            ClipFact(
                "Which title appears in the animated meadow scene?",
                "Big Buck Bunny",
                ("Elephants Dream", "Sintel", "Tears of Steel"),
            ),
        ),
    ),
    Clip(
        "chaplin.mp4",
        "the black-and-white silent film",
        (
            ClipFact(
                "In the black-and-white silent film, what hat does the walking man wear?",
                "a bowler hat",
                ("a top hat", "a baseball cap", "a straw sombrero"),
            ),
        ),
    ),
    Clip(
        "timecode_pattern.mp4",
        "the colour-bar test pattern with a caption",
        (
            ClipFact(
                "What caption is written on the colour-bar test pattern?",
                "1024 x 768 25 fps Photo JPEG 75%",
                (
                    "1920 x 1080 30 fps H.264 90%",
                    "640 x 480 24 fps MPEG-2 50%",
                    "1280 x 720 60 fps ProRes 100%",
                ),
            ),
        ),
    ),
    Clip(
        "airplane.mp4",
        "the grey sky",
        (
            ClipFact(
                "What flies across the grey sky?",
                "a large airliner",
                ("a hot-air balloon", "a flock of geese", "a small helicopter"),
            ),
        ),
    ),
    Clip(
        "sintel_snow.mp4",
        "the snowstorm",
        (
            ClipFact(
                "Who is seen in the snowstorm?",
                "a hooded figure with a staff",
                ("a knight on horseback", "a child with a sled", "a dog pulling a cart"),
            ),
        ),
    ),
    Clip(
        "carphone.mp4",
        "the man talking in a moving car",
        (
            ClipFact(
                "What does the man talking in the moving car wear at his neck?",
                "a bow tie",
                ("a striped scarf", "a gold chain", "a loose necktie"),
            ),
        ),
    ),
)


def _probe_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
        if c.duration:
            return c.duration / 1_000_000
    return 0.0


def _fit(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterbox ``img`` into ``width x height`` keeping its aspect ratio."""
    from PIL import Image

    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(2, int(w * scale)), max(2, int(h * scale))
    small = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y : y + nh, x : x + nw] = small
    return canvas


def _clip_frames(path: Path, fps: float, width: int, height: int) -> list[np.ndarray]:
    """The clip resampled to ``fps`` (latest frame at or before each output tick)."""
    import av

    frames: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time is not None:
                    frames.append((float(f.time), f.to_ndarray(format="rgb24")))
    except av.FFmpegError as err:
        raise VideoError(path, f"cannot decode ({err})") from err
    if not frames:
        raise VideoError(path, "no video frames")
    t0 = frames[0][0]
    end = frames[-1][0] - t0
    out, j = [], 0
    for k in range(max(1, int(end * fps) + 1)):
        t = k / fps
        while j + 1 < len(frames) and frames[j + 1][0] - t0 <= t:
            j += 1
        out.append(_fit(frames[j][1], width, height))
    return out


FILLER_CYCLE = 60  # distinct filler frames; reused in a loop so long fillers cost no compute


def _filler(k: int, width: int, height: int) -> np.ndarray:
    """Slowly drifting dim gradient: moving, but carrying nothing a question could ask about."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    phase = k / FILLER_CYCLE
    g = 0.25 + 0.15 * np.sin(2 * np.pi * (x + y + phase))
    img = np.stack([g, g * 0.9, g * 1.1], axis=-1)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def build(
    videos_dir: Path,
    out: Path,
    minutes: float = 10.0,
    seed: int = 0,
    *,
    fps: float = 10.0,
    width: int = 640,
    height: int = 360,
    clips: tuple[Clip, ...] = CLIPS,
) -> dict[str, Any]:
    """Write ``out`` (.mp4) and ``out.with_suffix('.json')``; return the manifest.

    Clips go at seeded offsets, in a seeded order, never touching each other; the rest is filler.
    """
    import av

    available = [c for c in clips if (videos_dir / c.file).is_file()]
    if not available:
        raise VideoError(videos_dir, "none of the haystack clips is there")
    rng = random.Random(seed)
    rng.shuffle(available)
    parts = [(c, _clip_frames(videos_dir / c.file, fps, width, height)) for c in available]
    total = int(minutes * 60 * fps)
    clip_frames = sum(len(f) for _, f in parts)
    if clip_frames + len(parts) + 1 > total:
        raise VideoError(out, f"{minutes} min is too short for {clip_frames / fps:.0f} s of clips")
    # Split the filler into len(parts)+1 gaps of seeded, positive lengths.
    free = total - clip_frames
    cuts = sorted(rng.sample(range(1, free), len(parts)))
    gaps = [b - a for a, b in zip([0, *cuts], [*cuts, free], strict=True)]
    out.parent.mkdir(parents=True, exist_ok=True)
    placed: list[dict[str, Any]] = []
    k = 0
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28", "g": str(int(fps * 4))}

        def emit(img: np.ndarray) -> None:
            nonlocal k
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
            k += 1

        cycle = [_filler(i, width, height) for i in range(FILLER_CYCLE)]
        for gap, (clip, frames) in zip(gaps, [*parts, (None, [])], strict=True):
            for _ in range(gap):
                emit(cycle[(k // 3) % FILLER_CYCLE])
            if clip is not None:
                start = k
                for img in frames:
                    emit(img)
                placed.append({"file": clip.file, "t_start": start / fps, "t_end": k / fps})
        for packet in stream.encode():
            container.mux(packet)
    manifest = {
        "duration_s": total / fps,
        "seed": seed,
        "fps": fps,
        "clips": placed,
        "source": str(videos_dir),
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def build_questions(manifest: dict[str, Any], video_key: str) -> list[QARecord]:
    """A *what* question per clip fact and a *when* question per placed clip."""
    facts = {c.file: c for c in CLIPS}
    seed = manifest.get("seed", 0)
    duration = float(manifest["duration_s"])
    placed = manifest.get("clips", [])
    out: list[QARecord] = []
    for p in placed:
        clip = facts.get(p["file"])
        if clip is None:
            continue
        span = (float(p["t_start"]), float(p["t_end"]))
        for i, fact in enumerate(clip.facts):
            rng = random.Random(f"{seed}:{clip.file}:what:{i}")
            choices = [fact.answer, *fact.wrong]
            rng.shuffle(choices)
            out.append(
                QARecord(
                    uid=f"{video_key}:{clip.file}:what{i}",
                    video_key=video_key,
                    question=fact.question,
                    options=dict(zip(LETTERS, choices, strict=True)),
                    answer=LETTERS[choices.index(fact.answer)],
                    categories=["what"],
                    reference_spans=[span],
                    duration_s=duration,
                    meta={"clip": clip.file},
                )
            )
        # "When" options: the true window and the windows of three other clips (or shifted ones).
        others = [(float(q["t_start"]), float(q["t_end"])) for q in placed if q is not p]
        rng = random.Random(f"{seed}:{clip.file}:when")
        rng.shuffle(others)
        length = span[1] - span[0]
        for _ in range(1000):
            if len(others) >= 3:
                break
            s = float(round(rng.uniform(0, max(duration - length, 1))))
            if s + length < span[0] - 1 or s > span[1] + 1:
                others.append((s, s + length))
        if len(others) < 3:
            continue
        windows = [span, *others[:3]]
        rng.shuffle(windows)
        texts = [f"{format_clock(a)}-{format_clock(b)}" for a, b in windows]
        out.append(
            QARecord(
                uid=f"{video_key}:{clip.file}:when",
                video_key=video_key,
                question=f"When is {clip.description} shown?",
                options=dict(zip(LETTERS, texts, strict=True)),
                answer=LETTERS[windows.index(span)],
                categories=["when"],
                reference_spans=[span],
                duration_s=duration,
                meta={"clip": clip.file},
            )
        )
    return out
