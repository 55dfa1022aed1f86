"""Real-clips haystack hooks: a manifest written by ``real_haystack.build`` -> questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidsleuth.evals.loading import find_video
from vidsleuth.evals.real_haystack import build_questions
from vidsleuth.evals.schema import LoadResult, Problem, QARecord


def load(data: Path, videos: Path | None, options: dict[str, Any]) -> LoadResult:
    problems: list[Problem] = []
    records: list[QARecord] = []
    for path in sorted(data.glob("*.json")) if data.is_dir() else [data]:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            problems.append(Problem(str(path), f"cannot read manifest ({err})"))
            continue
        if not isinstance(manifest, dict) or not isinstance(manifest.get("clips"), list):
            problems.append(Problem(str(path), "not a real-haystack manifest (no 'clips' list)"))
            continue
        video = find_video(videos or path.parent, path.stem)
        if video is None:
            problems.append(
                Problem(str(path), f"video {path.stem}.* not found", kind="video", blocking=False)
            )
        for q in build_questions(manifest, path.stem):
            q.video_path = video
            records.append(q)
    return LoadResult(records, problems)
