"""Error types every layer raises.

A :class:`VidsleuthError` is an expected failure caused by the user's input or environment (a bad
video, a missing model package, a locked store).  The CLI prints its message as one line and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class VidsleuthError(Exception):
    """An expected, user-facing failure; ``str(err)`` is the one line the CLI prints."""

    exit_code: int = 2


class VideoError(VidsleuthError):
    """A video file is missing, unreadable, corrupt or has no usable video stream."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class StoreError(VidsleuthError):
    """The persistent store cannot be opened, is locked, or is of an unknown format."""


class ConfigError(VidsleuthError):
    """A configuration value or command-line flag is invalid."""


class ModelError(VidsleuthError):
    """A model cannot be found, fails its hash check, or cannot be loaded."""
