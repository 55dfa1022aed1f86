"""EgoMem hooks: questions from ``EgoMem.json``, grounding spans from ``annos``.

The ``reason`` of each annotation names wall-clock times of the day ("From 13:34:26 to
13:35:35", "Remove cameras (18:31-19:28)").  A stitched day video starts at some wall-clock time
and may skip the hours nobody recorded, so spans reach the video's timeline only through a
user-supplied offset file (``--option offsets=FILE``), a JSON object keyed by videoID::

    {
      "A1_JAKE_DAY1": "11:02:15",
      "A2_ALICE_DAY1": [["10:40:00", 0], ["13:05:00", 8700.0]]
    }

A string is the wall-clock time at video t=0.  A list holds pieces ``[wall_start, video_start_s]``
in order: wall time ``w`` maps to ``video_start + (w - wall_start)`` for the last piece starting
at or before ``w``.  Without the file, spans stay in ``meta["wall_spans"]`` and are not scored.

Known label problems are reported, never scored: empty answers, answers that are not one of the
four options ("E"), answers that disagree with the per-video annotation, and a skewed answer
distribution (the letter "A" is gold far more often than chance).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from vidsleuth.evals.loading import find_video, read_json
from vidsleuth.evals.schema import LETTERS, LoadResult, Problem, QARecord
from vidsleuth.evals.timecodes import parse_clock

_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?"
_RANGE_RE = re.compile(rf"({_CLOCK})\s*(?:-|–|~|to)\s*({_CLOCK})")
_CLOCK_RE = re.compile(rf"(?<![\d:])({_CLOCK})(?![\d:])")
# Time windows quoted from the options ("Option A (15:30~17:15)", "option C's 14:47 - 17:14")
# and the summary "Total span: ..." restate the question, not the evidence: cut them out.
_NOT_EVIDENCE_RE = re.compile(
    rf"(?i)(?:\b(?:option|choice)\s+[A-E](?:'s)?\s*\(?\s*|total(?:\s+time)?\s+span(?:\s+is)?\s*:?\s*)"
    rf"{_CLOCK}\s*(?:-|–|~|to)\s*{_CLOCK}\)?"
)
# Sentences naming distractor events ("interfering items ... outside the target time period").
_DISTRACTOR_RE = re.compile(
    r"(?i)distract|interfer|not within|outside (?:the|this) (?:target )?time"
)
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+")
WallSpan = tuple[float, float]


def reason_spans(reason: str) -> tuple[list[WallSpan], list[str]]:
    """Wall-clock spans (seconds since midnight) in a ``reason`` text, and any oddities.

    Ranges come first; a clock time outside any range is an instant ``(t, t)``.  A range that
    ends before it starts is reported and dropped, and so are sentences about distractors.
    """
    kept = [x for x in _SENTENCE_RE.split(reason) if not _DISTRACTOR_RE.search(x)]
    text = _NOT_EVIDENCE_RE.sub(" ", " ".join(kept))
    spans: list[WallSpan] = []
    issues: list[str] = []
    taken: list[tuple[int, int]] = []
    for m in _RANGE_RE.finditer(text):
        taken.append(m.span())
        a, b = (parse_clock(m.group(i), two_parts="hh:mm") for i in (1, 2))
        if b < a:
            issues.append(f"reason span {m.group(0)!r} ends before it starts")
            continue
        spans.append((a, b))
    for m in _CLOCK_RE.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        try:
            t = parse_clock(m.group(1), two_parts="hh:mm")
        except ValueError:
            continue
        spans.append((t, t))
    return spans, issues


class OffsetMap:
    """Wall-clock seconds of the day -> seconds on one stitched video's timeline."""

    def __init__(self, pieces: list[tuple[float, float]]) -> None:
        self.pieces = sorted(pieces)

    @classmethod
    def parse(cls, value: Any) -> OffsetMap:
        if isinstance(value, str):
            return cls([(parse_clock(value, two_parts="hh:mm"), 0.0)])
        if isinstance(value, list) and value:
            pieces = []
            for piece in value:
                if not (
                    isinstance(piece, list | tuple)
                    and len(piece) == 2
                    and isinstance(piece[0], str)
                    and isinstance(piece[1], int | float)
                    and not isinstance(piece[1], bool)
                    and math.isfinite(piece[1])
                ):
                    raise ValueError(
                        f"piece {str(piece)[:60]} is not [wall_start, video_start_s] "
                        "(a clock string and a finite number of seconds)"
                    )
                pieces.append((parse_clock(piece[0], two_parts="hh:mm"), float(piece[1])))
            return cls(pieces)
        raise ValueError("expected a wall-clock string or a list of [wall_start, video_start_s]")

    def to_video(self, wall: float) -> float | None:
        best = None
        for wall_start, video_start in self.pieces:
            if wall_start <= wall:
                best = video_start + (wall - wall_start)
        return best


