"""Shared fixtures: real clips from ../shared (skipped when absent) and small test videos."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"
SHARED_EGOMEM = REPO.parent / "shared" / "data" / "egomem"

# Tests must never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Graph logic tests pin a stop rule that trusts agreeing, exact evidence (the prior the fitted
# weights were learned from), so they test the loop, not whatever the last fit on the CPU
# default's answers says; tests/test_fit_stop.py checks the shipped weights themselves.
PRIOR_STOP_WEIGHTS = "[-3.0, 1.5, 1.5, 2.0, 2.0, -1.0]"
os.environ.setdefault("VIDSLEUTH_AGENT_STOP_WEIGHTS", PRIOR_STOP_WEIGHTS)


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The folder of real clips, or a skip when this checkout has no ../shared beside it."""
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real clips not available ({SHARED_VIDEOS} is absent)")
    return SHARED_VIDEOS


_BARS, _BASE = 6, 6  # six vertical bars, each one base-6 digit: 46,656 distinct frames


def write_counter_video(
    path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (160, 96), gop: int = 40
) -> Path:
    """Write an H.264 video whose frame ``i`` shows ``i`` in flat grey bars (base-6 digits).

    Flat bars survive compression, so :func:`counter_index` recovers the exact frame index of a
    decoded frame: the ground truth for frame-exactness tests.
    """
    import av

    w, h = size
    n = round(seconds * fps)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.codec_context.gop_size = gop
        st.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(counter_image(i, w, h), format="rgb24")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def counter_image(i: int, w: int, h: int) -> np.ndarray:
    """The picture of frame ``i``: digit ``k`` of ``i`` in base 6 is the grey level of bar ``k``."""
    img = np.empty((h, w, 3), np.uint8)
    bw = w // _BARS
    for k in range(_BARS):
        digit = (i // _BASE**k) % _BASE
        img[:, k * bw : (k + 1) * bw] = 20 + 40 * digit
    img[:, _BARS * bw :] = 0
    return img


def counter_index(image: np.ndarray, n_frames: int | None = None) -> int:
    """Recover the frame index of a decoded :func:`write_counter_video` frame."""
    h, w = image.shape[:2]
    bw = w // _BARS
    index = 0
    for k in range(_BARS):
        level = float(image[h // 4 : 3 * h // 4, k * bw + bw // 4 : (k + 1) * bw - bw // 4].mean())
        digit = int(np.clip(round((level - 20) / 40), 0, _BASE - 1))
        index += digit * _BASE**k
    return index


@pytest.fixture
def counter_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``counter_video(seconds=..., fps=...)`` -> path of a fresh counter video."""

    def make(seconds: float = 6.0, fps: int = 10, **kw: object) -> Path:
        return write_counter_video(
            tmp_path / f"counter_{seconds:g}s_{fps}fps.mp4", seconds, fps, **kw
        )  # type: ignore[arg-type]

    return make
