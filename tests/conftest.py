"""Shared fixtures: real clips from ../shared (skipped when absent) and small encoded test videos."""

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


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The folder of real clips, or a skip when this checkout has no ../shared beside it."""
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"real clips not available ({SHARED_VIDEOS} is absent)")
    return SHARED_VIDEOS


def write_counter_video(
    path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (160, 96), gop: int = 40
) -> Path:
    """Write an H.264 video whose frame ``i`` is a flat grey level that encodes ``i``.

    Frame ``i`` has value ``(i * 37) % 200 + 28`` on the left half and ``i // 7 * 9 % 200 + 28``
    on the right half, so a decoded frame's index is recoverable despite compression.
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
            img = np.empty((h, w, 3), np.uint8)
            img[:, : w // 2] = counter_levels(i)[0]
            img[:, w // 2 :] = counter_levels(i)[1]
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def counter_levels(i: int) -> tuple[int, int]:
    """The two grey levels of frame ``i`` in :func:`write_counter_video`."""
    return (i * 37) % 200 + 28, (i // 7 * 9) % 200 + 28


def counter_index(image: np.ndarray, n_frames: int) -> int:
    """Recover the frame index of a decoded :func:`write_counter_video` frame."""
    h, w = image.shape[:2]
    left = float(image[h // 4 : 3 * h // 4, w // 8 : 3 * w // 8].mean())
    right = float(image[h // 4 : 3 * h // 4, 5 * w // 8 : 7 * w // 8].mean())
    errs = [abs(left - a) + abs(right - b) for a, b in map(counter_levels, range(n_frames))]
    return int(np.argmin(errs))


@pytest.fixture
def counter_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``counter_video(seconds=..., fps=...)`` -> path of a fresh counter video."""

    def make(seconds: float = 6.0, fps: int = 10, **kw: object) -> Path:
        return write_counter_video(tmp_path / f"counter_{seconds:g}s_{fps}fps.mp4", seconds, fps, **kw)  # type: ignore[arg-type]

    return make
