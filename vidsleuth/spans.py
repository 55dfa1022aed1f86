"""Time spans ``(start, end)`` in seconds, and the one way they are merged.

Every layer merges spans the same way: sorted by start, a span that starts at most ``gap``
seconds after the end of the current run joins it (touching spans always join), and a reversed
span ``(b, a)`` counts as ``(a, b)``.  :func:`merge_spans` merges plain spans;
:func:`group_spans` groups richer items (findings, hits) by the same rule so the caller can
combine each group's other fields (the best score, the first text) as it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

Span = tuple[float, float]
T = TypeVar("T")


def group_spans(
    items: Iterable[T],
    span: Callable[[T], Sequence[float]],
    gap: float = 0.0,
    *,
    longest: float | None = None,
) -> list[list[T]]:
    """``items`` grouped into runs of overlapping spans (``span(item)`` gives its span).

    Items are taken in order of start time (ties keep their input order); an item joins the
    current run when it starts at most ``gap`` seconds after the run's end, and, with
    ``longest``, when joining it does not stretch the run past ``longest`` seconds.
    """
    keyed = [(min(a, b), max(a, b), it) for it in items for a, b in [_pair(span(it))]]
    keyed.sort(key=lambda k: k[0])
    groups: list[list[T]] = []
    run_start = run_end = 0.0
    for s, e, it in keyed:
        if (
            groups
            and s <= run_end + gap
            and (longest is None or e <= run_end or e - run_start <= longest)
        ):
            groups[-1].append(it)
            run_end = max(run_end, e)
        else:
            groups.append([it])
            run_start, run_end = s, e
    return groups


def merge_spans(
    spans: Iterable[Sequence[float]], gap: float = 0.0, *, longest: float | None = None
) -> list[Span]:
    """Sorted, merged spans: spans at most ``gap`` seconds apart are joined (see
    :func:`group_spans` for ``longest``)."""
    out: list[Span] = []
    for group in group_spans(spans, _pair, gap, longest=longest):
        pairs = [_pair(s) for s in group]
        out.append((min(min(p) for p in pairs), max(max(p) for p in pairs)))
    return out


def _pair(span: Sequence[float]) -> Span:
    a, b = span
    return float(a), float(b)