def load_offsets(path: Path, problems: list[Problem]) -> dict[str, OffsetMap]:
    try:
        raw = read_json(Path(path))
    except ValueError as err:
        problems.append(Problem(str(path), f"offset file unusable: {err}"))
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(str(path), "offset file must be a JSON object videoID -> offset"))
        return {}
    out: dict[str, OffsetMap] = {}
    for vid, value in raw.items():
        try:
            out[vid] = OffsetMap.parse(value)
        except ValueError as err:
            problems.append(Problem(f"{path} {vid}", str(err)))
    return out


def _letter_of(option: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Z])[.)]\s*(.*)$", option, re.S)
    return (m.group(1), m.group(2).strip()) if m else ("", option.strip())


def load(data: Path, videos: Path | None, options: dict[str, Any]) -> LoadResult:
    """All 504 questions; label problems are listed and those questions excluded."""
    root = data.parent if data.is_file() else data
    qa_file = data if data.is_file() else data / "EgoMem.json"
    problems: list[Problem] = []
    try:
        items = read_json(qa_file)
    except ValueError as err:
        return LoadResult([], [Problem(str(qa_file), str(err))])
    if not isinstance(items, list):
        return LoadResult(
            [],
            [Problem(str(qa_file), f"must be a JSON list of questions, not {_kind(items)}")],
        )
    offsets = load_offsets(Path(options["offsets"]), problems) if options.get("offsets") else {}
    annos: dict[tuple[str, str], list[dict[str, Any]]] = {}
    used: dict[tuple[str, str], int] = {}
    records: list[QARecord] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(
                Problem(f"{qa_file} item {i}", f"question is not a JSON object ({_kind(item)})")
            )
            continue
        vid, qtype = str(item.get("videoID", "")), str(item.get("type", ""))
        uid = str(item.get("question_id", i))
        src = f"{qa_file} question_id {uid}"
        key = (vid, qtype)
        if key not in annos:
            annos[key] = _read_annos(root, vid, qtype, problems)
        anno = _match_anno(annos[key], item, used.get(key, 0))
        used[key] = used.get(key, 0) + 1
        rec = _record(item, uid, vid, qtype, src, anno, problems)
        if anno is not None:
            _ground(rec, anno, offsets.get(vid), bool(offsets), src, problems)
        rec.video_path = find_video(videos, vid)
        if videos is not None and rec.video_path is None:
            problems.append(
                Problem(
                    src,
                    f"video {vid!r} not found in {videos}",
                    uid=uid,
                    kind="video",
                    blocking=False,
                )
            )
        records.append(rec)
    _answer_bias(records, qa_file, problems)
    return LoadResult(records, problems)


def _read_annos(root: Path, vid: str, qtype: str, problems: list[Problem]) -> list[dict[str, Any]]:
    if not _safe_name(vid) or not _safe_name(qtype):
        return []
    path = root / "annos" / qtype.lower() / f"{vid}_{qtype}_QA.json"
    try:
        data = read_json(path)
    except ValueError as err:
        problems.append(Problem(str(path), f"annotation file unusable: {err}", blocking=False))
        return []
    if not isinstance(data, list):
        problems.append(
            Problem(
                str(path), f"annotations must be a JSON list, not {_kind(data)}", blocking=False
            )
        )
        return []
    kept = [a for a in data if isinstance(a, dict)]
    if len(kept) < len(data):
        problems.append(
            Problem(
                str(path),
                f"{len(data) - len(kept)} annotation entries are not JSON objects (skipped)",
                blocking=False,
            )
        )
    return kept


