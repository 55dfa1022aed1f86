"""``vidsleuth models ls`` and ``vidsleuth models check``: what models exist, and do they work."""

from __future__ import annotations

from typing import Annotated

import typer

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, settings

models_app = typer.Typer(help="List and check the model backends.", no_args_is_help=True)


def _size(n: object) -> str:
    value = float(n) if isinstance(n, int | float) else 0.0
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


@models_app.command("ls")
def ls_cmd(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the registered models: backend, source package, size, licence, installed or not."""
    from vidsleuth.tools.models.factory import model_rows

    rows = model_rows(settings(store=store))
    if json_out:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "kind", "backend", "source", "size", "licence", "installed"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        installed = "yes" if r["installed"] else "no"
        if r["installed"] and r["assembled"]:
            installed += " (assembled)"
        name = f"{r['name']} *" if r["default"] else str(r["name"])
        table.add_row(
            name,
            str(r["kind"]),
            str(r["backend"]),
            str(r["source"]),
            _size(r["size_bytes"]),
            str(r["licence"]).split(" (")[0],
            installed,
        )
    import sys

    # Piped output gets full-width lines (rich would fold to 80 columns).
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    console.print("* = configured default (chat_model / text_embedder)")


@models_app.command("check")
def check_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="models to check (default: the configured chat model and embedder)"),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify hashes, load each model and run one tiny real inference; exit 1 if any fails."""
    from vidsleuth.tools.models.factory import check_model

    cfg = settings(store=store)
    targets = names or [cfg.chat_model, cfg.text_embedder]
    rows = []
    for name in targets:
        if not json_out:
            typer.echo(f"checking {name} ...", err=True)
        rows.append(check_model(name, cfg))
    if json_out:
        print_json(rows)
    else:
        for r in rows:
            mark = "ok  " if r["ok"] else "FAIL"
            typer.echo(f"{mark} {r['name']}  ({r['seconds']}s)")
            if r.get("hash"):
                typer.echo(f"     hash: {r['hash']}")
            typer.echo(f"     {r.get('detail', '')}")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
