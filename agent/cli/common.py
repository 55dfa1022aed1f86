"""Options and helpers shared by every subcommand family."""

from __future__ import annotations

import json
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
    """Settings from the environment, then the flags that were given on the command line."""
    return Settings().with_overrides(**flags)


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
