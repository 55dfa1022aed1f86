"""Probing: what a video file contains, checked well enough that decoding will not surprise us.

:func:`probe` demuxes the whole video stream (packets only, no decoding: about 0.1 s per 10
minutes of H.264) because container headers lie or are missing: ``no_duration.webm`` has no
duration at all, a truncated file's header still claims the full length, and variable frame
rate is only visible in the packet timestamps.  The same packet scan gives the keyframe list and
the presentation-timestamp table that frame-exact sampling is planned from
(:class:`PacketIndex`, cached per file so sampling never scans twice).
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from vidsleuth.errors import VideoError

if TYPE_CHECKING:
    import av.container


class SubtitleStream(BaseModel):
    """One embedded subtitle stream (text or bitmap)."""

    index: int = Field(description="stream index inside the container")
    codec: str
    language: str | None = None
    title: str | None = None


class VideoProbe(BaseModel):
    """What :func:`probe` found.  Times are seconds from the first video frame (``t = 0``).

    ``width``/``height`` are the *displayed* size, i.e. after ``rotation`` is applied, which is
    the size of every :class:`~vidsleuth.tools.video.Frame` image (before ``max_side``).
    """

    path: str
    duration_s: float
    duration_source: Literal["container", "stream", "decoded"] = Field(
        description="where duration_s came from; 'decoded' = measured by scanning every packet"
    )
    fps: float = Field(description="nominal rate for CFR, mean rate for VFR")
    fps_mode: Literal["cfr", "vfr"]
    width: int
    height: int
    rotation: int = Field(description="clockwise degrees applied for display: 0, 90, 180, 270")
    codec: str
    start_time: float = Field(description="container time (s) of the first video frame")
    has_audio: bool
    audio_codec: str | None = None
    subtitle_streams: list[SubtitleStream] = Field(default_factory=list)
    keyframes: list[float] = Field(default_factory=list)
    nb_frames: int | None = Field(None, description="video frames counted in the packet scan")
    video_stream: int = Field(0, description="container index of the video stream used")
    size_bytes: int = 0
    pix_fmt: str | None = None
    bit_rate: int | None = None

    @property
    def gop_s(self) -> float:
        """Mean keyframe spacing (s): the distance beyond which seeking beats decoding through."""
        if len(self.keyframes) < 2:
            return self.duration_s
        return (self.keyframes[-1] - self.keyframes[0]) / (len(self.keyframes) - 1)


@dataclass(frozen=True)
class PacketIndex:
    """Presentation timestamps of every video frame, from one demux pass.

    ``pts`` is sorted (presentation order); ``key_pts`` are the keyframes'.  All in the stream's
    ``time_base`` ticks; ``start_pts`` is the first frame's, which becomes ``t = 0``.
    """

    pts: np.ndarray
    key_pts: np.ndarray
    time_base: Fraction
    start_pts: int
    end_pts: int  # presentation end of the last frame
    stream_index: int

    def to_seconds(self, pts: int | np.ndarray) -> Any:
        """Ticks to seconds from the first frame."""
        return (np.asarray(pts, dtype=np.float64) - self.start_pts) * float(self.time_base)

    def frames_at(self, times: np.ndarray) -> np.ndarray:
        """pts of the frame on screen at each of ``times`` (the last frame with pts <= t, 1 us
        slack)."""
        target = self.start_pts + (np.asarray(times, dtype=np.float64) + 1e-6) / float(
            self.time_base
        )
        i = np.searchsorted(self.pts, target, side="right") - 1
        return self.pts[np.clip(i, 0, len(self.pts) - 1)]


def check_path(path: str | Path) -> Path:
    """Reject what is not a readable, non-empty regular file, with one clear line."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoError(p, "no such file") from None
    except PermissionError:
        raise VideoError(p, "permission denied") from None
    except OSError as err:
        raise VideoError(p, f"cannot access the file ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(p, "is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(p, "is not a regular file")
    if st.st_size == 0:
        raise VideoError(p, "is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise VideoError(p, "permission denied")
    return p


def _av_problem(err: Exception) -> str:
    """A short human phrase for a PyAV/FFmpeg error."""
    msg = getattr(err, "strerror", None) or str(err)
    return str(msg).split(": '")[0].strip().rstrip(".") or type(err).__name__


# Leading bytes of the containers we expect; a file that starts like one but will not open is
# damaged rather than "not a video" (e.g. an MP4 cut before its index).
_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV", b"\x00\x00\x01\xba")


def _looks_like_media(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head.startswith(_MAGIC)


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` for demuxing, turning every FFmpeg failure into :class:`VideoError`."""
    import av

    p = check_path(path)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.FFmpegError as err:
        what = "truncated or corrupt video file" if _looks_like_media(p) else "not a video file"
        raise VideoError(p, f"{what} ({_av_problem(err)})") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise VideoError(p, f"not a readable video file ({err})") from None
    if not container.streams.video:
        container.close()
        kinds = sorted({str(s.type) for s in container.streams}) or ["no streams"]
        raise VideoError(p, f"has no video stream (contains: {', '.join(kinds)})")
    return container


def _rotation_of(frame: Any) -> int:
    """Clockwise display rotation from the frame's display matrix (PyAV reports CCW degrees)."""
    try:
        ccw = float(frame.rotation or 0.0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return round(-ccw / 90.0) % 4 * 90


def _scan(container: av.container.InputContainer, path: Path) -> PacketIndex:
    """Demux every video packet; raise VideoError for data errors (truncation, corruption)."""
    import av

    stream = container.streams.video[0]
    pts: list[int] = []
    keys: list[int] = []
    last_end = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
            end = packet.pts + (packet.duration or 0)
            last_end = end if last_end is None else max(last_end, end)
    except av.FFmpegError as err:
        raise VideoError(path, f"truncated or corrupt video data ({_av_problem(err)})") from None
    if not pts:
        raise VideoError(path, "video stream has no frames (truncated or empty)")
    if stream.time_base is None:
        raise VideoError(path, "video stream has no time base")
    time_base = Fraction(stream.time_base)
    arr = np.unique(np.asarray(pts, dtype=np.int64))
    key_arr = np.unique(np.asarray(keys or [int(arr[0])], dtype=np.int64))
    if key_arr[0] > arr[0]:  # a stream whose first packets precede the first keyframe flag
        key_arr = np.concatenate([[arr[0]], key_arr])
    if len(arr) > 1:
        step = int(np.median(np.diff(arr)))
    else:
        step = round(1 / (float(stream.guessed_rate or 25) * float(time_base)))
    end_pts = max(int(arr[-1]) + step, int(last_end or 0))
    return PacketIndex(
        pts=arr,
        key_pts=key_arr,
        time_base=time_base,
        start_pts=int(arr[0]),
        end_pts=end_pts,
        stream_index=stream.index,
    )


def _file_key(path: str | Path) -> tuple[str, int, int]:
    p = check_path(path)
    st = p.stat()
    return (str(p.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe_cached(key: tuple[str, int, int]) -> tuple[VideoProbe, PacketIndex]:
    path = Path(key[0])
    import av

    container = open_container(path)
    try:
        stream = container.streams.video[0]
        index = _scan(container, path)
        # Decode the first frame: proves the codec works and gives the display rotation.
        container.seek(0)
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.FFmpegError as err:
            raise VideoError(path, f"video cannot be decoded ({_av_problem(err)})") from None
        if first is None:
            raise VideoError(path, "video cannot be decoded (no frame came out)")
        return _describe(container, stream, index, first, path, key[1]), index
    finally:
        container.close()


def _describe(
    container: Any, stream: Any, index: PacketIndex, first: Any, path: Path, size: int
) -> VideoProbe:
    tb = float(index.time_base)
    scanned = (index.end_pts - index.start_pts) * tb
    diffs = np.diff(index.pts) if len(index.pts) > 1 else np.array([], dtype=np.int64)

    # Duration: trust metadata only when the packet scan agrees with it; a header that claims
    # much more than the data holds is a truncated file.
    claims: list[tuple[str, float]] = []
    if stream.duration:
        claims.append(("stream", float(stream.duration * stream.time_base)))
    if container.duration:
        claims.append(("container", container.duration / 1_000_000))
    duration, source = scanned, "decoded"
    for name, value in claims:
        # The video stream's own header length is video-only; the container's may be the
        # audio's, so it must overshoot by far more before it means lost data.
        lost = value > scanned + max(1.0, 0.1 * value)
        if lost and (name == "stream" or value > 2.0 * scanned):
            raise VideoError(
                path,
                f"truncated: the header says {value:.1f} s but the video data ends at "
                f"{scanned:.1f} s",
            )
        if abs(value - scanned) <= max(0.5, 0.02 * scanned):
            duration, source = value, name
            break

    if len(diffs):
        median = float(np.median(diffs))
        spread = np.abs(diffs - median) > max(1.0, 0.01 * median)
        fps_mode = "vfr" if spread.mean() > 0.01 else "cfr"
    else:
        median, fps_mode = 0.0, "cfr"
    nominal = float(stream.average_rate or stream.guessed_rate or 0.0)
    if fps_mode == "cfr" and median > 0:
        measured = 1.0 / (median * tb)
        fps = nominal if nominal and abs(nominal - measured) / measured < 0.01 else measured
    else:
        fps = len(index.pts) / scanned if scanned > 0 else nominal

    rotation = _rotation_of(first)
    w, h = first.width, first.height
    if rotation in (90, 270):
        w, h = h, w

    audio = container.streams.audio
    subs = [
        SubtitleStream(
            index=s.index,
            codec=s.codec_context.name if s.codec_context else str(s.codec_context),
            language=s.metadata.get("language"),
            title=s.metadata.get("title"),
        )
        for s in container.streams.subtitles
    ]
    return VideoProbe(
        path=str(path),
        duration_s=round(duration, 6),
        duration_source=source,
        fps=round(fps, 6),
        fps_mode=fps_mode,
        width=w,
        height=h,
        rotation=rotation,
        codec=stream.codec_context.name,
        start_time=round(index.start_pts * tb, 6),
        has_audio=bool(audio),
        audio_codec=audio[0].codec_context.name if audio else None,
        subtitle_streams=subs,
        keyframes=[round(float(t), 6) for t in index.to_seconds(index.key_pts)],
        nb_frames=len(index.pts),
        video_stream=stream.index,
        size_bytes=size,
        pix_fmt=stream.codec_context.pix_fmt,
        bit_rate=container.bit_rate or None,
    )


def probe(path: str | Path) -> VideoProbe:
    """Describe ``path``; raise :class:`VideoError` for anything that is not a usable video.

    Cached per (path, size, mtime), so callers may probe freely.
    """
    return _probe_cached(_file_key(path))[0].model_copy(deep=True)


def packet_index(path: str | Path) -> PacketIndex:
    """The frame timestamp table of ``path`` (shared cache with :func:`probe`)."""
    return _probe_cached(_file_key(path))[1]


def probe_and_index(path: str | Path) -> tuple[VideoProbe, PacketIndex]:
    """Both at once, from one cache lookup."""
    found, index = _probe_cached(_file_key(path))
    return found, index
