"""Progress that tells the truth: nothing for cached work, an ETA for real work.

Indexing and perception report ``(stage, done, total)`` for every unit, reused or computed.
Printing each call made every ``ask`` on an indexed video reprint dozens of ``ocr: 16/128``
lines for work that was only read back from the store.  :class:`ProgressReporter` stays silent
until a stage has run for ``grace_s`` seconds (a fully cached stage finishes long before), then
shows units done and an ETA: rewritten in place on a terminal, as plain lines every
``every_s`` seconds when the output is piped or logged (CI, ``nohup``, ``tee``).
:meth:`ProgressReporter.summary` gives the one line printed instead when nothing was computed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def format_seconds(s: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for a progress line."""
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


@dataclass
class _Stage:
    started: float
    first_done: int
    shown: bool = False
    done: int = 0
    total: int = 0
    finished: bool = False


@dataclass
class ProgressReporter:
    """A ``progress(stage, done, total)`` callback that prints only what is worth reading.

    ``prefix`` names the work (``index``); ``tty`` defaults to whether ``stream`` is a terminal.
    Units already done when a stage is first seen (reused from the store) do not count toward
    its rate, so the ETA reflects only the work still to compute.
    """

    prefix: str = "index"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False
    grace_s: float = 2.0
    every_s: float = 10.0
    tty: bool | None = None
    clock: Callable[[], float] = time.monotonic
    _stages: dict[str, _Stage] = field(default_factory=dict, init=False)
    _t0: float = field(default=-1.0, init=False)
    _open_line: bool = field(default=False, init=False)
    _last_print: float = field(default=-1.0, init=False)

    def __post_init__(self) -> None:
        if self.tty is None:
            isatty = getattr(self.stream, "isatty", None)
            self.tty = bool(isatty and isatty())

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if self._t0 < 0:
            self._t0 = now
        st = self._stages.get(stage)
        if st is None:
            st = self._stages[stage] = _Stage(started=now, first_done=done)
        st.done, st.total = done, total
        if self.quiet or total <= 0 or st.finished:
            return
        if done >= total:
            st.finished = True
            if st.shown:
                self._write(f"{stage}: {total}/{total} in {format_seconds(now - st.started)}", True)
            return
        if now - st.started < self.grace_s:
            return
        due = self._last_print < 0 or now - self._last_print >= (0.5 if self.tty else self.every_s)
        if not due:
            return
        # Stages that run side by side (the frame perceivers share each group of frames) are
        # one line, with the longest ETA among them.
        running = [
            (n, s)
            for n, s in self._stages.items()
            if not s.finished and s.total > 0 and now - s.started >= self.grace_s
        ]
        for _, s in running:
            s.shown = True
        self._last_print = now
        etas = [e for _, s in running if (e := self._eta(s, now)) is not None]
        parts = ", ".join(f"{n} {s.done}/{s.total}" for n, s in running)
        left = f", about {format_seconds(max(etas))} left" if etas else ""
        self._write(f"{parts}{left}", False)

    def _eta(self, st: _Stage, now: float) -> float | None:
        computed = st.done - st.first_done
        elapsed = now - st.started
        if computed <= 0 or elapsed <= 0:
            return None
        return (st.total - st.done) / (computed / elapsed)

    def _write(self, text: str, final: bool) -> None:
        line = f"  [{self.prefix}] {text}"
        if self.tty:
            end = "\n" if final else ""
            self.stream.write(f"\r\033[K{line}{end}")
            self._open_line = not final
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End a line left open on a terminal (a stage that stopped before its total)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    @property
    def shown_anything(self) -> bool:
        """Whether any stage ran long enough to be shown (so it was computed, not read back)."""
        return any(st.shown for st in self._stages.values())

    @property
    def wall_seconds(self) -> float:
        """Wall time since the first report (0 before any)."""
        return 0.0 if self._t0 < 0 else self.clock() - self._t0
