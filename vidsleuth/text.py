"""Words of a text: the one tokeniser every layer matches questions and observations with.

A token is a run of lower-case ASCII letters and digits (``"M3-94 Exit"`` gives ``m3``, ``94``,
``exit``): punctuation, apostrophes and non-ASCII letters separate tokens.  Callers that match a
question against observations must agree on this, so none keeps its own pattern.
"""

from __future__ import annotations

import re
from collections.abc import Collection

TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens in order, repeats kept (``M3-94`` gives ``m3``, ``94``)."""
    return TOKEN.findall(text.lower())


def words(
    text: str,
    *,
    min_len: int = 1,
    keep_numbers: bool = False,
    stop: Collection[str] = (),
) -> set[str]:
    """The distinct tokens of ``text`` at least ``min_len`` characters long and not in ``stop``.

    ``keep_numbers`` keeps all-digit tokens of any length (``"7"`` in "gate 7" names the gate).
    """
    return {
        w
        for w in tokens(text)
        if (len(w) >= min_len or (keep_numbers and w.isdigit())) and w not in stop
    }
