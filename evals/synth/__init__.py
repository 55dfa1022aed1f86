"""Synthetic long videos with needles of known position, for the demo, tests and benchmarks.

``generate(out, minutes=..., seed=...)`` writes ``out`` and ``out.json``; ``load_needles`` reads
that JSON back, validated.  Importing this package is light: the video, image and audio libraries
load only when a video is generated.
"""

from vidsleuth.evals.synth.assets import BACKGROUND_SPLITS, BACKGROUNDS, COLOURS, OBJECTS
from vidsleuth.evals.synth.generator import GENERATOR_VERSION, generate
from vidsleuth.evals.synth.schema import KINDS, BackgroundSpan, Needle, NeedleFile, load_needles

__all__ = [
    "BACKGROUNDS",
    "BACKGROUND_SPLITS",
    "COLOURS",
    "GENERATOR_VERSION",
    "KINDS",
    "OBJECTS",
    "BackgroundSpan",
    "Needle",
    "NeedleFile",
    "generate",
    "load_needles",
]
