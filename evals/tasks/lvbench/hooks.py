"""LVBench hooks: read ``video_info.meta.jsonl`` as published.

One JSON object per video: ``key``, ``type``, ``video_info`` (``duration_minutes``...), ``qa``:
[{``uid``, ``question`` (options inside the text as ``(A) ...`` lines), ``answer``,
``question_type`` (list), ``time_reference``}].  Problems are collected, never raised, so one
bad line or question leaves the rest of the benchmark usable.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from vidsleuth.evals.loading import find_video, iter_jsonl
from vidsleuth.evals.schema import LETTERS, LoadResult, Problem, QARecord
from vidsleuth.evals.timecodes import parse_time_reference

CATEGORY_KEYS: dict[str, str] = {
    "key information retrieval": "KIR",
    "event understanding": "EU",
    "summarization": "Sum",
    "entity recognition": "ER",
    "reasoning": "Rea",
    "temporal grounding": "TG",
}
_OPTION_RE = re.compile(r"^\s*\(([A-Z])\)\s*(.*?)\s*$")


def parse_options(text: str) -> tuple[str, dict[str, str]]:
    """Split the question text into its stem and ``{letter: option}``.

    Raises ``ValueError`` unless exactly the options (A)-(D) appear, once each, in order.
    """
    stem: list[str] = []
    options: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _OPTION_RE.match(line)
        if m:
            letter = m.group(1)
            if letter in options:
                raise ValueError(f"option ({letter}) appears twice")
            options[letter] = m.group(2)
            current = letter
        elif current is None:
            stem.append(line)
        elif line.strip():  # an option that wraps onto the next line
            options[current] = f"{options[current]} {line.strip()}".strip()
    if tuple(options) != LETTERS:
        found = "".join(options) or "none"
        raise ValueError(f"expected options (A)-(D) on their own lines, found {found}")
    if any(not v for v in options.values()):
        raise ValueError("an option is empty")
    return "\n".join(stem).strip(), options


def _duration_s(info: Any) -> float | None:
    """Seconds from ``video_info`` (minutes preferred); None unless a finite, positive number."""
    if isinstance(info, dict):
        for key, scale in (("duration_minutes", 60.0), ("duration", 1.0)):
            value = info.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    seconds = float(value) * scale
                except OverflowError:
                    continue
                if math.isfinite(seconds) and seconds > 0:
                    return seconds
    return None


def load(data: Path, videos: Path | None, options: dict[str, Any]) -> LoadResult:
    """Every question of the file; ``videos`` is the folder holding ``<key>.<ext>``."""
    if data.is_dir():
        data = data / "video_info.meta.jsonl"
    if not data.is_file():
        return LoadResult([], [Problem(str(data), "annotation file does not exist")])
    problems: list[Problem] = []
    records: list[QARecord] = []
    seen: set[str] = set()
    for lineno, video in iter_jsonl(data, problems):
        where = f"{data}:{lineno}"
        key = video.get("key")
        qas = video.get("qa")
        if not isinstance(key, str) or not key.strip() or not isinstance(qas, list):
            problems.append(Problem(where, "video line lacks a 'key' string or a 'qa' list"))
            continue
        duration = _duration_s(video.get("video_info"))
        path = find_video(videos, key)
        if videos is not None and path is None:
            problems.append(
                Problem(where, f"video {key!r} not found in {videos}", kind="video", blocking=False)
            )
        for i, qa in enumerate(qas, start=1):
            if not isinstance(qa, dict):
                problems.append(
                    Problem(where, f"qa item {i} is not a JSON object ({type(qa).__name__})")
                )
                continue
            records.append(_record(qa, key, duration, path, where, video.get("type"), problems))
            uid = records[-1].uid
            if uid in seen:
                problems.append(Problem(where, f"duplicate uid {uid}", uid=uid))
            seen.add(uid)
    return LoadResult(records, problems)


def _record(
    qa: dict[str, Any],
    key: str,
    duration: float | None,
    path: Path | None,
    where: str,
    video_type: Any,
    problems: list[Problem],
) -> QARecord:
    uid = str(qa.get("uid", ""))
    src = f"{where} uid {uid}"
    rec = QARecord(
        uid=uid,
        video_key=key,
        question=str(qa.get("question", "")),
        options={},
        answer=None,
        duration_s=duration,
        video_path=path,
        meta={"video_type": video_type, "time_reference": qa.get("time_reference")},
    )
    try:
        rec.question, rec.options = parse_options(str(qa.get("question", "")))
    except ValueError as err:
        problems.append(Problem(src, f"options cannot be parsed: {err}", uid=uid))
        rec.excluded = "options cannot be parsed"
    answer = str(qa.get("answer", "")).strip().upper()
    if answer in LETTERS:
        rec.answer = answer
    else:
        problems.append(Problem(src, f"answer {answer!r} is not one of A-D", uid=uid, kind="label"))
        rec.excluded = rec.excluded or "unusable answer label"
    types = qa.get("question_type") or []
    if not isinstance(types, list):
        types = [types]
    for t in types:
        cat = CATEGORY_KEYS.get(str(t).strip().lower())
        if cat is None:
            problems.append(Problem(src, f"unknown question_type {t!r}", uid=uid, blocking=False))
        elif cat not in rec.categories:
            rec.categories.append(cat)
    ref = qa.get("time_reference")
    if ref:
        try:
            rec.reference_spans = [parse_time_reference(str(ref))]
        except ValueError as err:
            problems.append(Problem(src, f"time_reference: {err}", uid=uid, blocking=False))
    return rec
