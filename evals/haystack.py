"""Questions for the synthetic needle-in-a-haystack benchmark, built from a needles JSON.

The generator (:mod:`vidsleuth.evals.synth.generator`) writes ``OUT.mp4`` beside ``OUT.json``::

    {"duration_s": 600.0, "seed": 7,
     "needles": [{"id": "n0", "kind": "text", "t_start": 31.0, "t_end": 35.0, "value": "BLUE FOX",
                  "bbox": [x, y, w, h]}, ...],
     "distractors": {"text": ["RED OWL", ...], "object": [...], "flash": [...], "speech": [...]}}

Four question types, four options each, every answer and reference span exact:
*what* (which value of a kind appears), *when* (which window holds a needle), *how many times*
(a value's occurrences) and *which came first* (the earliest of several needles).  Option order
and distractor choice come from ``random.Random`` seeded by (seed, question id), so the same JSON
and seed always give the same questions.

Every question has two wordings: the original templates and a reworded set (``wording="alt"``)
written with other verbs, another word order and none of the original key phrases ("appear",
"colour flash", "on-screen text", "spoken phrase").  Options, answer letter and reference spans
are identical between the two; only the stem changes, so an answer that moves with the wording
was keyed to the words rather than to the video.  An original question keeps its uid; its
rewording has the same uid plus ``:alt`` (``meta["wording"]`` and ``meta["pair"]`` say the same).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidsleuth.evals.schema import LETTERS, QARecord
from vidsleuth.evals.timecodes import format_clock

KINDS: tuple[str, ...] = ("text", "object", "flash", "speech")
QUESTION_TYPES: tuple[str, ...] = ("what", "when", "count", "order")
WORDINGS: tuple[str, ...] = ("orig", "alt")
WORDING_CHOICES: tuple[str, ...] = ("orig", "alt", "both")
ALT_SUFFIX = ":alt"
# The development set: these lengths (minutes) x seeds are the numbers we publish.
PUBLIC_LENGTHS_MIN: tuple[float, ...] = (10.0, 60.0, 180.0)
PUBLIC_SEEDS: tuple[int, ...] = (1101, 2202, 3303)

_WHAT = {
    "text": "Which of these texts is shown on screen at some point in the video?",
    "object": "Which of these objects appears in the video at some point?",
    "flash": "The screen briefly flashes a solid colour. Which colour?",
    "speech": "Which of these phrases is spoken in the video?",
}
_NOUN = {
    "text": "the on-screen text {v!r}",
    "object": "the {v}",
    "flash": "the {v} colour flash",
    "speech": "the spoken phrase {v!r}",
}


_WHEN = "When does {noun} appear?"
_COUNT = "How many separate times does {noun} appear?"
_ORDER = "Which of these appears first in the video? (Options that never appear do not count.)"

# The reworded set.  Written apart from the originals: none of "appear", "colour flash",
# "on-screen text" or "spoken phrase", other verbs and word order.  Options are not reworded.
_WHAT_ALT = {
    "text": "Some words are written across the picture at one point. Which of these do they read?",
    "object": "One of these things is shown somewhere in the footage. Which one is it?",
    "flash": "For an instant the whole picture turns a single solid hue. Which hue is it?",
    "speech": "Somebody says one of these lines out loud. Which line is heard?",
}
_WHEN_ALT = {
    "text": "Roughly when can you read {v!r} in the picture?",
    "object": "At what point in the footage can the {v} be seen?",
    "flash": "At what point in the video is the screen briefly filled with {v}?",
    "speech": "Around what time does someone say {v!r}?",
}
_COUNT_ALT = {
    "text": "On how many distinct occasions is {v!r} written in the picture?",
    "object": "In how many separate moments is the {v} visible in the footage?",
    "flash": "How often does the whole frame go {v}, counting each occasion once?",
    "speech": "How many times in total is {v!r} said aloud?",
}
_ORDER_ALT = (
    "Of the options below, which occurs earliest in the footage? (Ignore any that never occur.)"
)


def describe(kind: str, value: str) -> str:
    return _NOUN.get(kind, "{v}").format(v=value)


def stem(qtype: str, kind: str, value: str | None = None, wording: str = "orig") -> str:
    """The question text of ``qtype`` about a needle of ``kind`` (and ``value``) in ``wording``."""
    if wording not in WORDINGS:
        raise ValueError(f"wording must be one of {', '.join(WORDINGS)}, not {wording!r}")
    alt = wording == "alt"
    if qtype == "what":
        table = _WHAT_ALT if alt else _WHAT
        return table.get(kind, table["text"])
    if qtype == "order":
        return _ORDER_ALT if alt else _ORDER
    if qtype not in ("when", "count"):
        raise ValueError(f"unknown question type {qtype!r}")
    if alt:
        table = _WHEN_ALT if qtype == "when" else _COUNT_ALT
        return table.get(kind, table["object"]).format(v=value)
    return (_WHEN if qtype == "when" else _COUNT).format(noun=describe(kind, str(value)))


def wordings_for(option: str | None) -> tuple[str, ...]:
    """``orig`` | ``alt`` | ``both`` (the task option) -> the wordings to build, in order."""
    value = (option or "orig").strip().lower()
    if value not in WORDING_CHOICES:
        raise ValueError(f"wording must be one of {', '.join(WORDING_CHOICES)}, not {option!r}")
    return WORDINGS if value == "both" else (value,)


def _duration(data: dict[str, Any]) -> float:
    for key in ("duration_s", "duration"):
        if isinstance(data.get(key), int | float):
            return float(data[key])
    if isinstance(data.get("minutes"), int | float):
        return float(data["minutes"]) * 60.0
    return max((float(n["t_end"]) for n in data.get("needles", [])), default=0.0)


def _options(rng: random.Random, gold: str, pool: Sequence[str]) -> tuple[dict[str, str], str]:
    """Gold plus three distinct distractors from ``pool``, shuffled; returns (options, letter)."""
    choices = [gold, *rng.sample([p for p in dict.fromkeys(pool) if p != gold], 3)]
    rng.shuffle(choices)
    return dict(zip(LETTERS, choices, strict=True)), LETTERS[choices.index(gold)]


def _span_text(a: float, b: float) -> str:
    return f"{format_clock(a)}-{format_clock(b)}"


def _decoy_windows(
    rng: random.Random, span: tuple[float, float], duration: float, n: int
) -> list[tuple[float, float]]:
    """``n`` windows as long as ``span``, on a grid, none overlapping it or each other."""
    length = max(span[1] - span[0], 1.0)
    step = max(length * 2, duration / 40)
    grid = [k * step for k in range(int((duration - length) // step) + 1)]
    free = [s for s in grid if s + length < span[0] - 1 or s > span[1] + 1]
    picks = rng.sample(free, min(n, len(free)))
    return [(round(s), round(s) + round(length)) for s in picks]


def build_questions(
    data: dict[str, Any],
    video_key: str,
    seed: int = 0,
    wording: str | Sequence[str] = "orig",
) -> list[QARecord]:
    """Every question the needles support, in a stable order (needle order, then type).

    ``wording`` is ``"orig"``, ``"alt"``, ``"both"`` or a sequence of wordings; with several,
    each question is followed by its rewordings (same options, answer and spans).
    """
    wordings = wordings_for(wording) if isinstance(wording, str) else tuple(wording)
    for w in wordings:
        if w not in WORDINGS:
            raise ValueError(f"unknown wording {w!r}; expected one of {', '.join(WORDINGS)}")

    # The original wording alone keeps its historic categories [type, kind]; as soon as a
    # rewording is built, every record also carries "wording:orig" / "wording:alt", so the
    # report's category table scores the two wordings side by side.
    def tagged(w: str) -> list[str]:
        return [] if wordings == ("orig",) else [f"wording:{w}"]

    needles = sorted(data.get("needles", []), key=lambda n: (float(n["t_start"]), str(n["id"])))
    pools: dict[str, list[str]] = {k: list(v) for k, v in (data.get("distractors") or {}).items()}
    duration = _duration(data)
    by_value: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for n in needles:
        by_value[(n["kind"], str(n["value"]))].append(n)
    present = {k: {v for (kk, v) in by_value if kk == k} for k in KINDS}
    out: list[QARecord] = []

    def rec(
        qid: str,
        qtype: str,
        kind: str,
        value: str | None,
        options: dict[str, str],
        answer: str,
        spans: list[tuple[float, float]],
    ) -> None:
        base = f"{video_key}:{qid}"
        for w in wordings:
            out.append(
                QARecord(
                    uid=base + (ALT_SUFFIX if w == "alt" else ""),
                    video_key=video_key,
                    question=stem(qtype, kind, value, w),
                    options=dict(options),
                    answer=answer,
                    categories=[qtype, kind, *tagged(w)],
                    reference_spans=list(spans),
                    duration_s=duration,
                    meta={"seed": seed, "wording": w, "pair": base},
                )
            )

    for (kind, value), group in by_value.items():
        first = group[0]
        spans = [(float(n["t_start"]), float(n["t_end"])) for n in group]
        rng = random.Random(f"{seed}:{first['id']}:what")
        pool = [p for p in pools.get(kind, []) if p not in present[kind]]
        if len(pool) >= 3:
            opts, ans = _options(rng, value, pool)
            rec(f"{first['id']}:what", "what", kind, value, opts, ans, spans)
        rng = random.Random(f"{seed}:{first['id']}:when")
        decoys = _decoy_windows(rng, spans[0], duration, 3) if len(group) == 1 else []
        if len(decoys) == 3:
            gold = _span_text(*spans[0])
            opts, ans = _options(rng, gold, [_span_text(*d) for d in decoys])
            rec(f"{first['id']}:when", "when", kind, value, opts, ans, spans)
        rng = random.Random(f"{seed}:{first['id']}:count")
        count = len(group)
        others = [str(c) for c in range(1, max(count + 4, 5)) if c != count]
        opts, ans = _options(rng, str(count), others)
        rec(f"{first['id']}:count", "count", kind, value, opts, ans, spans)
    # Which came first: consecutive groups of up to four distinct needles.
    firsts = [g[0] for g in by_value.values()]
    firsts.sort(key=lambda n: float(n["t_start"]))
    for i in range(0, len(firsts) - 1, 4):
        chunk = firsts[i : i + 4]
        if len(chunk) < 2:
            break
        rng = random.Random(f"{seed}:{chunk[0]['id']}:order")
        labels = [describe(n["kind"], str(n["value"])) for n in chunk]
        fill = [describe(k, p) for k in KINDS for p in pools.get(k, []) if p not in present[k]]
        rng.shuffle(fill)
        pool = labels[1:] + fill
        if len(pool) < 3:
            continue
        gold = labels[0]
        opts, ans = _options(rng, gold, pool[: max(3, len(labels) - 1)])
        span = (float(chunk[0]["t_start"]), float(chunk[0]["t_end"]))
        rec(f"{chunk[0]['id']}:order", "order", chunk[0]["kind"], None, opts, ans, [span])
    return out


def generate_set(
    out_dir: Path,
    lengths_min: Sequence[float] = PUBLIC_LENGTHS_MIN,
    seeds: Sequence[int] = PUBLIC_SEEDS,
    **generator_args: Any,
) -> list[Path]:
    """Generate (or keep, when already there) one video per length x seed; return the JSONs.

    The defaults are the public development set; pass fresh ``seeds`` for held-out numbers.
    """
    from vidsleuth.evals.synth.generator import generate

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for minutes in lengths_min:
        for seed in seeds:
            video = out_dir / f"needles-{minutes:g}min-s{seed}.mp4"
            if not video.with_suffix(".json").is_file():
                generate(video, minutes=minutes, seed=seed, **generator_args)
            paths.append(video.with_suffix(".json"))
    return paths
