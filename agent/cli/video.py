"""``vidsleuth info VIDEO``: what the probe sees in a video file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidsleuth.agent.cli.common import JsonOpt, print_json

VideoArg = Annotated[Path, typer.Argument(help="video file", show_default=False)]


def info(video: VideoArg, json_: JsonOpt = False) -> None:
    """Print duration, frame rate, size, rotation, streams and keyframes of VIDEO."""
    from vidsleuth.tools.video import probe

    found = probe(video)
    if json_:
        print_json(found.model_dump())
        return
    kf = found.keyframes
    subs = (
        ", ".join(
            f"#{s.index} {s.codec}{' ' + s.language if s.language else ''}"
            for s in found.subtitle_streams
        )
        or "none"
    )
    lines = [
        f"file       {found.path}",
        f"duration   {found.duration_s:.3f} s ({found.duration_source})",
        f"video      {found.codec} {found.width}x{found.height} {found.fps:.3f} fps "
        f"{found.fps_mode.upper()}, {found.nb_frames} frames"
        + (f", rotated {found.rotation} deg" if found.rotation else ""),
        f"audio      {found.audio_codec or 'none'}",
        f"subtitles  {subs}",
        f"keyframes  {len(kf)} (every {found.gop_s:.2f} s on average)",
    ]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("info")(info)
