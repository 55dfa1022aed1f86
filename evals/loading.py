"""Reading helpers shared by task loaders: tolerant JSONL, video lookup by key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidsleuth.evals.schema import Problem

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".ts")


def iter_jsonl(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)``; a malformed line becomes a problem and is skipped."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(Problem(f"{path}:{lineno}", f"malformed JSON line ({err.msg})"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(f"{path}:{lineno}", "line is not a JSON object"))
                continue
            yield lineno, obj


def find_video(folder: Path | None, key: str) -> Path | None:
    """``<folder>/<key>.<ext>`` for any video extension (then one level of sub-folders)."""
    if folder is None or not key:
        return None
    for ext in VIDEO_EXTENSIONS:
        p = folder / f"{key}{ext}"
        if p.is_file():
            return p
    for p in sorted(folder.glob(f"*/{key}.*")):
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
            return p
    return None
