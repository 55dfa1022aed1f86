"""``vidsleuth models ls`` and ``vidsleuth models check``: what models exist, and do they work."""

from __future__ import annotations

from typing import Annotated, Any

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
    from vidsleuth.tools.models.factory import model_rows, role_rows

    cfg = settings(store=store)
    rows = model_rows(cfg)
    roles = role_rows(cfg)
    retriever = retriever_row(cfg)
    if json_out:
        print_json([*rows, *(_role_as_row(r) for r in roles), retriever])
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
    console.print("")
    console.print("roles:")
    for r in roles:
        if r["configured"]:
            console.print(f"  {r['role']:<10} {r['backend']}: {r['model']} ({r['where']})")
        else:
            console.print(
                f"  {r['role']:<10} none: sees through OCR, objects, tags "
                "(set VIDSLEUTH_VLM_BACKEND and VIDSLEUTH_VLM_MODEL for a vision-language model)"
            )
    console.print(f"  {'retriever':<10} {retriever['source']}: {retriever['description']}")


def retriever_row(cfg: object) -> dict[str, object]:
    """The chunk retriever's checkpoint and what it was trained on, from the JSON card saved
    beside it (a checkpoint trained only on synthetic needle videos says so: users judge how
    far to trust its ranking on their footage)."""
    import json
    from pathlib import Path

    from vidsleuth.tools.retrieval.rvlm import DEFAULT_CHECKPOINT

    path = Path(getattr(cfg, "retriever_ckpt", None) or DEFAULT_CHECKPOINT)
    card = path.with_name(path.name + ".json")
    problems: list[str] = []
    info: dict[str, Any] = {}
    try:
        info = json.loads(card.read_text(encoding="utf-8")).get("info") or {}
    except (OSError, ValueError, AttributeError) as err:
        problems.append(f"no readable training card {card.name} ({type(err).__name__})")
    train_cfg = info.get("train_config")
    loss = train_cfg.get("loss", "?") if isinstance(train_cfg, dict) else "?"
    n_train = len(info.get("train_videos") or [])
    n_val = len(info.get("val_videos") or [])
    questions = info.get("train_questions")
    synthetic = path.name == DEFAULT_CHECKPOINT.name
    trained_on = (
        f"trained on {n_train} synthetic needle videos of evals/synth ({questions} questions; "
        f"{n_val} held out), loss {loss}; never trained on real footage"
        if synthetic
        else f"trained on {n_train} videos ({questions} questions), loss {loss}"
    )
    return {
        "name": "role:retriever",
        "kind": "role",
        "role": "retriever",
        "backend": "rvlm",
        "model": path.name,
        "source": path.name,
        "size_bytes": path.stat().st_size if path.is_file() else 0,
        "licence": "Apache-2.0 (this project)",
        "installed": path.is_file() and not problems,
        "problems": problems,
        "assembled": False,
        "default": True,
        "description": trained_on if not problems else problems[0],
    }


def _role_as_row(role: dict[str, object]) -> dict[str, object]:
    """A role in the row shape of ``models ls --json`` (name ``role:<role>``, kind ``role``)."""
    problems = [] if role["configured"] else ["no VLM configured (VIDSLEUTH_VLM_BACKEND=none)"]
    return {
        "name": f"role:{role['role']}",
        "kind": "role",
        "role": role["role"],
        "backend": role["backend"],
        "model": role["model"],
        "source": role["where"],
        "size_bytes": 0,
        "licence": "",
        "installed": not problems,
        "problems": problems,
        "assembled": False,
        "default": bool(role["configured"]),
        "description": f"the {role['role']} model; settings {role['settings']}",
    }


@models_app.command("check")
def check_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="models to check (default: the configured chat model and embedder, and the "
            "perceiver VLM when one is configured); `vlm` checks the perceiver VLM"
        ),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify hashes, load each model and run one tiny real inference; exit 1 if any fails."""
    from vidsleuth.tools.models.factory import check_model

    cfg = settings(store=store)
    targets = names or [cfg.chat_model, cfg.text_embedder] + (
        ["vlm"] if cfg.vlm_backend != "none" else []
    )
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
