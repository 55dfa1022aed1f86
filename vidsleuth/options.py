"""Option letters: the one place that says how multiple-choice options are named.

Benchmarks, prompts and the agent all name options A, B, C, ... by position; one constant keeps
them from drifting apart (a ten-option LVBench question and a four-option needle question use the
same table).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

#: option letters by position (at most ten options)
LETTERS = "ABCDEFGHIJ"


def letter(i: int) -> str:
    """The letter of the ``i``-th option (0-based)."""
    if not 0 <= i < len(LETTERS):
        raise ValueError(f"option index {i} outside 0..{len(LETTERS) - 1}")
    return LETTERS[i]


def check_options(options: Sequence[str] | None) -> list[str]:
    """The options of a multiple-choice question, stripped; refused unless usable.

    Between 2 and 10 options, none empty, no two the same (ignoring case and spacing): a
    question whose options repeat cannot be answered by letter.  ``None`` or ``[]`` means an
    open question.  Raises :class:`~vidsleuth.errors.ConfigError` with one line.
    """
    from vidsleuth.errors import ConfigError

    opts = [str(o).strip() for o in options or []]
    if not opts:
        return []
    if not 2 <= len(opts) <= len(LETTERS):
        raise ConfigError(f"give between 2 and {len(LETTERS)} options, not {len(opts)}")
    seen: dict[str, int] = {}
    for i, o in enumerate(opts):
        if not o:
            raise ConfigError(f"option {letter(i)} is empty")
        key = " ".join(o.casefold().split())
        if key in seen:
            raise ConfigError(
                f"options {letter(seen[key])} and {letter(i)} are the same ({o[:60]!r}); "
                "every option must differ"
            )
        seen[key] = i
    return opts


def shown_order(n: int, key: str) -> list[int]:
    """A fixed shuffle of ``n`` option positions, chosen by ``key``.

    Small language models favour an option for its position (the first, most often), whatever
    the evidence says.  Showing each prompt the options in an order of its own (seeded by the
    question and the evidence it is about, so a rerun shows the same order) turns that habit
    into noise spread over all options, and a vote that several prompts agree on then rests on
    the options' content.  ``shown_order(n, key)[j]`` is the original position of the ``j``-th
    option shown.
    """
    order = list(range(n))
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    random.Random(seed).shuffle(order)
    return order
