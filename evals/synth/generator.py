"""Deterministic synthetic long videos with needles whose spans are known to the frame.

A video is a sequence of camera shots over real pictures that packages ship (slow pan and zoom
with sub-pixel motion, hard cuts between shots), with "needles" inserted at random, non-overlapping
moments: a caption of distinctive text, an inset object picture, a full-frame colour flash, and
spoken phrases on the audio track.  ``generate`` writes ``OUT.mp4`` and ``OUT.json`` (the
:class:`~vidsleuth.evals.synth.schema.NeedleFile`) and returns the JSON as a dict.

Why it is built this way:

* **Determinism.** Every random choice comes from ``numpy.random.SeedSequence(seed)``; the shots,
  the needle times and the needle values use separate child streams, so asking for more needles
  does not change the scenery.  Rendering is pure numpy/OpenCV; x264 is deterministic, so the same
  arguments give the same decoded frames (and, with the same library versions, the same bytes).
* **Speed.** One affine warp per frame renders the camera motion, needles are pre-rendered patches
  pasted by slicing, and frames go to the encoder already in YUV 4:2:0 (OpenCV's conversion
  matches swscale's BT.601 limited range), so encoding dominates.  x264 ``veryfast`` at CRF 25
  with two threads: on moving textures (gravel, temple) it took the same CPU time as
  ``ultrafast`` (whose bitrate is 10x higher and costs as much to write) and gives files of
  about 1-1.6 MB per minute instead of 10-30.  Audio is produced one second at a time, so hours
  of video need little memory.
* **Exact spans.** Needles appear and disappear on frame boundaries (see ``schema`` for the
  convention), and the files are written under a temporary name and renamed, so a killed run
  never leaves a video without its ground truth.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import ConfigError
from vidsleuth.evals.synth import assets, speech
from vidsleuth.evals.synth.schema import KINDS, NeedleFile, load_needles

__all__ = ["GENERATOR_VERSION", "generate", "load_needles"]

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
AUDIO_RATE = 16000
MAX_MINUTES = 600.0
SPEECH_SOURCES = ("auto", "packaged", "espeak", "none")
VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}

SHOT_SECONDS = (20.0, 60.0)  # camera shot length range
ZOOM = (1.0, 1.5)  # 1 = the largest crop of the picture with the frame's aspect ratio
NEEDLE_SECONDS = {"text": (4.0, 8.0), "object": (4.0, 8.0), "flash": (1.0, 2.0)}
GAP_SECONDS = 2.0  # quiet time kept before and after every needle
NOISE_LEVEL = 0.002  # std of the background hiss (about -54 dBFS), so silence is not digital zero
TEXT_HEIGHT = 0.11  # font size as a share of the frame height (40 px at 360p: caps ~29 px tall)
OBJECT_HEIGHT = 0.42  # inset height as a share of the frame height


@dataclass
class _Shot:
    frame_start: int
    frame_end: int
    name: str
    flipped: bool
    crop0: tuple[float, float, float]  # centre x, centre y, crop width (source pixels)
    crop1: tuple[float, float, float]


@dataclass
class _Event:
    kind: str
    value: str
    frame_start: int
    frame_end: int
    source: str
    patch: np.ndarray | None = None  # RGB pixels pasted at (x, y); None for flash/speech
    xy: tuple[int, int] = (0, 0)
    colour: tuple[int, int, int] | None = None
    audio: np.ndarray | None = None
    bbox: list[int] | None = field(default=None)


# --- argument checks -------------------------------------------------------------------------


def _check_args(
    out: Path,
    minutes: float,
    seed: int,
    needles: int | None,
    fps: float,
    width: int,
    height: int,
    repeats: int,
    speech_source: str,
    crf: int,
) -> None:
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"{out}: output must end in one of {sorted(VIDEO_SUFFIXES)}")
    if not (isinstance(minutes, int | float) and math.isfinite(minutes)) or minutes <= 0:
        raise ConfigError(f"--minutes must be a positive number, got {minutes}")
    if minutes > MAX_MINUTES:
        raise ConfigError(f"--minutes must be at most {MAX_MINUTES:g}, got {minutes}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if needles is not None and needles < 0:
        raise ConfigError(f"--needles must be >= 0, got {needles}")
    if not 1 <= fps <= 60:
        raise ConfigError(f"--fps must be between 1 and 60, got {fps}")
    for name, v in (("width", width), ("height", height)):
        if v < 64 or v > 3840 or v % 2:
            raise ConfigError(f"--{name} must be an even number of pixels in 64..3840, got {v}")
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if speech_source not in SPEECH_SOURCES:
        raise ConfigError(f"speech source must be one of {SPEECH_SOURCES}, got {speech_source!r}")
    if not 0 <= crf <= 51:
        raise ConfigError(f"crf must be in 0..51, got {crf}")


def _resolve_kinds(kinds: Sequence[str] | str | None) -> list[str]:
    if kinds is None:
        return list(KINDS)
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    wanted = list(dict.fromkeys(k.lower() for k in kinds))
    unknown = [k for k in wanted if k not in KINDS]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown needle kind(s) {unknown or '(none given)'}; choose from {', '.join(KINDS)}"
        )
    return wanted


def _resolve_speech(source: str) -> str | None:
    if source in ("auto", "packaged") and speech.packaged_available():
        return "packaged"
    if source in ("auto", "espeak") and speech.espeak_available():
        return "espeak"
    return None


# --- planning --------------------------------------------------------------------------------


def _crop(
    rng: np.random.Generator, img_w: int, img_h: int, aspect: float
) -> tuple[float, float, float]:
    """A random crop (centre x, centre y, width) of the picture with the frame's aspect ratio."""
    full_w = min(img_w, img_h * aspect)
    cw = full_w / rng.uniform(*ZOOM)
    ch = cw / aspect
    cx = rng.uniform(cw / 2, img_w - cw / 2)
    cy = rng.uniform(ch / 2, img_h - ch / 2)
    return (float(cx), float(cy), float(cw))


