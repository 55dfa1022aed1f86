"""Real-clips haystack hooks: a manifest written by ``real_haystack.build`` -> questions.

Options (``--option KEY=VALUE``): ``open=yes`` adds the open-ended questions (listed with their
reference answers, excluded from letter scoring); the default leaves them out.  ``per_kind=N``
keeps N questions of every kind (what, who, doing, count, colour, when, order), chosen by a
stable hash of their ids, so a slow method can be measured on a balanced subset that every
other method then answers too; ``skip=M`` with it takes the next N of every kind instead (ranks
M to M+N-1 in that order), so a later run adds questions no earlier run asked.

When the data is absent (no manifest: the clips under ``../shared/data/videos`` were never there
to build one) the loader returns no questions and one problem that says how to build it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidsleuth.errors import ConfigError
from vidsleuth.evals.loading import find_video
from vidsleuth.evals.real_haystack import build_questions
from vidsleuth.evals.schema import LoadResult, Problem, QARecord

_YES = {"1", "yes", "true", "include", "on"}
_NO = {"", "0", "no", "false", "skip", "off"}
BUILD_HINT = (
    "build one with `vidsleuth eval build-real --minutes 10 --out DIR/real-10min.mp4` "
    "(needs the clips in ../shared/data/videos)"
)


def load(data: Path, videos: Path | None, options: dict[str, Any]) -> LoadResult:
    unknown = sorted(set(options) - {"open", "per_kind", "skip"})
    if unknown:
        raise ConfigError(
            f"real_haystack: unknown option(s) {', '.join(unknown)}; known: open, per_kind, skip"
        )
    per_kind = _count(options, "per_kind", 1) if "per_kind" in options else None
    skip = _count(options, "skip", 0) if "skip" in options else 0
    if skip and per_kind is None:
        raise ConfigError("--option skip=M needs --option per_kind=N (it skips M of every kind)")
    open_opt = str(options.get("open", "no")).strip().lower()
    if open_opt not in _YES | _NO:
        raise ConfigError(f"--option open={options.get('open')!r}: expected yes or no")
    problems: list[Problem] = []
    records: list[QARecord] = []
    if not data.exists():
        problems.append(Problem(str(data), f"no real-haystack manifest here; {BUILD_HINT}"))
        return LoadResult(records, problems)
    paths = sorted(data.glob("*.json")) if data.is_dir() else [data]
    if not paths:
        problems.append(Problem(str(data), f"no manifest (*.json) in this folder; {BUILD_HINT}"))
    for path in paths:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            problems.append(Problem(str(path), f"cannot read manifest ({err})"))
            continue
        if not isinstance(manifest, dict) or not isinstance(manifest.get("clips"), list):
            problems.append(Problem(str(path), "not a real-haystack manifest (no 'clips' list)"))
            continue
        for name in manifest.get("missing") or []:
            problems.append(
                Problem(
                    str(path),
                    f"clip {name} was absent when this haystack was built (no questions on it)",
                    kind="data",
                    blocking=False,
                )
            )
        video = find_video(videos or path.parent, path.stem)
        if video is None:
            problems.append(
                Problem(str(path), f"video {path.stem}.* not found", kind="video", blocking=False)
            )
        for q in build_questions(manifest, path.stem, include_open=open_opt in _YES):
            q.video_path = video
            records.append(q)
    if per_kind is not None:
        records = balanced_subset(records, per_kind, skip)
    return LoadResult(records, problems)


def _count(options: dict[str, Any], key: str, least: int) -> int:
    try:
        value = int(str(options[key]))
    except ValueError:
        value = least - 1
    if value < least:
        raise ConfigError(f"--option {key}={options[key]!r}: expected a count >= {least}")
    return value


def balanced_subset(records: list[QARecord], per_kind: int, skip: int = 0) -> list[QARecord]:
    """``per_kind`` questions of every kind (first category), chosen by a stable hash of the
    uid (the same subset on every run and machine), in their original order.  ``skip`` passes
    over the first ``skip`` of every kind in that hash order, so consecutive windows
    (``skip=0``, ``skip=N``, ...) never share a question."""
    import hashlib

    def rank(q: QARecord) -> str:
        return hashlib.blake2b(q.uid.encode(), digest_size=8).hexdigest()

    keep: set[str] = set()
    kinds = sorted({(q.categories or ["?"])[0] for q in records})
    for kind in kinds:
        of_kind = [q for q in records if (q.categories or ["?"])[0] == kind]
        keep |= {q.uid for q in sorted(of_kind, key=rank)[skip : skip + per_kind]}
    return [q for q in records if q.uid in keep]
