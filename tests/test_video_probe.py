"""Probing real clips, a file with no container duration, rotation, subtitles, and bad input."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import VideoError
from vidsleuth.tools.video import probe, sample_frames

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"

# name: (duration_s, fps, width, height, has_audio)
REAL = {
    "airplane.mp4": (11.2, 25.0, 640, 360, True),
    "big_buck_bunny_0_30.webm": (30.0, 24.0, 1280, 720, True),
    "bikes.mp4": (10.0, 25.0, 640, 272, False),
    "carphone.mp4": (4.0, 29.97, 176, 144, False),
    "chaplin.mp4": (9.64, 25.0, 640, 360, True),
    "fire2.mp4": (2.38, None, 1280, 720, True),
    "no_duration.webm": (4.94, None, 1280, 720, True),
    "scene_cuts.mp4": (10.0, 25.0, 1280, 272, False),
    "sintel_snow.mp4": (2.0, 24.0, 854, 480, True),
    "smpte-2997.mp4": (10.04, 25.0, 1920, 1080, True),
    "timecode_pattern.mp4": (16.0, 25.0, 640, 480, False),
}


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _real(name: str) -> Path:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"real clips not present ({VIDEOS})")
    return path


@pytest.mark.parametrize("name", sorted(REAL))
def test_probe_real_clips(name: str) -> None:
    duration, fps, width, height, audio = REAL[name]
    info = probe(_real(name))
    assert info.duration_s == pytest.approx(duration, abs=0.05)
    assert (info.width, info.height) == (width, height)
    assert info.has_audio is audio
    if fps is not None:
        assert info.fps == pytest.approx(fps, rel=1e-3)
        assert info.fps_mode == "cfr"
    assert info.keyframes and info.keyframes[0] == pytest.approx(0.0, abs=0.01)
    assert all(a < b for a, b in zip(info.keyframes, info.keyframes[1:], strict=False))
    assert info.nb_frames and info.nb_frames > 10


def test_no_duration_file_gets_measured_duration() -> None:
    info = probe(_real("no_duration.webm"))
    assert info.duration_source == "decoded"
    assert info.duration_s > 4.5


def test_odd_time_base_vfr_and_rotation() -> None:
    info = probe(_real("fire2.mp4"))  # 90000/1 time base, irregular frame spacing
    assert info.fps_mode == "vfr"
    assert 9.0 < info.fps < 12.0
    assert info.rotation == 180


def test_smpte_keyframes_every_0_6_s() -> None:
    info = probe(_real("smpte-2997.mp4"))
    assert np.diff(info.keyframes) == pytest.approx([0.6] * (len(info.keyframes) - 1), abs=0.01)


def _small_video(path: Path, n: int = 50, audio: bool = False) -> Path:
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        for i in range(n):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, :32] = (255, 0, 0)  # red left half: shows where the picture's left went
            img[:8] = i * 5
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(v.encode(None))
    return path


def test_rotation_metadata_applied(tmp_path: Path) -> None:
    src = _small_video(tmp_path / "plain.mp4")
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(src),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    info = probe(rotated)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (48, 64)
    frame = sample_frames(rotated, [1.0])[0]
    assert frame.image.shape == (64, 48, 3)
    ref = subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-ss",
            "1",
            "-i",
            str(rotated),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:",
        ],
        capture_output=True,
        check=True,
    ).stdout
    ref_img = np.frombuffer(ref, np.uint8).reshape(64, 48, 3)
    assert np.abs(frame.image.astype(int) - ref_img).mean() < 3.0  # same turn as ffmpeg


def test_subtitle_streams_and_audio(tmp_path: Path) -> None:
    src = _small_video(tmp_path / "plain.mp4")
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nhello\n\n")
    out = tmp_path / "with_subs.mkv"
    subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-i",
            str(src),
            "-i",
            str(srt),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-c:v",
            "copy",
            "-c:s",
            "srt",
            "-c:a",
            "libopus",
            "-metadata:s:s:0",
            "language=eng",
            str(out),
        ],
        check=True,
    )
    info = probe(out)
    assert info.has_audio and info.audio_codec == "opus"
    assert len(info.subtitle_streams) == 1
    assert info.subtitle_streams[0].codec in ("subrip", "srt")
    assert info.subtitle_streams[0].language == "eng"


# ------------------------------------------------------------------------------- bad input
def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for k in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, k * 1024
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path


@pytest.mark.parametrize(
    "kind,problem",
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "is empty"),
        ("text", "not a video file"),
        ("audio_only", "has no video stream"),
        ("truncated_moov_last", "truncated or corrupt"),
        ("truncated_moov_first", "truncated"),
    ],
)
def test_bad_input_raises_video_error(tmp_path: Path, kind: str, problem: str) -> None:
    if kind == "missing":
        path = tmp_path / "nope.mp4"
    elif kind == "directory":
        path = tmp_path / "dir.mp4"
        path.mkdir()
    elif kind == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif kind == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n" * 20)
    elif kind == "audio_only":
        path = _audio_only(tmp_path / "audio.m4a")
    else:
        name = "chaplin.mp4" if kind == "truncated_moov_last" else "fire2.mp4"
        data = _real(name).read_bytes()
        path = tmp_path / f"third_{name}"
        path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError) as err:
        probe(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(VideoError):
        sample_frames(path, [0.0])


def test_bad_timestamps_are_value_errors(tmp_path: Path) -> None:
    src = _small_video(tmp_path / "plain.mp4")
    with pytest.raises(ValueError):
        sample_frames(src, [-1.0])
    with pytest.raises(ValueError):
        sample_frames(src, [float("nan")])
