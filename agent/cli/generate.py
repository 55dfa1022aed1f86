"""``vidsleuth generate``: write a synthetic long video and its needles JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidsleuth.agent.cli.common import JsonOpt, print_json


def generate_command(
    out: Annotated[
        Path, typer.Argument(help="video to write (.mp4); OUT.json is written beside it")
    ],
    minutes: Annotated[float, typer.Option("--minutes", "-m", help="length in minutes")] = 1.0,
    seed: Annotated[
        int, typer.Option("--seed", "-s", help="random seed (same seed, same video)")
    ] = 0,
    needles: Annotated[
        int | None,
        typer.Option("--needles", "-n", help="number of needles (default: one per kind)"),
    ] = None,
    kinds: Annotated[
        str | None,
        typer.Option("--kinds", help="comma-separated needle kinds: text,object,flash,speech"),
    ] = None,
    fps: Annotated[float, typer.Option("--fps", help="frames per second (1..60)")] = 30.0,
    width: Annotated[int, typer.Option("--width", help="frame width in pixels (even)")] = 640,
    height: Annotated[int, typer.Option("--height", help="frame height in pixels (even)")] = 360,
    backgrounds: Annotated[
        str | None,
        typer.Option(
            "--backgrounds", help="background split (train, test, all) or comma-separated names"
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", help="a needle value may occur up to this many times")
    ] = 1,
    speech_source: Annotated[
        str, typer.Option("--speech", help="speech source: auto, packaged, espeak or none")
    ] = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Generate a synthetic video with needles of known position (writes OUT and OUT.json)."""
    from vidsleuth.evals.synth.generator import generate

    result = generate(
        out,
        minutes=minutes,
        seed=seed,
        needles=needles,
        kinds=kinds,
        fps=fps,
        width=width,
        height=height,
        backgrounds=backgrounds,
        repeats=repeats,
        speech_source=speech_source,
        progress=True,
    )
    if json_out:
        print_json(result)
        return
    typer.echo(
        f"wrote {out} ({result['duration_s']:g} s, {result['width']}x{result['height']} "
        f"@ {result['fps']:g} fps) and {out.with_suffix('.json')}"
    )
    for needle in result["needles"]:
        typer.echo(
            f"  {needle['id']}  {needle['t_start']:9.3f}-{needle['t_end']:9.3f} s  "
            f"{needle['kind']:<6}  {needle['value']}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command."""
    app.command("generate")(generate_command)