def _safe_name(part: str) -> bool:
    """A videoID or type that can be part of a file name inside ``annos/``."""
    return bool(part) and "\0" not in part and "/" not in part and part not in (".", "..")


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _match_anno(
    annos: list[dict[str, Any]], item: dict[str, Any], pos: int
) -> dict[str, Any] | None:
    """The annotation with the same question text, else the one at the same position."""
    q = str(item.get("question", "")).strip()
    for a in annos:
        if str(a.get("question", "")).strip() == q:
            return a
    return annos[pos] if pos < len(annos) else None


def _record(
    item: dict[str, Any],
    uid: str,
    vid: str,
    qtype: str,
    src: str,
    anno: dict[str, Any] | None,
    problems: list[Problem],
) -> QARecord:
    options: dict[str, str] = {}
    raw_options = item.get("options")
    for opt in raw_options if isinstance(raw_options, list) else []:
        letter, text = _letter_of(str(opt))
        options[letter] = text
    rec = QARecord(
        uid=uid,
        video_key=vid,
        question=str(item.get("question", "")),
        options=options,
        answer=None,
        categories=[qtype] if qtype else [],
    )
    if tuple(options) != LETTERS:
        problems.append(Problem(src, f"options are not A-D (found {''.join(options)})", uid=uid))
        rec.excluded = "options are not A-D"
    answer = str(item.get("answer", "")).strip().upper()
    if not answer:
        problems.append(Problem(src, "empty answer label", uid=uid, kind="label"))
        rec.excluded = rec.excluded or "empty answer label"
    elif answer not in options:
        extra = ""
        if anno is not None and anno.get("choice_e"):
            extra = f"; the annotation has a fifth choice {str(anno['choice_e'])[:40]!r}"
        problems.append(
            Problem(
                src,
                f"answer {answer!r} is not one of the {len(options)} options{extra}",
                uid=uid,
                kind="label",
            )
        )
        rec.excluded = rec.excluded or f"answer {answer!r} is not an option"
    else:
        rec.answer = answer
    if anno is None:
        problems.append(Problem(src, "no matching entry in annos/", uid=uid, blocking=False))
    elif str(anno.get("answer", "")).strip().upper() != answer:
        problems.append(
            Problem(
                src,
                f"answer {answer!r} disagrees with annos/ answer {anno.get('answer')!r}",
                uid=uid,
                kind="label",
                blocking=False,
            )
        )
    return rec


def _ground(
    rec: QARecord,
    anno: dict[str, Any],
    offsets: Any,
    have_offsets: bool,
    src: str,
    problems: list[Problem],
) -> None:
    reason = str(anno.get("reason") or anno.get("reason_chinese") or "")
    spans, issues = reason_spans(reason)
    for issue in issues:
        problems.append(Problem(src, issue, uid=rec.uid, kind="label", blocking=False))
    rec.meta["reason"] = reason
    rec.meta["wall_spans"] = [list(s) for s in spans]
    if not spans:
        problems.append(Problem(src, "reason names no time span", uid=rec.uid, blocking=False))
        return
    if offsets is None:
        if have_offsets:
            problems.append(
                Problem(src, f"no offset for video {rec.video_key}", uid=rec.uid, blocking=False)
            )
        return
    mapped = []
    for a, b in spans:
        va, vb = offsets.to_video(a), offsets.to_video(b)
        if va is None or vb is None:
            problems.append(
                Problem(
                    src, "reason span lies before the video starts", uid=rec.uid, blocking=False
                )
            )
            continue
        mapped.append((va, vb))
    rec.reference_spans = mapped


def _answer_bias(records: list[QARecord], source: Path, problems: list[Problem]) -> None:
    """Report a letter that is gold far more often than chance (always answering it wins)."""
    golds = [r.answer for r in records if r.answer]
    if not golds:
        return
    top = max(LETTERS, key=golds.count)
    share = golds.count(top) / len(golds)
    if share >= 1 / len(LETTERS) + 0.1:
        problems.append(
            Problem(
                str(source),
                f"answer {top!r} is gold for {golds.count(top)} of {len(golds)} scorable questions "
                f"({100 * share:.0f}%): always answering {top!r} beats chance (25%)",
                kind="label",
                blocking=False,
            )
        )
