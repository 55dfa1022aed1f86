"""Arithmetic on located evidence: counting, ordering, and matching times to time options.

A small model is poor at counting timestamped lines or comparing clock times, and good at
reading a sentence that states the result.  So when the model's reading of the question says
*how many*, *which first/last* or that the options are times, the agent computes the answer-
relevant fact from the moments ``find_mentions`` located over the whole video and hands it to the
model as one more evidence line (kind ``count``, ``order`` or ``located``), with the times it
rests on.  What to count or order, and what the options are, comes from the model's reading;
nothing here knows any benchmark's wording.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vidsleuth.graphs.prompts import fmt_span
from vidsleuth.options import LETTERS
from vidsleuth.tools.evidence import occurrences

Finding = dict[str, Any]

_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}(?::\d{2}){1,2})(?![\d:])")


def clock_seconds(text: str) -> float:
    """``"1:02:03"`` -> 3723.0, ``"02:03"`` -> 123.0."""
    t = 0
    for p in text.split(":"):
        t = t * 60 + int(p)
    return float(t)


def parse_time_span(option: str) -> tuple[float, float] | None:
    """The time span an option names: two clock times (``00:01:23-00:01:29``, ``1:23 to 1:29``)
    give a window, one gives a point; None when the option names no clock time."""
    found = [clock_seconds(m) for m in _CLOCK.findall(option)]
    if not found:
        return None
    if len(found) == 1:
        return found[0], found[0]
    a, b = found[0], found[1]
    return (a, b) if a <= b else (b, a)


def basis(hits: Sequence[Finding]) -> str:
    """The kind of observation a computed line rests on (the most common among its hits), so
    the stop rule can weigh a count of OCR reads differently from a count of detector labels."""
    kinds = [str(h.get("kind", "")) for h in hits if h.get("kind")]
    return max(sorted(set(kinds)), key=kinds.count) if kinds else ""


def _span(a: float, b: float) -> str:
    return fmt_span(a, b)


def count_line(
    target: str, hits: Sequence[Finding], gap: float, options: Sequence[str] = ()
) -> Finding | None:
    """``'X' located at N separate moments: ...`` (None when nothing was located), naming the
    option whose text is that number when one is: a small model confuses option letters with
    the numbers the options say ("A. 4" read as 1), so the letter is spelled out for it."""
    occ = occurrences(hits, gap)
    if not occ:
        return None
    times = ", ".join(_span(o["t_start"], o["t_end"]) for o in occ[:12])
    same = [LETTERS[i] for i, o in enumerate(options) if _number(o) == len(occ)]
    which = f" (the count option {same[0]} says)" if same else ""
    named = {"option": same[0]} if len(same) == 1 and all_numbers(options) else {}
    return {
        **named,
        "t_start": float(occ[0]["t_start"]),
        "t_end": float(occ[-1]["t_end"]),
        "kind": "count",
        "text": f"'{target}' located at {len(occ)} separate moment(s){which}: {times}",
        "score": max(float(h.get("score") or 0.0) for h in hits),
        "source": "arithmetic:count",
        "basis": basis(hits),
    }


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def all_numbers(options: Sequence[str]) -> bool:
    """Whether every option states a count (so a computed count can name one of them)."""
    return bool(options) and all(_number(o) is not None for o in options)


def _number(option: str) -> int | None:
    """The count an option states (``"3"``, ``"three"``, ``"3 times"``), or None."""
    words = option.strip().lower().split()
    if not words:
        return None
    w = words[0]
    if w.isdigit():
        return int(w)
    return _WORDS.index(w) if w in _WORDS else None


def order_line(
    options: Sequence[str], located: Sequence[Sequence[Finding]], latest: bool = False
) -> Finding | None:
    """The options ordered by when each was first (or last) located; None when none was."""
    firsts = []
    for i, hits in enumerate(located):
        if hits:
            t = (max if latest else min)(float(h["t_start"]) for h in hits)
            firsts.append((t, i))
    if not firsts:
        return None
    firsts.sort(reverse=latest)
    parts = [f"{LETTERS[i]} '{options[i]}' at {_span(t, t)[:8]}" for t, i in firsts]
    missing = [LETTERS[i] for i in range(len(options)) if not located[i]]
    word = "last" if latest else "first"
    text = f"options by when they are {word} located: " + "; ".join(parts)
    if missing:
        text += f"; not located: {', '.join(missing)}"
    return {
        # a tie for first names no option
        **(
            {"option": LETTERS[firsts[0][1]]}
            if len(firsts) < 2 or firsts[1][0] != firsts[0][0]
            else {}
        ),
        "t_start": firsts[0][0],
        "t_end": firsts[0][0],
        "kind": "order",
        "text": text,
        "score": 1.0,
        "source": "arithmetic:order",
        "basis": basis([h for hits in located for h in hits]),
    }


def located_line(hit: Finding, text: str, source: str) -> Finding:
    """A computed line about one located moment: its span, score and kind (as ``basis``)."""
    return {
        "t_start": float(hit["t_start"]),
        "t_end": float(hit["t_end"]),
        "kind": "located",
        "text": text,
        "score": float(hit.get("score") or 0.0),
        "source": source,
        "basis": str(hit.get("kind", "")),
    }


def window_lines(
    target: str, options: Sequence[str], hits: Sequence[Finding], gap: float
) -> list[Finding]:
    """For time options: where the target was located and which option's window holds it.

    When the located moments fall inside exactly one option's window, the first line holding
    it names that option (``option``): moments inside no window are ignored (the offered
    windows need not cover every occurrence), moments inside two different windows leave the
    choice to the model."""
    spans = [parse_time_span(o) for o in options]
    out: list[Finding] = []
    holding: set[str] = set()
    for o in occurrences(hits, gap)[:6]:
        a, b = float(o["t_start"]), float(o["t_end"])
        inside = [
            LETTERS[i]
            for i, sp in enumerate(spans)
            if sp is not None and sp[0] - 1.0 <= b and a <= sp[1] + 1.0
        ]
        where = f"inside option {', '.join(inside)}" if inside else "inside no option's window"
        holding.update(inside)
        text = f"'{target}' located at {_span(a, b)} ({where}); seen as {o.get('kind')}: "
        out.append(located_line(o, text + str(o.get("text", ""))[:60], "arithmetic:window"))
    if len(holding) == 1:
        (letter,) = holding
        first = next(f for f in out if f"option {letter}" in f["text"])
        first["option"] = letter
    return out
