"""Clock strings used by benchmark annotations, turned into seconds.

LVBench mixes ``MM:SS`` and ``HH:MM:SS`` in ``time_reference``; EgoMem's ``reason`` text holds
wall-clock times of day (``13:34:26``, ``12:51``) that only mean something on a video's timeline
after an offset is applied.
"""

from __future__ import annotations

import re

_CLOCK = r"\d{1,2}(?::\d{1,2}){1,2}(?:\.\d+)?"
_RANGE_RE = re.compile(rf"^\s*({_CLOCK})\s*(?:-|–|~|to)\s*({_CLOCK})\s*$")


def parse_clock(text: str, *, two_parts: str = "mm:ss") -> float:
    """``SS``-free clock text to seconds.

    Three fields are always ``H:M:S``.  Two fields are ``M:S`` for LVBench (``two_parts="mm:ss"``)
    and ``H:M`` for times of day (``two_parts="hh:mm"``).  Raises ``ValueError`` on anything else.
    """
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.replace(".", "", 1).isdigit() for p in parts):
        raise ValueError(f"not a clock time: {text!r}")
    nums = [float(p) for p in parts]
    if len(nums) == 2:
        nums = [*nums, 0.0] if two_parts == "hh:mm" else [0.0, *nums]
    h, m, s = nums
    if m >= 60 or s >= 60:
        raise ValueError(f"minutes/seconds out of range in {text!r}")
    return h * 3600 + m * 60 + s


def parse_time_reference(text: str) -> tuple[float, float]:
    """LVBench ``time_reference`` (``"00:15-00:19"``, ``"01:02:03-01:05:10"`` or one instant).

    Returns ``(start, end)`` in seconds; raises ``ValueError`` when it cannot be read or the
    range runs backwards.
    """
    m = _RANGE_RE.match(text)
    if m:
        start, end = parse_clock(m.group(1)), parse_clock(m.group(2))
    else:
        start = end = parse_clock(text)
    if end < start:
        raise ValueError(f"range ends before it starts: {text!r}")
    return start, end


def format_clock(seconds: float) -> str:
    """Seconds as ``HH:MM:SS`` (what prompts and reports show)."""
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