def _plan_shots(
    rng: np.random.Generator, names: list[str], n_frames: int, fps: float, aspect: float
) -> list[_Shot]:
    bounds = [0]
    while bounds[-1] < n_frames:
        bounds.append(bounds[-1] + round(rng.uniform(*SHOT_SECONDS) * fps))
    bounds[-1] = n_frames
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < 5 * fps:  # no stub shot at the end
        del bounds[-2]
    order: list[str] = []
    shots = []
    for start, end in itertools.pairwise(bounds):
        if not order:
            order = list(rng.permutation(names))
            if shots and len(order) > 1 and order[0] == shots[-1].name:
                order.append(order.pop(0))
        name = str(order.pop(0))
        h, w = assets.background_image(name).shape[:2]
        shots.append(
            _Shot(
                start,
                end,
                name,
                bool(rng.random() < 0.5),
                _crop(rng, w, h, aspect),
                _crop(rng, w, h, aspect),
            )
        )
    return shots


def _values(
    rng: np.random.Generator, kind: str, count: int, repeats: int, speech_pool: Sequence[str]
) -> list[str]:
    """``count`` values of ``kind``; each distinct value used 1..``repeats`` times."""
    if kind == "text":
        seen: set[str] = set()

        def fresh() -> str:
            while True:
                phrase = assets.text_phrase(rng)
                if phrase not in seen:
                    seen.add(phrase)
                    return phrase

        draw = fresh
    else:
        pool_all = {
            "object": list(assets.OBJECTS),
            "flash": list(assets.COLOURS),
            "speech": list(speech_pool),
        }[kind]
        pool: list[str] = []

        def draw() -> str:
            if not pool:
                pool.extend(str(v) for v in rng.permutation(pool_all))
            return pool.pop(0)

    out: list[str] = []
    while len(out) < count:
        value = draw()
        out += [value] * min(int(rng.integers(1, repeats + 1)), count - len(out))
    return [out[i] for i in rng.permutation(len(out))]


