"""Reading helpers shared by task loaders: tolerant JSONL, video lookup by key."""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidsleuth.evals.schema import Problem

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".ts")


def iter_jsonl(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)``; a malformed line becomes a problem and is skipped.

    Lines are decoded one by one, so bytes that are not UTF-8 spoil only their own line.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; a generator holds it open
    except OSError as err:
        problems.append(Problem(str(path), f"cannot read ({err.strerror or err})"))
        return
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as err:
                problems.append(
                    Problem(f"{path}:{lineno}", f"line is not UTF-8 text ({_bad(err)})")
                )
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(Problem(f"{path}:{lineno}", f"malformed JSON line ({err.msg})"))
                continue
            except RecursionError:
                problems.append(Problem(f"{path}:{lineno}", "JSON nested too deeply"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(f"{path}:{lineno}", "line is not a JSON object"))
                continue
            yield lineno, obj


def _bad(err: UnicodeDecodeError) -> str:
    return f"byte 0x{err.object[err.start]:02x} at offset {err.start}"


def read_json(path: Path) -> Any:
    """The JSON document in ``path``; :class:`ValueError` with one clear line for any problem.

    Unreadable files, bytes that are not UTF-8 and malformed JSON are all reported the same way,
    so loaders turn them into a :class:`Problem` with one ``except ValueError``.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text ({_bad(err)})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def find_video(folder: Path | None, key: str) -> Path | None:
    """``<folder>/<key>.<ext>`` for any video extension (then one level of sub-folders)."""
    if folder is None or not key:
        return None
    if "\0" in key or "/" in key or "\\" in key or key in (".", ".."):
        return None  # not a file name: never a path outside the folder, never a crash
    try:
        for ext in VIDEO_EXTENSIONS:
            p = folder / f"{key}{ext}"
            if p.is_file():
                return p
        for p in sorted(folder.glob(f"*/{glob.escape(key)}.*")):
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
                return p
    except (OSError, ValueError):  # a name too long for the file system, and the like
        return None
    return None
