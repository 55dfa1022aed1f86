"""Options and helpers shared by every subcommand family."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.settings import Settings

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="store folder (default: $VIDSLEUTH_STORE or ~/.cache/vidsleuth)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def settings(**flags: Any) -> Settings:
    """Settings from the environment, then the flags that were given on the command line.

    A bad value (``VIDSLEUTH_SAMPLE_FPS=nan``, ``--fps 0``) is one :class:`ConfigError` line
    naming the setting, its environment variable and the problem.
    """
    from pydantic import ValidationError

    from vidsleuth.errors import ConfigError

    try:
        return Settings().with_overrides(**flags)
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        given = first.get("input")
        shown = f" (got {str(given)[:40]!r})" if given is not None else ""
        raise ConfigError(
            f"setting {name} (VIDSLEUTH_{name.upper()} or its flag){shown}: {first['msg']}{more}"
        ) from None


def check_video_ref(ref: str | Path, store: Path) -> None:
    """Refuse a bad video argument before anything is opened, locked or created.

    A path that exists must be a readable regular file that probes as a video; anything else
    is a video id (or a unique prefix) that must already be in an existing store.  Looking an
    id up never creates a store.
    """
    from vidsleuth.errors import StoreError, VideoError
    from vidsleuth.memory.store import Store, check_id_prefix, check_video, store_exists

    s = str(ref)
    check_id_prefix(s)
    if os.path.lexists(s):
        check_video(s)
        return
    if store_exists(store):
        with Store.open(store, create=False) as st:
            matches = [v.video_id for v in st.videos() if v.video_id.startswith(s)]
        if len(matches) == 1:
            return
        if len(matches) > 1:
            raise StoreError(f"{s}: ambiguous video id prefix ({len(matches)} matches)")
    raise VideoError(s, f"no such file, nor a video id in {store}")


def progress_bar(quiet: bool = False) -> Any:
    """A rich progress bar on stderr; disabled when ``quiet`` or stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet or not sys.stderr.isatty(),
    )


def print_json(obj: Any) -> None:
    """Print one JSON document to stdout (the only thing ``--json`` commands print there)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
