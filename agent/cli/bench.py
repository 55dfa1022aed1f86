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


@bench_app.command("perception")
def perception(
    video: Annotated[
        Path | None,
        typer.Argument(
            help="video to index and perceive end to end (default: per-perceiver speeds on the "
            "shared clips)",
            show_default=False,
        ),
    ] = None,
    perceivers: Annotated[
        str, typer.Option("--perceivers", help="comma-separated perceivers")
    ] = "ocr,objects,tags,speech",
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="with VIDEO: the configuration before the speed work"),
    ] = False,
    frames: Annotated[int, typer.Option("--frames", help="frames per perceiver (clips mode)")] = 20,
    videos: Annotated[
        Path | None, typer.Option("--videos", help="folder of the shared clips (clips mode)")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Perception speed: per perceiver frames/s (or audio s/s) and the 60-minute estimate.

    With VIDEO: ``index`` then coarse perception of each perceiver in a scratch store (seconds,
    frames/s, units copied from unchanged frames, OCR recall of the generator's text needles
    when its JSON lies beside the video).
    """
    from vidsleuth.errors import VidsleuthError
    from vidsleuth.evals.bench_perception import GOAL_S, bench_perception, bench_video
    from vidsleuth.tools.perception.registry import parse_names

    names = tuple(parse_names(perceivers))
    if video is not None:
        if not video.is_file():
            raise VidsleuthError(f"{video}: no such file")
        result = bench_video(video, names=names, baseline=baseline)
    else:
        folder = videos or Path.cwd().parent / "shared/data/videos"
        if not folder.is_dir():
            raise VidsleuthError(f"{folder}: clips folder not found (pass --videos)")
        result = bench_perception(folder, n_frames=frames, names=names)
    if json_:
        print_json(result)
        return
    for name, r in result["perceivers"].items():
        typer.echo(f"{name:9} " + ", ".join(f"{k} {v}" for k, v in r.items()))
    if video is not None:
        typer.echo(
            f"index {result['index_s']} s; perception {result['perception_s']} s for "
            f"{result['duration_s']} s of video; 60-min estimate {result['estimate_60min_s']} s "
            f"(goal {GOAL_S} s)"
        )
        if "ocr_text_needles" in result:
            r = result["ocr_text_needles"]
            typer.echo(
                f"OCR text needles: {r['read']}/{r['visible_at_coarse_frames']} read "
                f"(recall {r['recall']}, token recall {r['token_recall']})"
            )
    else:
        typer.echo(
            f"one 4 s chunk: {result['chunk_cost_s']} s; 60-min video: "
            f"{result['estimate_60min_s']} s (goal {GOAL_S} s)"
        )


@bench_app.command("caption")
def caption(
    video: Annotated[Path, typer.Argument(help="video file", show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Caption speed of the configured VLM (VIDSLEUTH_VLM_*): chunks/s, seconds per video-hour,
    frames and tokens per request, against the 60-minute goal (900 chunks in < 5 min)."""
    from vidsleuth.agent.cli.common import settings
    from vidsleuth.errors import VidsleuthError
    from vidsleuth.evals.bench_caption import bench_caption, format_result

    if not video.is_file():
        raise VidsleuthError(f"{video}: no such file")
    result = bench_caption(video, settings())
    if json_:
        print_json(result)
        return
    typer.echo(format_result(result))


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
