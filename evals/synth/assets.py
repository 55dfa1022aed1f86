"""The real images and the vocabularies the synthetic videos are built from.

Every picture comes from a package that is already a dependency (``skimage.data`` and
``sklearn.datasets``), so generation needs no download and gives the same pixels on every machine
with the same package versions.  Backgrounds and inserted objects are disjoint sets, and no
background is a plain colour field, so "which object appeared" and "which colour flashed" never
have an answer hidden in the scenery.

Backgrounds come with a fixed train/test split so that a learned retriever can be trained on some
scenes and evaluated on scenes it has never seen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from vidsleuth.errors import ConfigError

# --- backgrounds ----------------------------------------------------------------------------


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _motorcycle() -> np.ndarray:
    from skimage import data

    return data.stereo_motorcycle()[0]


def _horse() -> np.ndarray:
    from skimage import data

    # A binary silhouette (True = background); draw it as a dark horse on a light ground.
    mask = data.horse()
    return np.where(mask, 235, 40).astype(np.uint8)


# name -> loader of an HxW or HxWx3 uint8 image.  Names say what the picture shows.
BACKGROUNDS: dict[str, Callable[[], np.ndarray]] = {
    "temple": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "galaxies": _skimage("hubble_deep_field"),
    "retina": _skimage("retina"),
    "stained tissue": _skimage("immunohistochemistry"),
    "brick wall": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "moon surface": _skimage("moon"),
    "cells": _skimage("cell"),
}

# Held-out scenes for evaluation; everything else is for training.  Each side mixes colour and
# grey scenes so neither split is trivially separable by colour statistics.
BACKGROUND_SPLITS: dict[str, tuple[str, ...]] = {
    "test": ("flower", "galaxies", "gravel"),
    "train": ("temple", "retina", "stained tissue", "brick wall", "grass", "moon surface", "cells"),
    "all": tuple(BACKGROUNDS),
}

# --- inserted objects ------------------------------------------------------------------------

OBJECTS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "cat": _skimage("chelsea"),
    "coffee cup": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "motorcycle": _motorcycle,
    "cameraman": _skimage("camera"),
    "coins": _skimage("coins"),
    "clock": _skimage("clock"),
    "horse": _horse,
}

# --- flash colours ---------------------------------------------------------------------------

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "orange": (255, 128, 0),
    "white": (255, 255, 255),
}

# --- on-screen text --------------------------------------------------------------------------

_PLACES = ("GATE", "DOCK", "VAULT", "HANGAR", "PLATFORM", "LOCKER", "TUNNEL", "BAY", "CABIN")
_VERBS = ("OPENS", "CLOSES", "LOCKS")
_TIMES = ("NINE", "NOON", "SIX", "DAWN", "MIDNIGHT", "TEN", "FOUR", "SEVEN")
_ADJS = ("AMBER", "SILVER", "QUIET", "NORTH", "HOLLOW", "SCARLET", "FROZEN", "GOLDEN")
_NOUNS = ("FALCON", "HARBOR", "LANTERN", "ORCHID", "CANYON", "BEACON", "COMET", "RIVER")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I/O: they read as 1/0


def text_phrase(rng: np.random.Generator) -> str:
    """One short, distinctive, OCR-friendly phrase (upper case, digits, few words)."""
    form = int(rng.integers(3))
    if form == 0:
        place, verb, time = (str(rng.choice(v)) for v in (_PLACES, _VERBS, _TIMES))
        return f"{place} {int(rng.integers(2, 100))} {verb} AT {time}"
    if form == 1:
        letter = str(rng.choice(list(_LETTERS)))
        return f"CODE {letter}{int(rng.integers(1, 10))}-{int(rng.integers(10, 100))}"
    return f"{rng.choice(_ADJS)} {rng.choice(_NOUNS)} {int(rng.integers(10, 100))}"


# --- loading ---------------------------------------------------------------------------------


def select_backgrounds(backgrounds: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Resolve ``None`` / a split name / a list of names to background names, in a stable order."""
    if backgrounds is None:
        return list(BACKGROUND_SPLITS["all"])
    if isinstance(backgrounds, str):
        if backgrounds in BACKGROUND_SPLITS:
            return list(BACKGROUND_SPLITS[backgrounds])
        backgrounds = [b.strip() for b in backgrounds.split(",") if b.strip()]
    names = list(dict.fromkeys(backgrounds))
    unknown = [n for n in names if n not in BACKGROUNDS]
    if unknown or not names:
        raise ConfigError(
            f"unknown background(s) {unknown or '(none given)'}; choose a split "
            f"{sorted(BACKGROUND_SPLITS)} or names from {sorted(BACKGROUNDS)}"
        )
    return names


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)


@functools.lru_cache(maxsize=32)
def background_image(name: str) -> np.ndarray:
    """The background picture as HxWx3 uint8 RGB (cached; callers must not modify it)."""
    img = _rgb(BACKGROUNDS[name]())
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=32)
def object_image(name: str) -> np.ndarray:
    """The object picture as HxWx3 uint8 RGB (cached; callers must not modify it)."""
    img = _rgb(OBJECTS[name]())
    img.setflags(write=False)
    return img
