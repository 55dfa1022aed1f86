"""``vidsleuth look`` (what is on screen at a time) and ``vidsleuth listen`` (the transcript).

Both run the perceivers directly on the file, without the store: they are for looking closely
at one moment or interval, and must work on a video that was never indexed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.agent.cli.common import JsonOpt, print_json, settings

VideoArg = Annotated[Path, typer.Argument(help="video file")]


def look_cmd(
    video: VideoArg,
    at: Annotated[float, typer.Option("--at", help="time in seconds from the start")],
    perceivers: Annotated[
        str | None,
        typer.Option(
            "--perceivers",
            help="comma-separated: ocr,objects,tags,caption (or all; caption needs a VLM)",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the frame perceivers on the frame shown at --at and print what they see.

    ``caption`` (with a vision-language model configured) sends the VLM ``caption_frames``
    frames of the chunk around --at in one request, as coarse perception does.
    """
    from vidsleuth.errors import ConfigError
    from vidsleuth.memory.store import check_video
    from vidsleuth.tools.perception.registry import (
        FRAME_PERCEIVERS,
        VLM_PERCEIVERS,
        make_perceiver,
        parse_names,
    )
    from vidsleuth.tools.video import probe, sample_frames

    cfg = settings()
    path = check_video(video)
    info = probe(path)
    if not math.isfinite(at) or at < 0 or (info.duration_s and at > info.duration_s):
        raise ConfigError(f"--at {at:g} is outside {path} (0 to {info.duration_s:.3f} s)")
    allowed = FRAME_PERCEIVERS + VLM_PERCEIVERS
    names = [n for n in parse_names(perceivers or cfg.perceivers, cfg) if n in allowed]
    if not names:
        raise ConfigError(f"look runs frame perceivers only: {', '.join(allowed)}")
    frame = sample_frames(path, [at], decoder=cfg.decoder)[0]
    result: dict[str, Any] = {"video": str(path), "t": round(frame.t, 3), "observations": []}
    for name in names:
        if name in VLM_PERCEIVERS:
            obs = _caption_at(
                path, at, float(info.duration_s or at), cfg, make_perceiver(name, cfg)
            )
        else:
            obs = make_perceiver(name, cfg).perceive_frames([frame])
        result["observations"] += [o.model_dump(mode="json") for o in obs]
    if json_out:
        print_json(result)
        return
    typer.echo(f"{path} at {frame.t:.3f} s ({frame.image.shape[1]}x{frame.image.shape[0]}):")
    if not result["observations"]:
        typer.echo("  nothing recognised")
    for o in result["observations"]:
        score = f" {o['score']:.2f}" if o["score"] is not None else ""
        box = " [" + ",".join(f"{v:.0f}" for v in o["box"]) + "]" if o["box"] else ""
        typer.echo(f"  {o['kind']:<7} {o['text']}{score}{box}")


def _caption_at(path: Path, at: float, duration: float, cfg: Any, perceiver: Any) -> list[Any]:
    """Caption the chunk window holding ``at`` from ``caption_frames`` frames spread over it."""
    import math

    from vidsleuth.errors import ModelError
    from vidsleuth.tools.video import sample_frames

    width = cfg.chunk_seconds
    a = min(math.floor(at / width) * width, max(0.0, duration - 1e-3))
    b = min(a + width, duration) if duration > a else a + width
    n = max(1, perceiver.frames_per_unit)
    times = [a + (b - a) * (k + 0.5) / n for k in range(n)]
    frames = sample_frames(path, times, max_side=cfg.perception_max_side, decoder=cfg.decoder)
    got: list[Any] = []
    problems: list[str] = []

    def keep(_i: int, obs: list[Any] | None, problem: str | None) -> None:
        got.extend(obs or [])
        if problem:
            problems.append(problem)

    perceiver.perceive_units([(a, b, frames)], keep)
    if problems:
        raise ModelError(problems[0])
    return got


