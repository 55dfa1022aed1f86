"""Needle haystack hooks: one needles JSON (or a folder of them) -> questions.

Each JSON is validated with the generator's own schema, so a hand-edited or truncated file is a
problem with its path, not a crash; its ``video`` field names the video beside it.

Options (``--option KEY=VALUE``): ``wording=orig`` (default, the original templates), ``alt``
(the reworded questions, uids ending ``:alt``) or ``both`` (each original followed by its
rewording, for side-by-side scoring: report keys ``orig`` and ``alt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidsleuth.errors import ConfigError, VidsleuthError
from vidsleuth.evals.haystack import build_questions, wordings_for
from vidsleuth.evals.loading import find_video
from vidsleuth.evals.schema import LoadResult, Problem, QARecord


def json_files(data: Path) -> list[Path]:
    return sorted(data.glob("*.json")) if data.is_dir() else [data]


def load(data: Path, videos: Path | None, options: dict[str, Any]) -> LoadResult:
    from vidsleuth.evals.synth.schema import load_needles

    try:
        wordings = wordings_for(options.get("wording"))
    except ValueError as err:
        raise ConfigError(f"--option wording: {err}") from err
    unknown = sorted(set(options) - {"wording"})
    if unknown:
        raise ConfigError(
            f"needle_haystack: unknown option(s) {', '.join(unknown)}; known: wording"
        )
    problems: list[Problem] = []
    records: list[QARecord] = []
    for path in json_files(data):
        try:
            manifest = load_needles(path).model_dump()
        except VidsleuthError as err:
            problems.append(Problem(str(path), str(err).removeprefix(f"{path}: ")))
            continue
        qs = build_questions(manifest, path.stem, seed=int(manifest["seed"]), wording=wordings)
        video = (videos or path.parent) / manifest["video"]
        if not video.is_file():
            video = find_video(videos or path.parent, path.stem)
        if video is None:
            problems.append(
                Problem(
                    str(path), f"video {manifest['video']} not found", kind="video", blocking=False
                )
            )
        for q in qs:
            q.video_path = video
        records.extend(qs)
    return LoadResult(records, problems)
