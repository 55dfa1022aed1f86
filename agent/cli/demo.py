"""``vidsleuth demo``: the main job on the embedded CPU default, end to end (``make demo``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vidsleuth.agent.cli.common import StoreOpt, settings

DEMO_SEED = 7


def demo_cmd(
    minutes: Annotated[float, typer.Option("--minutes", help="length of the demo video")] = 10.0,
    seed: Annotated[int, typer.Option("--seed")] = DEMO_SEED,
    store: StoreOpt = None,
) -> None:
    """Generate the demo video (once), index it with progress bars and print a summary."""
    from vidsleuth.agent.cli.index import _progress_bar
    from vidsleuth.evals.synth.generator import generate, load_needles
    from vidsleuth.memory.indexer import index_video
    from vidsleuth.memory.store import Store

    cfg = settings(store=store)
    out_dir = cfg.store / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"demo-{minutes:g}min-seed{seed}.mp4"
    meta = video.with_suffix(".json")
    if video.exists() and meta.exists():
        typer.echo(f"demo video: {video} (already generated)", err=True)
        needles = load_needles(meta)
    else:
        typer.echo(f"generating a {minutes:g}-minute demo video: {video}", err=True)
        generate(video, minutes=minutes, seed=seed, progress=True)
        needles = load_needles(meta)
    with Store.open(cfg.store) as st, _progress_bar(False) as bar:
        task = bar.add_task(f"index {video.name}", total=None)
        summary = index_video(
            st, video, cfg, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
        stats = st.stats(summary.video_id)
    _print_summary(video, summary.as_dict(), stats, needles)


def _print_summary(video: Path, summary: dict, stats: dict, needles: object) -> None:
    items = getattr(needles, "needles", None)
    if items is None and isinstance(needles, dict):
        items = needles.get("needles", [])
    out = sys.stdout
    out.write(f"\nvideo     {video}\n")
    out.write(f"video_id  {summary['video_id']}\n")
    out.write(f"duration  {summary['duration_s']:.1f} s\n")
    out.write(
        f"chunks    {summary['chunks_total']} ({summary['chunks_computed']} computed, "
        f"{summary['chunks_reused']} reused) in {summary['seconds']:.1f} s\n"
    )
    out.write(f"frames    {stats['frame_bytes'] / 1e6:.1f} MB of cached frames\n")
    out.write(f"needles   {len(items or [])} hidden in the video (ground truth):\n")
    for n in items or []:
        d = n if isinstance(n, dict) else n.model_dump()
        out.write(
            f"  {d['t_start']:8.2f}-{d['t_end']:<8.2f} {d['kind']:<7} {json.dumps(d['value'])}\n"
        )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
