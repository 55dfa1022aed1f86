"""Perceivers: frames or an interval of a video's timeline in, typed observations out.

Importing this package is cheap; every model loads inside the perceiver on first use.
"""

from vidsleuth.tools.perception.registry import (
    ALL_PERCEIVERS,
    FRAME_PERCEIVERS,
    TIMELINE_PERCEIVERS,
    make_perceiver,
    parse_names,
)
from vidsleuth.tools.perception.types import Observation, Perceiver

__all__ = [
    "ALL_PERCEIVERS",
    "FRAME_PERCEIVERS",
    "TIMELINE_PERCEIVERS",
    "Observation",
    "Perceiver",
    "make_perceiver",
    "parse_names",
]
