"""Frame exactness: every sampler must return the frame on screen at the requested time.

The test videos encode each frame's index in a 4x4 grid of black/white cells (robust to H.264
compression), so a returned image can be read back to the frame it came from.  They are encoded
with B-frames and short GOPs, so reordering, GOP skipping and non-reference skipping are all hit.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.evals.bench_decode import ffmpeg_round_up
from vidsleuth.tools.video import (
    decode_interval,
    keyframe_frames,
    probe,
    sample_frames,
    sample_rate,
)

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
W, H, BITS = 320, 240, 16


def _pattern(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), dtype=np.uint8)
    cw, ch = W // 4, H // 4
    for b in range(BITS):
        if (i >> b) & 1:
            r, c = divmod(b, 4)
            img[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = 255
    return img


def read_index(image: np.ndarray) -> int:
    """Frame index encoded by :func:`_pattern` (works on resized images too)."""
    h, w = image.shape[:2]
    cw, ch = w / 4, h / 4
    value = 0
    for b in range(BITS):
        r, c = divmod(b, 4)
        cell = image[
            int(r * ch + ch / 4) : int((r + 1) * ch - ch / 4),
            int(c * cw + cw / 4) : int((c + 1) * cw - cw / 4),
        ]
        if cell.mean() > 128:
            value |= 1 << b
    return value


def write_index_video(path: Path, pts_ms: list[int], gop: int = 12) -> Path:
    """H.264 in MP4 with B-frames; frame i is shown at ``pts_ms[i]`` ms and shows index i."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "veryfast", "crf": "20", "bf": "3"}
        for i, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def cfr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    pts = [i * 40 for i in range(500)]  # 25 fps, 20 s
    path = write_index_video(tmp_path_factory.mktemp("v") / "cfr.mp4", pts)
    return path, np.array(pts) / 1000.0


@pytest.fixture(scope="module")
def vfr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    steps = rng.choice([20, 40, 100, 250], size=240)
    pts = np.concatenate([[0], np.cumsum(steps)[:-1]]).astype(int)
    path = write_index_video(tmp_path_factory.mktemp("v") / "vfr.mp4", pts.tolist(), gop=30)
    return path, pts / 1000.0


def expected(times: np.ndarray, t: float) -> int:
    return int(np.searchsorted(times, t + 1e-6, side="right") - 1)


def test_index_pattern_roundtrip() -> None:
    assert [read_index(_pattern(i)) for i in (0, 1, 255, 4097)] == [0, 1, 255, 4097]


@pytest.mark.parametrize("decoder", ["pyav", "decord"])
def test_sample_frames_exact_cfr(cfr: tuple[Path, np.ndarray], decoder: str) -> None:
    path, times = cfr
    rng = np.random.default_rng(1)
    ts = np.concatenate([rng.uniform(0, 20.5, 80), [0.0, 0.04, 0.0399, 19.96, 3.0, 3.0]])
    frames = sample_frames(path, ts.tolist(), decoder=decoder)
    assert len(frames) == len(ts)
    for t, f in zip(ts, frames, strict=False):
        i = expected(times, t)
        assert read_index(f.image) == i, f"t={t}"
        assert f.t == pytest.approx(times[i], abs=1e-9)
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8


def test_sample_frames_exact_vfr(vfr: tuple[Path, np.ndarray]) -> None:
    path, times = vfr
    info = probe(path)
    assert info.fps_mode == "vfr"
    ts = np.linspace(0, times[-1] + 0.5, 157)
    frames = sample_frames(path, ts[::-1].tolist())  # unsorted on purpose
    for t, f in zip(ts[::-1], frames, strict=False):
        i = expected(times, t)
        assert read_index(f.image) == i
        assert f.t == pytest.approx(times[i], abs=1e-9)


def test_sparse_far_apart_uses_seeks_and_stays_exact(cfr: tuple[Path, np.ndarray]) -> None:
    path, times = cfr
    ts = [19.5, 0.5, 10.02, 10.04]
    assert [read_index(f.image) for f in sample_frames(path, ts)] == [
        expected(times, t) for t in ts
    ]


