"""Full-frame colour events: a flash of one colour, a cut or fade to black, a white frame.

The coarse perceivers look at one frame per chunk and name what is *in* a picture; a frame that
is nothing but one colour has no objects and no text, and a one-second flash falls between their
samples.  Such a frame is plain in the frame statistics of the cached 1-fps frames, so this pass
reads every cached frame once per video (no model, no decoding of the video file), finds runs of
uniform frames and names their colour.

Colour names are general, not any benchmark's palette: the eleven basic colour terms of Berlin &
Kay (*Basic Color Terms*, 1969) by hue, lightness and chroma, and, finer, the nearest of the
seventeen CSS 2.1 colour keywords when one is close (so a cyan flash is "blue", shade "cyan").
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

#: the eleven basic colour terms (Berlin & Kay) with a representative sRGB each
BASIC_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "red": (220, 20, 30),
    "green": (0, 160, 60),
    "yellow": (250, 220, 0),
    "blue": (20, 60, 220),
    "brown": (130, 75, 30),
    "orange": (250, 130, 0),
    "pink": (250, 160, 190),
    "purple": (120, 40, 140),
}
#: the CSS 2.1 colour keywords (HTML 4's sixteen plus orange), with CSS's own aliases written
#: the common English way (cyan = aqua, magenta = fuchsia, grey = gray)
SHADES: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "silver": (192, 192, 192),
    "grey": (128, 128, 128),
    "white": (255, 255, 255),
    "maroon": (128, 0, 0),
    "red": (255, 0, 0),
    "purple": (128, 0, 128),
    "magenta": (255, 0, 255),
    "green": (0, 128, 0),
    "lime": (0, 255, 0),
    "olive": (128, 128, 0),
    "yellow": (255, 255, 0),
    "navy": (0, 0, 128),
    "blue": (0, 0, 255),
    "teal": (0, 128, 128),
    "cyan": (0, 255, 255),
    "orange": (255, 165, 0),
}
#: other spellings of the same colour names (CSS aliases, American spelling)
COLOUR_ALIASES: dict[str, str] = {
    "gray": "grey",
    "aqua": "cyan",
    "fuchsia": "magenta",
    "silvery": "silver",
}
#: a shade is named only this close (RGB distance) to its keyword
SHADE_MAX_DISTANCE = 50.0
#: a frame is uniform when every channel's standard deviation (0-255, on a 4x-subsampled frame)
#: is below this: a flash is ~0-2 after JPEG, a film's black ~3; an airliner small in an overcast
#: sky measured 5.7 and flat grey scenery 7 or more
UNIFORM_MAX_STD = 4.0
#: a fade: each of the two frames before (after) a run is at least this much nearer (farther)
#: the run's colour (RGB distance of frame means) than the one before (after) it
FADE_MIN_STEP = 8.0
VERSION = "1"


class FrameLike(Protocol):
    t: float
    image: np.ndarray


def canonical_colour(word: str) -> str | None:
    """``word`` as a colour name this module uses (basic term or shade), or None."""
    w = word.lower()
    w = COLOUR_ALIASES.get(w, w)
    return w if w in BASIC_COLOURS or w in SHADES else None


def basic_colour(rgb: Iterable[float]) -> str:
    """The basic colour term for an sRGB colour (0-255): achromatic by lightness, else by hue,
    with lightness telling orange from brown and red from pink."""
    r, g, b = (min(max(float(c) / 255.0, 0.0), 1.0) for c in rgb)
    hue, light, _ = colorsys.rgb_to_hls(r, g, b)
    top, chroma = max(r, g, b), max(r, g, b) - min(r, g, b)
    if top < 0.15:
        return "black"
    if chroma < 0.12:
        return "white" if light > 0.85 else "grey" if light > 0.2 else "black"
    h = hue * 360.0
    if h < 15 or h >= 345:
        return "pink" if light > 0.7 else "red"
    if h < 45:
        return "brown" if top < 0.6 else "orange"
    if h < 70:
        return "brown" if top < 0.55 else "yellow"
    if h < 165:
        return "green"
    if h < 255:
        return "blue"
    if h < 290:
        return "purple"
    return "pink" if light > 0.6 else "purple"


def shade(rgb: Iterable[float]) -> str | None:
    """The nearest CSS 2.1 colour keyword when within :data:`SHADE_MAX_DISTANCE`, else None."""
    v = np.asarray(list(rgb), np.float32)
    name, dist = min(
        ((n, float(np.linalg.norm(v - np.array(c, np.float32)))) for n, c in SHADES.items()),
        key=lambda x: x[1],
    )
    return name if dist <= SHADE_MAX_DISTANCE else None


def frame_stats(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean RGB and the largest channel standard deviation of a frame (4x subsampled)."""
    small = np.asarray(image[::4, ::4, :3], dtype=np.float32).reshape(-1, 3)
    return small.mean(axis=0), float(small.std(axis=0).max())


