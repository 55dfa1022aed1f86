"""The settings table of the README, generated from :class:`~vidsleuth.settings.Settings`.

``python -m vidsleuth.settings_doc`` prints the table (name, environment variable, default,
description); ``--write README.md`` replaces the table between the README's markers.  A test
fails when the README's table and the model disagree, so a new or changed setting cannot go
undocumented.
"""

from __future__ import annotations

import argparse
import re
import sys
import typing
from pathlib import Path

from pydantic.fields import FieldInfo

from vidsleuth.settings import Settings

BEGIN = "<!-- settings table: python -m vidsleuth.settings_doc --write README.md -->"
END = "<!-- end of settings table -->"
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")


def _cell(text: str) -> str:
    """A table cell: pipes escaped, and ``<arch>``-style placeholders kept visible (a markdown
    renderer would take them for HTML tags and hide them)."""
    text = _PLACEHOLDER.sub(r"&lt;\1&gt;", text.replace("``", "`"))
    return text.replace("|", "\\|").replace("\n", " ")


def _default(info: FieldInfo) -> str:
    """The default as a reader would type it; a computed one says how it is computed."""
    factory = info.default_factory
    if factory is not None:
        doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
        return doc[0].rstrip(".") if doc else "computed"
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "`"
    return f"`{value}`"


def _choices(info: FieldInfo) -> str:
    """``a``, ``b`` or ``c`` when the type is a ``Literal``; empty otherwise."""
    if typing.get_origin(info.annotation) is typing.Literal:
        return " (one of " + ", ".join(f"`{v}`" for v in typing.get_args(info.annotation)) + ")"
    return ""


def settings_rows() -> list[tuple[str, str, str, str]]:
    """``(name, environment variable, default, description)`` per setting, in model order."""
    prefix = str(Settings.model_config.get("env_prefix") or "")
    rows = []
    for name, info in Settings.model_fields.items():
        description = (info.description or "").strip()
        rows.append((name, f"{prefix}{name.upper()}", _default(info), description + _choices(info)))
    return rows


def settings_table() -> str:
    """The markdown table of every setting."""
    lines = [
        "| setting | environment variable | default | what it does |",
        "|---|---|---|---|",
    ]
    for name, env, default, description in settings_rows():
        lines.append(f"| `{name}` | `{env}` | {_cell(default)} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str | None:
    """The table between the README's markers, or None when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(BEGIN) : end].strip("\n") + "\n"


def write_readme(path: Path) -> bool:
    """Replace the README's table with the generated one; True when it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no settings table markers ({BEGIN} ... {END})")
    new = text[: start + len(BEGIN)] + "\n" + settings_table() + text[end:]
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidsleuth.settings_doc", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="README", help="update this file's table")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(settings_table())
        return 0
    changed = write_readme(args.write)
    sys.stderr.write(f"{args.write}: settings table {'updated' if changed else 'up to date'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
