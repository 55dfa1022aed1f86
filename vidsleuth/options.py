"""Option letters: the one place that says how multiple-choice options are named.

Benchmarks, prompts and the agent all name options A, B, C, ... by position; one constant keeps
them from drifting apart (a ten-option LVBench question and a four-option needle question use the
same table).
"""

from __future__ import annotations

#: option letters by position (at most ten options)
LETTERS = "ABCDEFGHIJ"


def letter(i: int) -> str:
    """The letter of the ``i``-th option (0-based)."""
    if not 0 <= i < len(LETTERS):
        raise ValueError(f"option index {i} outside 0..{len(LETTERS) - 1}")
    return LETTERS[i]