@pytest.mark.parametrize("fps,workers", [(1.0, 1), (7.0, 1), (3.0, 2)])
def test_sample_rate_exact(cfr: tuple[Path, np.ndarray], fps: float, workers: int) -> None:
    path, times = cfr
    frames = list(sample_rate(path, fps, workers=workers))
    want = np.arange(int(np.ceil(20.0 * fps - 1e-9))) / fps
    assert len(frames) == len(want)
    assert [read_index(f.image) for f in frames] == [expected(times, t) for t in want]
    assert all(a.t <= b.t for a, b in itertools.pairwise(frames))


def test_sample_rate_window_and_max_side(vfr: tuple[Path, np.ndarray]) -> None:
    path, times = vfr
    frames = list(sample_rate(path, 2.0, start=5.0, end=9.0, max_side=160))
    assert len(frames) == 8
    assert frames[0].image.shape == (120, 160, 3)
    assert [read_index(f.image) for f in frames] == [expected(times, 5.0 + k / 2) for k in range(8)]


def test_keyframe_pass(cfr: tuple[Path, np.ndarray]) -> None:
    path, times = cfr
    info = probe(path)
    frames = list(keyframe_frames(path))
    assert len(info.keyframes) >= 500 // 12
    assert [f.t for f in frames] == pytest.approx(info.keyframes)
    assert all(f.key for f in frames)
    assert [read_index(f.image) for f in frames] == [expected(times, t) for t in info.keyframes]


def test_decode_interval_every_frame_and_rate(vfr: tuple[Path, np.ndarray]) -> None:
    path, times = vfr
    every = decode_interval(path, 3.0, 6.0)
    inside = [i for i, t in enumerate(times) if 3.0 < t < 6.0]
    got = [read_index(f.image) for f in every]
    assert got == [expected(times, 3.0), *inside]
    zoom = decode_interval(path, 3.0, 4.0, fps=10)
    assert [read_index(f.image) for f in zoom] == [expected(times, 3.0 + k / 10) for k in range(10)]


@pytest.mark.parametrize("name", ["bikes.mp4", "fire2.mp4", "big_buck_bunny_0_30.webm"])
def test_matches_ffmpeg_round_up_on_real_clips(name: str) -> None:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"real clips not present ({VIDEOS})")
    info = probe(path)
    ref, _ = ffmpeg_round_up(path, info.width, info.height)
    # ffmpeg counts slots in container time; ours start at the first frame (start_time later).
    # When the video starts after 0, ffmpeg fills slot 0 with slot 1's frame: skip that slot.
    times = [k - info.start_time for k in range(len(ref))]
    if info.start_time == 0:
        ours = list(sample_rate(path, 1.0))
    else:
        ours = sample_frames(path, [max(t, 0.0) for t in times])
    n = min(len(ref), len(ours))
    assert n >= int(info.duration_s)
    for k in range(0 if info.start_time == 0 else 1, n):
        diff = np.abs(ours[k].image.astype(np.int16) - ref[k].astype(np.int16)).mean()
        assert diff < 2.0, f"{name}: second {k} differs from ffmpeg round=up by {diff:.2f}"
        assert ours[k].t <= times[k] + 1e-6


def test_fast_path_equals_plain_decoding() -> None:
    """NONREF skipping + GOP skipping must give the same pixels as decoding every frame."""
    from vidsleuth.tools.video.decode import _fallback
    from vidsleuth.tools.video.probe import packet_index

    path = VIDEOS / "smpte-2997.mp4"
    if not path.exists():
        pytest.skip(f"real clips not present ({VIDEOS})")
    index = packet_index(path)
    ts = [0.3, 1.0, 2.5, 4.44, 7.0, 9.9]
    fast = sample_frames(path, ts)
    want = index.frames_at(np.array(ts))
    slow = dict((p, img) for p, img, _ in _fallback(str(path), want, index.key_pts, None, 0))
    for f, p in zip(fast, want, strict=False):
        assert np.array_equal(f.image, slow[int(p)])
