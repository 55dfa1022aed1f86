"""``vidsleuth index`` and the ``vidsleuth store`` family (ls, rm)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, progress_bar, settings

store_app = typer.Typer(help="Inspect and manage the persistent store.", no_args_is_help=True)


def index_cmd(
    videos: Annotated[list[Path], typer.Argument(help="video files to index")],
    fps: Annotated[float | None, typer.Option("--fps", help="frames sampled per second")] = None,
    chunk_seconds: Annotated[float | None, typer.Option("--chunk-seconds")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="decoder processes")] = None,
    decoder: Annotated[str | None, typer.Option("--decoder", help="auto, pyav or decord")] = None,
    full_hash: Annotated[bool | None, typer.Option("--full-hash/--fast-hash")] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
    perceive: Annotated[
        str | None,
        typer.Option(
            "--perceive",
            help="then run these perceivers at the coarse level: ocr,objects,tags,speech,"
            "subtitles or all (stored, reused by later runs)",
        ),
    ] = None,
) -> None:
    """Index videos: probe, fingerprint and cache every chunk's frames (resumable); with
    ``--perceive``, also the coarse perception of every chunk."""
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.memory.store import Store, check_video
    from vidsleuth.tools.perception.registry import parse_names

    cfg = settings(
        store=store,
        sample_fps=fps,
        chunk_seconds=chunk_seconds,
        workers=workers,
        decoder=decoder,
        full_hash=full_hash,
    )
    for v in videos:  # every video is checked (and probed) before the store is opened
        check_video(v)
    names = parse_names(perceive) if perceive else []
    summaries = []
    with Store.open(cfg.store) as st, progress_bar(quiet) as bar:
        for v in videos:
            task = bar.add_task(f"index {v.name}", total=None)

            def progress(done: int, total: int, task: int = task) -> None:
                bar.update(task, completed=done, total=total)

            def waiting(v: Path = v) -> None:
                sys.stderr.write(f"vidsleuth: waiting for another process indexing {v}\n")

            summary = index_video(st, v, cfg, progress=progress, on_wait=waiting)
            row = summary.as_dict()
            if not json_out:
                s = summary
                typer.echo(
                    f"{v}: {s.video_id} {s.duration_s:.1f}s, {s.chunks_total} chunks "
                    f"({s.chunks_computed} computed, {s.chunks_reused} reused) in {s.seconds:.1f}s"
                )
            if names:
                record = st.video(summary.video_id)
                assert record is not None  # index_video registered it
                plan = chunk_plan_for(record, cfg)
                row["perception"] = _perceive(
                    st, record, plan, plan_key(plan, cfg), names, cfg, bar
                )
                if not json_out:
                    for n, p in row["perception"].items():
                        if "skipped" in p:
                            typer.echo(f"  {n}: skipped ({p['skipped']})")
                            continue
                        typer.echo(
                            f"  {n}: {p['units_computed']} units computed "
                            f"({p['units_similar']} copied from an unchanged frame), "
                            f"{p['units_reused']} reused, {p['observations']} observations "
                            f"in {p['seconds']:.1f}s"
                            + (f"; {len(p['problems'])} problems" if p["problems"] else "")
                        )
            summaries.append(row)
    if json_out:
        print_json(summaries[0] if len(summaries) == 1 else summaries)


def _perceive(
    store: Any,
    record: Any,
    plan: Any,
    frames_plan: str,
    names: list[str],
    cfg: Any,
    bar: Any,
) -> dict[str, Any]:
    """Coarse perception of one indexed video, one progress bar per perceiver; returns the
    per-perceiver summary (units computed/reused, observations, seconds, problems)."""
    from vidsleuth.tools.perception.cache import perceive_video

    if not record.probe.has_audio and "speech" in names:
        names = [n for n in names if n != "speech"]
        skipped = {"speech": {"skipped": "no audio stream"}}
    else:
        skipped = {}
    tasks = {n: bar.add_task(f"  {n}", total=None) for n in names}

    def progress(name: str, done: int, total: int) -> None:
        bar.update(tasks[name], completed=done, total=total)

    out = perceive_video(
        store, record, plan, names, progress, settings=cfg, frames_plan=frames_plan
    )
    result = {
        n: {
            k: st[k]
            for k in (
                "version",
                "units_computed",
                "units_reused",
                "units_similar",
                "observations",
                "seconds",
                "problems",
            )
        }
        for n, st in out["perceivers"].items()
    }
    return {**result, **skipped}


@store_app.command("ls")
def store_ls(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the videos in the store with what is cached for each."""
    from vidsleuth.memory.store import Store, store_exists

    cfg = settings(store=store)
    rows: list[dict[str, Any]] = []
    if store_exists(cfg.store):  # listing never creates a store
        with Store.open(cfg.store, create=False) as st:
            for rec in st.videos():
                rows.append(
                    {
                        "video_id": rec.video_id,
                        "path": rec.path,
                        "duration_s": rec.probe.duration_s,
                        "size": rec.size,
                        **st.stats(rec.video_id),
                    }
                )
    if json_out:
        print_json({"store": str(cfg.store), "videos": rows})
        return
    typer.echo(f"store: {cfg.store} ({len(rows)} videos)")
    for r in rows:
        chunks = ", ".join(f"{n} chunks [{p}]" for p, n in r["chunks"].items()) or "no chunks"
        typer.echo(f"{r['video_id']}  {r['duration_s']:8.1f}s  {chunks}  {r['path']}")


@store_app.command("rm")
def store_rm(
    video_ids: Annotated[list[str], typer.Argument(help="video ids (or unique prefixes)")],
    store: StoreOpt = None,
) -> None:
    """Remove videos and everything stored for them."""
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.store import Store, check_id_prefix

    cfg = settings(store=store)
    for ref in video_ids:  # an empty prefix would match (and remove) every video
        check_id_prefix(ref)
    with Store.open(cfg.store, create=False) as st:
        for ref in video_ids:
            matches = [r.video_id for r in st.videos() if r.video_id.startswith(ref)]
            if len(matches) != 1:
                raise StoreError(
                    f"{ref}: {'no' if not matches else 'ambiguous'} video id in {cfg.store}"
                )
            st.remove(matches[0])
            dropped = _drop_memory(cfg, matches[0])
            typer.echo(
                f"removed {matches[0]}" + (f" and {dropped} memory collections" if dropped else "")
            )


def _drop_memory(cfg: Any, video_id: str) -> int:
    """Drop the video's Chroma collections and entity graph (collections are named per video)."""
    from vidsleuth.memory.chroma import chroma_dir, open_memory_store

    graph = cfg.store / "graph" / f"{video_id}.json"
    graph.unlink(missing_ok=True)
    if cfg.chroma_url is None and not chroma_dir(cfg.store).exists():
        return 0
    with open_memory_store(cfg) as cs, cs.access():
        names = [n for n in cs.collection_names() if f"-{video_id}-" in n]
        for n in names:
            cs.drop(n)
    return len(names)


def register(app: typer.Typer) -> None:
    app.command("index")(index_cmd)
    app.add_typer(store_app, name="store")