def listen_cmd(
    video: VideoArg,
    start: Annotated[float, typer.Option("--start", help="from this time (s)")] = 0.0,
    end: Annotated[float | None, typer.Option("--end", help="up to this time (s)")] = None,
    subtitles: Annotated[
        list[Path] | None, typer.Option("--subtitles", help="subtitle file(s) instead of sidecars")
    ] = None,
    sources: Annotated[
        str, typer.Option("--sources", help="speech, subtitles or both (comma-separated)")
    ] = "speech,subtitles",
    json_out: JsonOpt = False,
) -> None:
    """Print the transcript of the video (speech and subtitles) with times.

    A video with no audio stream and no subtitles is an error (exit 2): there is nothing to
    listen to.  With subtitles but no audio, the subtitles are printed and the missing audio is
    listed among the problems.
    """
    from vidsleuth.errors import ConfigError, VideoError
    from vidsleuth.memory.store import check_video
    from vidsleuth.tools.perception.registry import TIMELINE_PERCEIVERS, make_perceiver, parse_names
    from vidsleuth.tools.perception.speech import NO_AUDIO
    from vidsleuth.tools.perception.subtitles import SubtitlePerceiver
    from vidsleuth.tools.video import probe

    cfg = settings()
    if not all(math.isfinite(t) for t in (start, end if end is not None else 0.0)):
        raise ConfigError(f"--start {start:g} / --end {end} must be finite numbers of seconds")
    if start < 0 or (end is not None and end <= start):
        raise ConfigError(f"--start {start:g} / --end {end} is not an interval")
    path = check_video(video)  # a file that is not a video is an error (exit 2), not silence
    duration = probe(path).duration_s
    if duration and start >= duration:
        raise ConfigError(f"--start {start:g} is past the end of {path} ({duration:.3f} s)")
    names = [n for n in parse_names(sources) if n in TIMELINE_PERCEIVERS]
    if not names:
        raise ConfigError("--sources must name speech and/or subtitles")
    for f in subtitles or []:
        check_subtitle_file(f)
    segments: list[dict[str, Any]] = []
    problems: list[str] = []
    no_audio = False
    for name in names:
        p = (
            SubtitlePerceiver(subtitles)
            if name == "subtitles" and subtitles
            else make_perceiver(name, cfg)
        )
        for o in p.perceive_audio(path, start, end):
            if o.kind == "problem":
                no_audio |= name == "speech" and o.text == NO_AUDIO
                problems.append(f"{name}: {o.text}")
            else:
                segments.append(
                    {"t_start": o.t_start, "t_end": o.t_end, "text": o.text, "source": name}
                )
    segments.sort(key=lambda s: (s["t_start"], s["source"]))
    if no_audio and not any(s["source"] == "subtitles" for s in segments):
        raise VideoError(path, "has no audio stream and no subtitles: nothing to listen to")
    if json_out:
        print_json({"video": str(path), "segments": segments, "problems": problems})
        return
    for s in segments:
        typer.echo(f"[{_clock(s['t_start'])} - {_clock(s['t_end'])}] ({s['source']}) {s['text']}")
    if not segments:
        typer.echo("(no speech or subtitles in this interval)")
    for problem in problems:
        typer.echo(f"problem: {_printable(problem)}", err=True)


def _printable(text: str) -> str:
    """Control characters (from a damaged file) never reach the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def check_subtitle_file(f: Path) -> Path:
    """A ``--subtitles`` file must be a readable regular file of text (SRT/VTT), not binary."""
    import stat

    from vidsleuth.errors import ConfigError

    try:
        st = f.stat()
    except OSError as err:
        reason = "not found" if isinstance(err, FileNotFoundError) else err.strerror
        raise ConfigError(f"{f}: subtitle file {reason}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{f}: subtitle file is not a regular file")
    try:
        with f.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as err:
        raise ConfigError(f"{f}: subtitle file cannot be read ({err.strerror})") from None
    if _looks_binary(head):
        raise ConfigError(f"{f}: not a text subtitle file (binary data); give an .srt or .vtt")
    return f


def _looks_binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as err:
        if err.start >= len(head) - 3:  # a multi-byte character cut by the 64 KiB read
            return False
    text = head.decode("latin-1")
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return control > len(text) // 20


def _clock(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:06.3f}"


def register(app: typer.Typer) -> None:
    app.command("look")(look_cmd)
    app.command("listen")(listen_cmd)
