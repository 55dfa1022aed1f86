"""``vidsleuth info VIDEO``: what the probe sees in a video file, and what a store holds for it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, settings

if TYPE_CHECKING:
    from vidsleuth.settings import Settings
    from vidsleuth.tools.video import VideoProbe

VideoArg = Annotated[
    str,
    typer.Argument(help="video file, or a video id (prefix) in the store", show_default=False),
]
_ID = re.compile(r"^[vf][0-9a-f]{1,20}$")


def store_state(cfg: Settings, ref: str, found: VideoProbe | None) -> tuple[Any, dict[str, Any]]:
    """``(probe, state)``: what the store holds for a file or an id, read from SQLite alone.

    A file is looked up by its content id (the same sampled fingerprint ``index`` uses) and is
    never registered; an id must be in the store.  Nothing is created, locked or written, and
    no model or memory is opened, so this stays as cheap as the probe.
    """
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.store import Store, fingerprint, store_exists

    if not store_exists(cfg.store):
        if found is None:
            raise StoreError(f"{ref}: no such file, and {cfg.store} holds no store")
        return found, {"store": str(cfg.store), "indexed": False}
    with Store.open(cfg.store, create=False) as st:
        if found is not None:
            rec = st.video(fingerprint(ref, full=cfg.full_hash))
        else:
            matches = [v for v in st.videos() if v.video_id.startswith(ref)]
            if len(matches) > 1:
                raise StoreError(f"{ref}: ambiguous video id prefix ({len(matches)} matches)")
            if not matches:
                raise StoreError(f"{ref}: neither a video file nor a video id in {cfg.store}")
            rec = matches[0]
        if rec is None:
            return found, {"store": str(cfg.store), "indexed": False}
        stats = st.stats(rec.video_id)
    producers = sorted({k.split("@", 1)[0] for k in stats["artifacts"]})
    return found or rec.probe, {
        "store": str(cfg.store),
        "indexed": True,
        "video_id": rec.video_id,
        "chunks": stats["chunks"],
        "perceived": producers,
        "frame_bytes": stats["frame_bytes"],
    }


def info(video: VideoArg, store: StoreOpt = None, json_: JsonOpt = False) -> None:
    """Print duration, frame rate, size, rotation, streams and keyframes of VIDEO; with
    ``--store``, also what that store holds for it (VIDEO may then be a stored video's id)."""
    from vidsleuth.tools.video import probe

    state: dict[str, Any] | None = None
    if store is not None and not os.path.lexists(video) and _ID.match(video):
        found, state = store_state(settings(store=store), video, None)
    else:
        found = probe(Path(video))
        if store is not None:
            found, state = store_state(settings(store=store), video, found)
    if json_:
        doc = found.model_dump()
        if state is not None:
            doc["store"] = state
        print_json(doc)
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
    if state is not None:
        if not state["indexed"]:
            lines.append(f"store      {state['store']}: not indexed there")
        else:
            chunks = ", ".join(f"{n} chunks" for n in state["chunks"].values()) or "no frames"
            seen = ", ".join(state["perceived"]) or "nothing yet"
            lines.append(f"store      {state['store']}: {state['video_id']}, {chunks}")
            lines.append(f"perceived  {seen}")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("info")(info)