def uniform_colour(image: np.ndarray) -> tuple[str, np.ndarray] | None:
    """``(basic colour, mean RGB)`` when the whole frame is one colour, else None."""
    mean, std = frame_stats(image)
    if std > UNIFORM_MAX_STD:
        return None
    return basic_colour(mean), mean


def describe(colour: str, shade_name: str | None, fade_in: bool, fade_out: bool) -> str:
    """The event as text a person (or a model) reads: ``solid black screen; fade to black``."""
    text = f"solid {colour} screen"
    if shade_name and shade_name != colour:
        text += f" ({shade_name})"
    if fade_in:
        text += f"; fade to {colour}"
    if fade_out:
        text += f"; fade from {colour}"
    return text


def _fades(means: list[np.ndarray], colour: np.ndarray, first: int, last: int) -> tuple[bool, bool]:
    """Whether the two frames before index ``first`` approach ``colour`` step by step (a fade
    into the run), and whether the two after ``last`` leave it step by step (a fade out of it)."""

    def dist(i: int) -> float:
        return float(np.linalg.norm(means[i] - colour))

    def steps(a: int, b: int, c: int) -> bool:  # a, b, c each FADE_MIN_STEP nearer the colour
        return dist(a) - dist(b) >= FADE_MIN_STEP and dist(b) - dist(c) >= FADE_MIN_STEP

    into = first >= 2 and steps(first - 2, first - 1, first)
    out = last + 2 < len(means) and steps(last + 2, last + 1, last)
    return into, out


def colour_events(frames: Iterable[FrameLike], step: float) -> list[dict[str, Any]]:
    """Runs of uniform frames of one colour in ``frames`` (time order, one every ``step`` s).

    Each event is ``{t_start, t_end, kind: "colour", text, colour, shade, rgb}``: ``colour`` is
    the basic term, ``shade`` the CSS keyword (or None), ``rgb`` the run's mean colour, and
    ``text`` says it in words, naming a fade into or out of the run when the frames around it
    step toward or away from its colour.
    """
    means: list[np.ndarray] = []
    times: list[float] = []
    names: list[str | None] = []
    for f in frames:
        mean, std = frame_stats(f.image)
        means.append(mean)
        times.append(float(f.t))
        names.append(basic_colour(mean) if std <= UNIFORM_MAX_STD else None)
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(names):
        name = names[i]
        if name is None:
            i += 1
            continue
        j = i
        while j + 1 < len(names) and names[j + 1] == name and times[j + 1] - times[j] <= 1.5 * step:
            j += 1
        rgb = np.mean(means[i : j + 1], axis=0)
        fade_in, fade_out = _fades(means, rgb, i, j)
        sh = shade(rgb)
        out.append(
            {
                "t_start": round(max(0.0, times[i] - step / 2), 3),
                "t_end": round(times[j] + step / 2, 3),
                "kind": "colour",
                "text": describe(name, sh, fade_in, fade_out),
                "colour": name,
                "shade": sh,
                "rgb": [round(float(c), 1) for c in rgb],
            }
        )
        i = j + 1
    return out


def video_colour_events(
    store: Any, record: Any, frames_plan: str, step: float
) -> list[dict[str, Any]]:
    """:func:`colour_events` over a video's cached frames of ``frames_plan`` (sampled every
    ``step`` s), computed once per video and cached in the store under producer ``colour`` (the
    version names the frames and the rules)."""
    from vidsleuth.versions import version_of

    version = version_of(
        plan=frames_plan,
        max_std=UNIFORM_MAX_STD,
        fade=FADE_MIN_STEP,
        shade=SHADE_MAX_DISTANCE,
        v=VERSION,
    )
    cached = store.get_json(record.video_id, "colour", version, "events")
    if cached is not None:
        return list(cached)
    dur = float(record.probe.duration_s)

    def frames() -> Iterable[FrameLike]:
        window = 120.0  # a window of frames at a time: an hour of frames does not fit in RAM
        t = 0.0
        while t < dur:
            yield from store.frames(record.video_id, frames_plan, t, t + window)
            t += window

    out = colour_events(frames(), step)
    store.put_json(record.video_id, "colour", version, "events", out)
    return out