def _text_patch(text: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    size = max(10, round(TEXT_HEIGHT * height))
    pad = max(4, size // 4)
    font = ImageFont.load_default(size=size)
    x0, y0, x1, y1 = font.getbbox(text)
    if x1 - x0 + 2 * pad > 0.94 * width:  # shrink long phrases to fit the frame
        size = max(8, int(size * (0.94 * width - 2 * pad) / (x1 - x0)))
        font = ImageFont.load_default(size=size)
        x0, y0, x1, y1 = font.getbbox(text)
    ink = ((255, 255, 255), (255, 230, 0))[int(rng.integers(2))]
    img = Image.new("RGB", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), (16, 16, 16))
    ImageDraw.Draw(img).text((pad - x0, pad - y0), text, font=font, fill=ink)
    return np.asarray(img)


def _object_patch(name: str, width: int, height: int) -> np.ndarray:
    from PIL import Image

    src = assets.object_image(name)
    aspect = src.shape[1] / src.shape[0]
    h = round(OBJECT_HEIGHT * height)
    w = round(h * aspect)
    if w > 0.5 * width:
        w = round(0.5 * width)
        h = round(w / aspect)
    border = max(2, height // 120)
    inner = np.asarray(Image.fromarray(src).resize((w, h), Image.Resampling.LANCZOS))
    patch = np.full((h + 2 * border, w + 2 * border, 3), 255, np.uint8)
    patch[border:-border, border:-border] = inner
    return patch


def _place(rng: np.random.Generator, patch: np.ndarray, width: int, height: int) -> tuple[int, int]:
    ph, pw = patch.shape[:2]
    margin = max(2, height // 30)
    x = int(rng.integers(margin, max(margin + 1, width - pw - margin + 1)))
    y = int(rng.integers(margin, max(margin + 1, height - ph - margin + 1)))
    return x, y


def _plan_needles(
    rng: np.random.Generator,
    kinds: list[str],
    count: int,
    repeats: int,
    n_frames: int,
    fps: float,
    width: int,
    height: int,
    speech_source: str | None,
) -> tuple[list[_Event], dict[str, list[str]]]:
    """Choose kinds, values, contents and frame spans of the needles, and distractor pools."""
    if speech_source == "packaged":
        clips = {c.text: c for c in speech.PACKAGED_CLIPS}
        speech_pool = list(clips)
    else:
        clips = {}
        speech_pool = list(speech.ESPEAK_PHRASES)
    # Cycle through the kinds (in a seeded order, so K < len(kinds) can draw any of them).
    order = [str(k) for k in rng.permutation(kinds)] if kinds else []
    sequence = [order[i % len(order)] for i in range(count)] if order else []
    sequence = [sequence[i] for i in rng.permutation(len(sequence))]
    values = {k: iter(_values(rng, k, sequence.count(k), repeats, speech_pool)) for k in kinds}

    events: list[_Event] = []
    for kind in sequence:
        value = next(values[kind])
        ev = _Event(kind, value, 0, 0, source="")
        if kind == "speech":
            if speech_source == "packaged":
                clip = clips[value]
                ev.audio = speech.clip_audio(clip, AUDIO_RATE)
                span = f"{clip.start_s:.3f}-{clip.end_s:.3f}"
                ev.source = f"{speech.SPEECH_PACKAGE}:{clip.asset}@{span}"
            else:
                ev.audio = speech.espeak_audio(value, AUDIO_RATE)
                ev.source = "espeak-ng"
            length = max(1, math.ceil(len(ev.audio) / AUDIO_RATE * fps))
        else:
            length = max(1, round(rng.uniform(*NEEDLE_SECONDS[kind]) * fps))
            if kind == "flash":
                ev.colour = assets.COLOURS[value]
                ev.bbox = [0, 0, width, height]
                ev.source = "colour"
            else:
                if kind == "text":
                    ev.patch = _text_patch(value, width, height, rng)
                    ev.source = "pillow default font"
                else:
                    ev.patch = _object_patch(value, width, height)
                    ev.source = f"skimage.data:{value}"
                ev.xy = _place(rng, ev.patch, width, height)
                x, y = ev.xy
                ev.bbox = [x, y, x + ev.patch.shape[1], y + ev.patch.shape[0]]
        ev.frame_end = length  # length for now; placed below
        events.append(ev)

    # Uniform random placement in time order: the needles (already in random kind order) are
    # laid end to end with a quiet gap around each, and the spare time is split among the gaps
    # by a flat Dirichlet draw, so needles never overlap and every arrangement is equally likely.
    gap = round(GAP_SECONDS * fps)
    if events:
        busy = sum(ev.frame_end for ev in events) + (len(events) + 1) * gap
        if busy > n_frames:
            raise ConfigError(
                f"{n_frames / fps:g} s of video is too short for {len(events)} needles "
                f"(they need {busy / fps:g} s with gaps); use more --minutes or fewer --needles"
            )
        spare = np.floor(rng.dirichlet(np.ones(len(events) + 1)) * (n_frames - busy)).astype(int)
        cursor = 0
        for ev, extra in zip(events, spare[:-1], strict=True):
            cursor += gap + int(extra)
            ev.frame_start, ev.frame_end = cursor, cursor + ev.frame_end
            cursor = ev.frame_end

    shown = {(ev.kind, ev.value) for ev in events}
    distractors: dict[str, list[str]] = {}
    for kind in KINDS:
        if kind == "text":
            pool: list[str] = []
            want = max(12, 3 * sum(ev.kind == "text" for ev in events))
            for _ in range(want * 20):
                phrase = assets.text_phrase(rng)
                if ("text", phrase) not in shown and phrase not in pool:
                    pool.append(phrase)
                if len(pool) >= want:
                    break
        else:
            every = {"object": assets.OBJECTS, "flash": assets.COLOURS, "speech": speech_pool}[kind]
            pool = [v for v in every if (kind, v) not in shown]
        distractors[kind] = pool
    return events, distractors


# --- rendering -------------------------------------------------------------------------------


def _smooth(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def _open_video(
    container: Any, fps: Fraction, width: int, height: int, preset: str, crf: int, gop: int
) -> Any:
    import av

    if "libx264" in av.codecs_available:
        stream = container.add_stream("libx264", rate=fps)
        stream.options = {
            "preset": preset,
            "crf": str(crf),
            "g": str(gop),
            "keyint_min": str(max(1, gop // 4)),
            "threads": "2",
        }
    else:  # PyAV wheels have shipped with x264 for years; keep a working fallback anyway
        log.warning("libx264 is not in this PyAV build; encoding MPEG-4 part 2 instead")
        stream = container.add_stream("mpeg4", rate=fps)
        stream.options = {"qscale": "4", "g": str(gop)}
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = Fraction(1) / fps
    return stream


def _progress(enabled: bool, label: str) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _render(
    tmp: Path,
    fmt: str,
    shots: list[_Shot],
    events: list[_Event],
    n_frames: int,
    fps: Fraction,
    width: int,
    height: int,
    seed: int,
    preset: str,
    crf: int,
    gop_s: float,
    progress: bool,
) -> None:
    import av
    import cv2

    aspect = width / height
    visual = [ev for ev in events if ev.kind != "speech"]
    spoken = [ev for ev in events if ev.kind == "speech"]
    total_samples = round(n_frames / fps * AUDIO_RATE) if spoken else 0
    speech_at = [(round(ev.frame_start / fps * AUDIO_RATE), ev.audio) for ev in spoken]

    container = av.open(str(tmp), "w", format=fmt)
    try:
        vstream = _open_video(
            container, fps, width, height, preset, crf, max(1, round(gop_s * float(fps)))
        )
        astream = None
        if spoken:
            astream = container.add_stream("aac", rate=AUDIO_RATE)
            astream.layout = "mono"
            astream.bit_rate = 48000
        audio_done = 0

        def write_audio(upto: int) -> None:
            nonlocal audio_done
            while audio_done < upto:
                n = min(AUDIO_RATE, upto - audio_done)
                chunk_rng = np.random.default_rng([seed, 7, audio_done])
                chunk = chunk_rng.normal(0.0, NOISE_LEVEL, n).astype(np.float32)
                for start, samples in speech_at:
                    lo, hi = max(start, audio_done), min(start + len(samples), audio_done + n)
                    if lo < hi:
                        chunk[lo - audio_done : hi - audio_done] += samples[lo - start : hi - start]
                frame = av.AudioFrame.from_ndarray(
                    np.clip(chunk, -1, 1).reshape(1, -1), format="fltp", layout="mono"
                )
                frame.sample_rate = AUDIO_RATE
                frame.pts = audio_done
                frame.time_base = Fraction(1, AUDIO_RATE)
                for packet in astream.encode(frame):
                    container.mux(packet)
                audio_done += n

        pictures: dict[tuple[str, bool], np.ndarray] = {}
        shot_i = ev_i = 0
        with _progress(progress, "generate") as bar:
            task = bar.add_task("generate", total=n_frames)
            for i in range(n_frames):
                while shots[shot_i].frame_end <= i:
                    shot_i += 1
                while ev_i < len(visual) and visual[ev_i].frame_end <= i:
                    ev_i += 1
                ev = visual[ev_i] if ev_i < len(visual) else None
                if ev is not None and ev.frame_start > i:
                    ev = None
                if ev is not None and ev.colour is not None:
                    rgb = np.empty((height, width, 3), np.uint8)
                    rgb[:] = ev.colour
                else:
                    shot = shots[shot_i]
                    key = (shot.name, shot.flipped)
                    if key not in pictures:
                        if len(pictures) > 4:
                            pictures.clear()
                        pic = assets.background_image(shot.name)
                        pictures[key] = np.ascontiguousarray(pic[:, ::-1] if shot.flipped else pic)
                    span = max(1, shot.frame_end - shot.frame_start - 1)
                    u = _smooth((i - shot.frame_start) / span)
                    cx, cy, cw = (
                        a + (b - a) * u for a, b in zip(shot.crop0, shot.crop1, strict=True)
                    )
                    scale = width / cw
                    matrix = np.array(
                        [
                            [scale, 0.0, (cw / 2 - cx) * scale],
                            [0.0, scale, (cw / aspect / 2 - cy) * scale],
                        ]
                    )
                    rgb = cv2.warpAffine(
                        pictures[key],
                        matrix,
                        (width, height),
                        flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT,
                    )
                    if ev is not None and ev.patch is not None:
                        x, y = ev.xy
                        rgb[y : y + ev.patch.shape[0], x : x + ev.patch.shape[1]] = ev.patch
                frame = av.VideoFrame.from_ndarray(
                    cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p"
                )
                frame.pts = i
                for packet in vstream.encode(frame):
                    container.mux(packet)
                if astream is not None:
                    write_audio(min(total_samples, math.ceil((i + 1) / fps * AUDIO_RATE)))
                if i % 64 == 63 or i == n_frames - 1:
                    bar.update(task, completed=i + 1)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            write_audio(total_samples)
            for packet in astream.encode():
                container.mux(packet)
    finally:
        container.close()


# --- public API ------------------------------------------------------------------------------


def generate(
    out_path: str | Path,
    *,
    minutes: float,
    seed: int = 0,
    needles: int | None = None,
    kinds: Sequence[str] | str | None = None,
    fps: float = 30.0,
    width: int = 640,
    height: int = 360,
    backgrounds: str | Sequence[str] | None = None,
    repeats: int = 1,
    speech_source: str = "auto",
    preset: str = "veryfast",
    crf: int = 25,
    gop_seconds: float = 8.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Write a synthetic video to ``out_path`` and its needles JSON beside it (``.json``).

    ``needles`` is the number of needle occurrences (default: one per kind), spread over
    ``kinds`` in turn (default all of ``text, object, flash, speech``).  ``backgrounds`` is a
    split name (``"train"``, ``"test"``, ``"all"``) or a list of names from
    :data:`~vidsleuth.evals.synth.assets.BACKGROUNDS`, so held-out videos can use scenes never
    seen in training.  ``repeats`` > 1 lets one value appear up to that many times (for "how many
    times" questions).  Speech comes from the packaged real recordings, else espeak-ng; with
    neither, speech needles are dropped with a warning.  Returns the JSON as a dict.
    """
    out = Path(out_path)
    _check_args(out, minutes, seed, needles, fps, width, height, repeats, speech_source, crf)
    kind_list = _resolve_kinds(kinds)
    names = assets.select_backgrounds(
        list(backgrounds)
        if backgrounds is not None and not isinstance(backgrounds, str)
        else backgrounds
    )
    count = len(kind_list) if needles is None else needles

    source = _resolve_speech(speech_source) if "speech" in kind_list else None
    if "speech" in kind_list and source is None:
        message = (
            f"no speech source (speech_source={speech_source!r}: the {speech.SPEECH_PACKAGE} "
            "package's wavs and espeak-ng are both unavailable); speech needles are skipped"
        )
        warnings.warn(message, stacklevel=2)
        log.warning(message)
        kind_list.remove("speech")
        if needles is None:
            count = len(kind_list)
    if not kind_list:
        count = 0

    rate = Fraction(fps).limit_denominator(1001)
    n_frames = max(1, round(minutes * 60 * rate))
    plan_rng, needle_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    shots = _plan_shots(plan_rng, names, n_frames, float(rate), width / height)
    events, distractors = _plan_needles(
        needle_rng, kind_list, count, repeats, n_frames, float(rate), width, height, source
    )
    events.sort(key=lambda ev: ev.frame_start)

    def t(frame: int) -> float:
        return round(float(frame / rate), 6)

    result = NeedleFile(
        generator_version=GENERATOR_VERSION,
        video=out.name,
        seed=seed,
        minutes=minutes,
        duration_s=t(n_frames),
        n_frames=n_frames,
        fps=float(rate),
        width=width,
        height=height,
        has_audio=any(ev.kind == "speech" for ev in events),
        speech_source=source,
        kinds=kind_list,  # type: ignore[arg-type]
        background_selection=names,
        backgrounds=[
            {
                "t_start": t(s.frame_start),
                "t_end": t(s.frame_end),
                "name": s.name,
                "flipped": s.flipped,
            }
            for s in shots
        ],
        needles=[
            {
                "id": f"n{k + 1:02d}",
                "kind": ev.kind,
                "t_start": t(ev.frame_start),
                "t_end": t(ev.frame_end),
                "frame_start": ev.frame_start,
                "frame_end": ev.frame_end,
                "value": ev.value,
                "bbox": ev.bbox,
                "source": ev.source,
            }
            for k, ev in enumerate(events)
        ],
        distractors=distractors,
    ).model_dump(mode="json")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = out.with_name(f".{out.name}.partial")
    tmp_json = out.with_name(f".{out.stem}.json.partial")
    try:
        _render(
            tmp_video,
            VIDEO_SUFFIXES[out.suffix.lower()],
            shots,
            events,
            n_frames,
            rate,
            width,
            height,
            seed,
            preset,
            crf,
            gop_seconds,
            progress and sys.stderr is not None,
        )
        tmp_json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_video, out)
        os.replace(tmp_json, out.with_suffix(".json"))
    finally:
        for leftover in (tmp_video, tmp_json):
            leftover.unlink(missing_ok=True)
    return result
