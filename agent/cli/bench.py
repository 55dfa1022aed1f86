"""``vidsleuth bench ...``: performance benchmarks (other issues add commands to this sub-app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidsleuth.agent.cli.common import JsonOpt, print_json

bench_app = typer.Typer(help="Performance benchmarks.", no_args_is_help=True)


@bench_app.command("decode")
def decode(
    video: Annotated[Path, typer.Argument(help="video file", show_default=False)],
    decoder: Annotated[
        str | None, typer.Option("--decoder", help="pyav or decord (default: the faster one)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="decoder processes (default: automatic)")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Frame-exact 1 fps sampling vs `ffmpeg -vf fps=1:round=up`, plus the keyframe-only pass."""
    from vidsleuth.evals.bench_decode import bench_decode

    result = bench_decode(video, decoder=decoder, workers=workers)
    if json_:
        print_json(result)
        return
    typer.echo(
        f"{result['video']}: {result['duration_s']:.1f} s, {result['width']}x{result['height']}"
        f" @ {result['fps']:.2f} fps\n"
        f"ours ({result['decoder']})  {result['frames']} frames in {result['ours_seconds']:.2f} s"
        f" = {result['ours_fps']:.1f} frames/s\n"
        f"ffmpeg round=up  {result['ffmpeg_frames']} frames in {result['ffmpeg_seconds']:.2f} s"
        f" = {result['ffmpeg_fps']:.1f} frames/s\n"
        f"ratio            {result['ratio']:.2f}x (ours vs ffmpeg)\n"
        f"keyframe pass    {result['keyframes']} frames in {result['keyframe_seconds']:.2f} s"
        f" = {result['keyframe_fps']:.1f} frames/s, {result['keyframe_speedup']:.1f}x less time"
        " than exact 1 fps\n"
        f"exact            {result['exact']} (max mean pixel diff {result['max_pixel_diff']})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
