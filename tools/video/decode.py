"""Frame-exact decoding: sample at given times or a rate, keyframe-only passes, interval zoom-ins.

Semantics: the frame returned for a requested time ``t`` (seconds from the first frame) is the
frame *on screen* at ``t``: the last frame whose presentation time is <= ``t`` (1 us slack).
That is what ``ffmpeg -vf fps=1:round=up`` returns; plain ``fps=1`` rounds to the nearest
slot and returns a frame about half a second late.  ``Frame.t`` is that frame's true
presentation time, not the requested one.

Why it is fast (PyAV path, the default; see ``evals/bench_decode.py`` for the numbers):

* the wanted frames are known *by pts* before decoding starts (the packet index from
  :mod:`.probe`), so every packet that is neither wanted nor a reference frame is dropped inside
  the decoder (``skip_frame = NONREF`` switched per packet): at 1 fps from 30 fps H.264 with
  B-frames that skips roughly half of all decoding work and stays exact;
* whole GOPs that hold no wanted frame are never sent to the decoder (and when the gap is long
  the demuxer seeks over them);
* only kept frames are converted to RGB (and scaled there, in one swscale call);
* long ranges are split into keyframe-aligned intervals decoded by worker processes, yielded in
  time order while later intervals are still decoding, so the consumer (perception, indexing)
  overlaps with decoding.

Every FFmpeg/decord failure surfaces as :class:`~vidsleuth.errors.VideoError`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vidsleuth.errors import VideoError

from .probe import PacketIndex, open_container, probe_and_index

DecoderName = Literal["pyav", "decord"]
DECODERS: tuple[str, ...] = ("pyav", "decord")
# Chosen by measurement (evals/bench_decode.py): PyAV with per-packet NONREF skipping is both
# frame-exact and the fastest here; decord is kept as an option.
DEFAULT_DECODER: DecoderName = "pyav"
# Below this much video, worker processes cost more to start than they save.
# Streams longer than this many frames decode in a background thread ahead of the consumer.
PREFETCH_MIN_FRAMES = 16


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame: true presentation time (s from the first frame), RGB image, keyframe."""

    t: float
    image: np.ndarray = field(repr=False)  # HxWx3 uint8 RGB, rotation applied
    key: bool = False


def resolve_decoder(decoder: str | None) -> DecoderName:
    """``None``/``"auto"`` -> the default; reject unknown names with a clear error."""
    if decoder in (None, "", "auto"):
        return DEFAULT_DECODER
    if decoder not in DECODERS:
        from vidsleuth.errors import ConfigError

        raise ConfigError(f"unknown decoder {decoder!r} (choose from: auto, {', '.join(DECODERS)})")
    return decoder  # type: ignore[return-value]


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """Output size for ``max_side`` (even numbers, aspect kept), or None for native size."""
    if not max_side or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    if not rotation:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


def _to_rgb(frame: Any, max_side: int | None, rotation: int) -> np.ndarray:
    size = _target_size(frame.width, frame.height, max_side)
    if size is None:
        image = frame.to_ndarray(format="rgb24")
    else:
        image = frame.to_ndarray(
            format="rgb24", width=size[0], height=size[1], interpolation="AREA"
        )
    return _rotate(image, rotation)


# --------------------------------------------------------------------------- PyAV core
def _decode_pyav(
    path: str,
    want: np.ndarray,
    key_pts: np.ndarray,
    *,
    max_side: int | None,
    rotation: int,
    threads: int = 0,
    skip_nonref: bool = True,
    seek_gap: int | None = None,
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Decode exactly the frames whose pts are in ``want`` (sorted, unique); yield in pts order.

    ``key_pts`` are the stream's keyframes.  Frames are grouped by the keyframe that starts
    their GOP; GOPs with nothing wanted are never decoded (skipped at the demuxer, or seeked
    over when more than ``seek_gap`` ticks away).  Wanted frames that do not come out of the
    fast path (a decoder that ignores per-packet skipping, corrupt data) are re-decoded the slow,
    always-correct way by :func:`_fallback`.
    """
    import av

    if len(want) == 0:
        return
    want = np.asarray(want, dtype=np.int64)
    want_set = set(want.tolist())
    group_of_want = key_pts[np.clip(np.searchsorted(key_pts, want, side="right") - 1, 0, None)]
    groups = np.unique(group_of_want)
    uniq, counts = np.unique(group_of_want, return_counts=True)
    unsent = {int(g): int(n) for g, n in zip(uniq, counts, strict=True)}
    delivered: set[int] = set()

    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        cc = stream.codec_context

        def emit(frames: list[Any]) -> Iterator[tuple[int, np.ndarray, bool]]:
            for fr in frames:
                if fr.pts in want_set and fr.pts not in delivered:
                    delivered.add(fr.pts)
                    yield fr.pts, _to_rgb(fr, max_side, rotation), bool(fr.key_frame)

        def decode(packet: Any) -> list[Any]:
            try:
                return cc.decode(packet)
            except av.FFmpegError:
                return []  # a damaged packet: its frame (if wanted) goes to the fallback

        gi = 0
        feeding = False
        last_key_sent: int | None = None
        pos: int | None = None
        seeked_to: int | None = None
        packets = iter(container.demux(stream))
        while gi < len(groups):
            target = int(groups[gi])
            if not feeding and seek_gap is not None and seeked_to != target:
                here = pos if pos is not None else int(key_pts[0])
                if target - here > seek_gap:
                    yield from emit(decode(None))  # drain what is in flight, then jump
                    packets = _seek(container, stream, target)
                    cc.flush_buffers()
                    seeked_to, pos = target, None
            packet = next(packets, None)
            if packet is None:
                break
            if packet.pts is None or packet.size == 0:
                continue
            pos = packet.pts
            if not feeding:
                if not (packet.is_keyframe and packet.pts >= target):
                    continue
                feeding = True
            if packet.is_keyframe:
                last_key_sent = packet.pts
            if packet.pts in want_set:
                cc.skip_frame = "DEFAULT"
                g = int(key_pts[max(int(np.searchsorted(key_pts, packet.pts, "right")) - 1, 0)])
                unsent[g] = unsent.get(g, 1) - 1
            else:
                cc.skip_frame = "NONREF" if skip_nonref else "DEFAULT"
            yield from emit(decode(packet))
            while gi < len(groups) and unsent.get(int(groups[gi]), 0) <= 0:
                gi += 1
            if gi < len(groups) and (last_key_sent is None or groups[gi] > last_key_sent):
                feeding = False  # the next wanted frame starts a later GOP: skip to it
        cc.skip_frame = "DEFAULT"
        yield from emit(decode(None))
    finally:
        container.close()

    missing = [int(p) for p in want if int(p) not in delivered]
    if missing:
        yield from _fallback(path, np.asarray(missing), key_pts, max_side, rotation)


def _seek(container: Any, stream: Any, key: int) -> Iterator[Any]:
    """Seek the demuxer to keyframe ``key`` (or before it); return a fresh packet iterator."""
    container.seek(int(key), stream=stream, backward=True, any_frame=False)
    packets = iter(container.demux(stream))
    first = next(packets, None)
    if first is not None and first.pts is not None and first.pts > key:
        container.seek(0, stream=stream, backward=True)  # overshot: restart from the top
        return iter(container.demux(stream))
    return _chain(first, packets)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest


def _fallback(
    path: str, want: np.ndarray, key_pts: np.ndarray, max_side: int | None, rotation: int
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Decode every frame from the first wanted GOP on and pick the frame on screen at each pts.

    Slow but needs nothing from the decoder beyond ordinary decoding; a wanted frame that cannot
    be decoded at all is replaced by the last decodable one before it.
    """
    import av

    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = int(key_pts[max(int(np.searchsorted(key_pts, want[0], "right")) - 1, 0)])
        packets = _seek(container, stream, start)
        prev: Any = None
        i = 0
        for packet in packets:
            try:
                frames = stream.codec_context.decode(packet if packet.size else None)
            except av.FFmpegError:
                continue
            for fr in frames:
                if fr.pts is None:
                    continue
                while i < len(want) and fr.pts > want[i]:
                    if prev is not None:
                        yield int(want[i]), _to_rgb(prev, max_side, rotation), bool(prev.key_frame)
                    i += 1
                prev = fr
            if i >= len(want):
                break
        while i < len(want) and prev is not None:
            yield int(want[i]), _to_rgb(prev, max_side, rotation), bool(prev.key_frame)
            i += 1
    except av.FFmpegError as err:
        raise VideoError(path, f"decoding failed ({err})") from None
    finally:
        container.close()
    if i < len(want):
        raise VideoError(path, "no decodable frame found near the requested times (corrupt data)")


def _keyframes_pyav(
    path: str, keys: np.ndarray, *, max_side: int | None, rotation: int, threads: int = 0
) -> Iterator[tuple[int, Any, bool]]:
    """Decode only the keyframes ``keys`` (all of the stream's, in order).

    Yields undecoded-to-RGB ``av.VideoFrame`` objects on the fast path (the caller converts them
    in another thread, which measured 1.6x faster than converting between decode calls) and RGB
    arrays on the fallback path.

    The demuxer is told to drop non-key packets (``AVDISCARD_NONKEY``: MP4/MKV then never read
    them from disk), which makes this ~40x cheaper than demuxing everything.  FFmpeg's MP4
    demuxer reports wrong pts for packets after discarded ones (off by the B-frame delay), so
    keyframes are matched to the packet index *by order*, and each one is checked to lie
    nearer its own index entry than to any other; on a mismatch the rest is decoded the slow
    way, matching exact pts.
    """
    import av

    container = open_container(path)
    done = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        cc = stream.codec_context
        stream.discard = type(stream.discard).nonkey
        mids = (keys[1:] + keys[:-1]) / 2.0
        lo = np.concatenate([[-np.inf], mids])
        hi = np.concatenate([mids, [np.inf]])

        def take(frames: list[Any]) -> Iterator[tuple[int, np.ndarray, bool]]:
            nonlocal done
            for fr in frames:
                if done >= len(keys) or fr.pts is None or not lo[done] <= fr.pts < hi[done]:
                    raise _OrderLost
                yield int(keys[done]), fr, True
                done += 1

        try:
            for packet in container.demux(stream):
                if packet.size == 0 or not packet.is_keyframe:
                    continue
                try:
                    frames = cc.decode(packet)
                except av.FFmpegError:
                    raise _OrderLost from None
                yield from take(frames)
            yield from take(cc.decode(None))
        except _OrderLost:
            pass  # the keyframes not yet yielded are decoded the exact way below
    finally:
        container.close()
    if done < len(keys):
        yield from _decode_pyav(
            path,
            keys[done:],
            keys,
            max_side=max_side,
            rotation=rotation,
            threads=threads,
            skip_nonref=True,
        )


class _OrderLost(Exception):
    """The keyframe-only fast path lost track of which keyframe is which."""


# --------------------------------------------------------------------------- decord
def _decode_decord(
    path: str, index: PacketIndex, want: np.ndarray, *, max_side: int | None, rotation: int
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """decord's ``get_batch`` on frame numbers mapped from our pts table."""
    import decord

    from .probe import probe

    info = probe(path)
    w, h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    size = _target_size(w, h, max_side)
    kwargs = {"width": size[0], "height": size[1]} if size else {}
    try:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=0, **kwargs)
    except decord.DECORDError as err:
        first_line = str(err).splitlines()[0]
        raise VideoError(path, f"decord cannot read the file ({first_line})") from None
    if len(reader) != len(index.pts):
        raise VideoError(
            path,
            f"decord counts {len(reader)} frames where the packet scan found {len(index.pts)}; "
            "use --decoder pyav",
        )
    numbers = np.searchsorted(index.pts, want)
    keys = set(index.key_pts.tolist())
    for start in range(0, len(numbers), 32):
        batch = reader.get_batch(numbers[start : start + 32].tolist()).asnumpy()
        for j, image in enumerate(batch):
            pts = int(want[start + j])
            yield pts, _rotate(image, rotation), pts in keys


# --------------------------------------------------------------------------- parallel
def _task_decode(
    path: str,
    want: np.ndarray,
    key_pts: np.ndarray,
    max_side: int | None,
    rotation: int,
    threads: int,
) -> list[tuple[int, np.ndarray, bool]]:
    """Worker-process entry point: one keyframe-aligned interval."""
    return list(
        _decode_pyav(path, want, key_pts, max_side=max_side, rotation=rotation, threads=threads)
    )


def _split(want: np.ndarray, key_pts: np.ndarray, parts: int) -> list[np.ndarray]:
    """Split sorted ``want`` into about ``parts`` pieces, each starting a new GOP."""
    if parts <= 1 or len(want) < 2:
        return [want]
    groups = np.searchsorted(key_pts, want, side="right")
    cuts = [0]
    size = len(want) / parts
    for k in range(1, parts):
        i = round(k * size)
        # move the cut forward to the first frame of a new GOP
        while 0 < i < len(want) and groups[i] == groups[i - 1]:
            i += 1
        if cuts[-1] < i < len(want):
            cuts.append(i)
    cuts.append(len(want))
    return [want[a:b] for a, b in itertools.pairwise(cuts) if b > a]


_POOL: Any = None
_POOL_WORKERS = 0


def _pool(workers: int) -> Any:
    """A process pool kept for the life of the process (forkserver: safe beside threads)."""
    global _POOL, _POOL_WORKERS
    if _POOL is None or workers != _POOL_WORKERS:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if _POOL is not None:
            _POOL.shutdown(cancel_futures=True)
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["vidsleuth.tools.video.decode"])
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        _POOL_WORKERS = workers
    return _POOL


def _run_parallel(
    path: str,
    pieces: list[np.ndarray],
    key_pts: np.ndarray,
    *,
    max_side: int | None,
    rotation: int,
    workers: int,
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Decode pieces in worker processes; yield in order while later pieces still decode.

    At most ``2 * workers`` pieces are in flight, so a slow consumer never makes the whole
    video pile up in memory.
    """
    pool = _pool(workers)
    pending: deque[Any] = deque()
    todo = iter(pieces)

    def submit() -> None:
        piece = next(todo, None)
        if piece is not None:
            pending.append(pool.submit(_task_decode, path, piece, key_pts, max_side, rotation, 1))

    for _ in range(2 * workers):
        submit()
    try:
        while pending:
            result = pending.popleft().result()
            submit()
            yield from result
    finally:
        for fut in pending:
            fut.cancel()


def _auto_workers(workers: int | None, seconds: float) -> int:
    """Worker processes to use.  Automatic is one: measured on 2 cores, one process whose
    FFmpeg frame threads use both cores beat two single-threaded processes (10.5 s vs 17.5 s
    for 600 exact frames of a 10-minute file); more cores may change that, hence the option."""
    del seconds
    if workers is not None:
        return max(1, int(workers))
    return 1


class _Failed:
    def __init__(self, err: BaseException) -> None:
        self.err = err


def _prefetch(items: Iterator[Any], depth: int = 48) -> Iterator[Any]:
    """Run ``items`` in a background thread, ``depth`` ahead of the consumer.

    FFmpeg decodes with the GIL released, so the consumer's work (perception, JPEG encoding,
    store writes) overlaps decoding instead of alternating with it.
    """
    import queue
    import threading

    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as err:  # handed to the consumer, re-raised there
            put(_Failed(err))
        finally:
            put(done)

    thread = threading.Thread(target=run, name="vidsleuth-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, _Failed):
                raise item.err
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- public API
def _wanted(index: PacketIndex, times: np.ndarray) -> np.ndarray:
    return index.frames_at(times)


def _frames_for(
    path: str,
    index: PacketIndex,
    rotation: int,
    want: np.ndarray,
    *,
    max_side: int | None,
    decoder: DecoderName,
    workers: int,
) -> Iterator[tuple[int, np.ndarray, bool]]:
    if decoder == "decord":
        return _decode_decord(path, index, want, max_side=max_side, rotation=rotation)
    if workers > 1:
        pieces = _split(want, index.key_pts, parts=max(workers * 3, len(want) // 120))
        if len(pieces) > 1:
            return _run_parallel(
                path, pieces, index.key_pts, max_side=max_side, rotation=rotation, workers=workers
            )
    gap = _seek_gap(index)
    return _decode_pyav(
        path, want, index.key_pts, max_side=max_side, rotation=rotation, seek_gap=gap
    )


def _seek_gap(index: PacketIndex) -> int:
    """Seek when the next wanted GOP is more than ~3 GOPs (and 10 s) ahead; demux through
    otherwise (reading packets is far cheaper than a seek plus a decoder flush)."""
    span = int(index.pts[-1] - index.pts[0]) or 1
    gop = span / max(len(index.key_pts), 1)
    return int(max(3 * gop, 10.0 / float(index.time_base)))


def sample_frames(
    path: str | Path,
    timestamps: Sequence[float],
    *,
    max_side: int | None = None,
    decoder: str | None = None,
) -> list[Frame]:
    """The frame on screen at each of ``timestamps`` (s from the first frame), same order.

    Duplicate or unsorted timestamps are fine; times past the end give the last frame.
    Efficient for sparse sets: GOPs with nothing wanted are skipped or seeked over.
    """
    times = np.asarray(list(timestamps), dtype=np.float64)
    if times.size == 0:
        return []
    if not np.all(np.isfinite(times)) or times.min() < -1e-6:
        raise ValueError("timestamps must be finite and >= 0")
    info, index = probe_and_index(path)
    pts_of = _wanted(index, times)
    want = np.unique(pts_of)
    spath = str(path)
    got: dict[int, Frame] = {}
    for pts, image, key in _frames_for(
        spath,
        index,
        info.rotation,
        want,
        max_side=max_side,
        decoder=resolve_decoder(decoder),
        workers=1,
    ):
        got[pts] = Frame(t=float(index.to_seconds(pts)), image=image, key=key)
    missing = [int(p) for p in want if int(p) not in got]
    if missing:
        t = float(index.to_seconds(missing[0]))
        raise VideoError(spath, f"could not decode the frame at {t:.3f} s")
    return [got[int(p)] for p in pts_of]


def rate_times(
    duration_s: float, fps: float, start: float = 0.0, end: float | None = None
) -> np.ndarray:
    """Sample times of ``sample_rate``: ``start + k / fps`` for every one before ``end``."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError("fps must be a positive number")
    stop = duration_s if end is None else min(end, duration_s)
    start = max(0.0, start)
    if stop <= start:
        return np.zeros(0)
    n = math.ceil((stop - start) * fps - 1e-9)
    return start + np.arange(n, dtype=np.float64) / fps


def sample_rate(
    path: str | Path,
    fps: float,
    *,
    start: float = 0.0,
    end: float | None = None,
    max_side: int | None = None,
    decoder: str | None = None,
    workers: int | None = None,
) -> Iterator[Frame]:
    """Stream the frames on screen at ``start, start + 1/fps, ...`` (before ``end``), in order.

    One frame per sample time (a rate above the video's repeats frames).  Decoding runs ahead of
    the consumer (a background thread; FFmpeg frame threads use every core), so the consumer's
    work overlaps decoding.  With ``workers > 1`` keyframe-aligned intervals decode in worker
    processes instead, yielded in order while later ones still decode (default 1: faster on 2
    cores, see :func:`_auto_workers`).
    """
    info, index = probe_and_index(path)
    times = rate_times(info.duration_s, fps, start, end)
    if times.size == 0:
        return
    pts_of = _wanted(index, times)
    want = np.unique(pts_of)
    n_workers = _auto_workers(workers, float(times[-1] - times[0]))
    spath = str(path)
    frames = _frames_for(
        spath,
        index,
        info.rotation,
        want,
        max_side=max_side,
        decoder=resolve_decoder(decoder),
        workers=n_workers,
    )
    if n_workers == 1 and len(want) > PREFETCH_MIN_FRAMES:
        frames = _prefetch(frames)
    i = 0
    for pts, image, key in frames:
        frame = Frame(t=float(index.to_seconds(pts)), image=image, key=key)
        while i < len(pts_of) and pts_of[i] == pts:
            yield frame
            i += 1
    if i < len(pts_of):
        t = float(index.to_seconds(pts_of[i]))
        raise VideoError(spath, f"could not decode the frame at {t:.3f} s")


def keyframe_frames(
    path: str | Path, *, max_side: int | None = None, workers: int | None = None
) -> Iterator[Frame]:
    """The coarse pass: every keyframe, in order, decoding nothing else.

    Only keyframe packets are read and decoded; they are independent, so FFmpeg's frame threads
    keep every core busy in this one process.  ``workers`` is accepted for symmetry with
    :func:`sample_rate` but ignored: measured here, worker processes made this pass slower
    (start-up and moving frames between processes cost more than the ~0.3 s of decoding).
    """
    del workers
    info, index = probe_and_index(path)
    raw = _keyframes_pyav(str(path), index.key_pts, max_side=max_side, rotation=info.rotation)
    for pts, image, key in _prefetch(raw):
        if not isinstance(image, np.ndarray):
            image = _to_rgb(image, max_side, info.rotation)
        yield Frame(t=float(index.to_seconds(pts)), image=image, key=key)


def decode_interval(
    path: str | Path,
    start: float,
    end: float,
    fps: float | None = None,
    *,
    max_side: int | None = None,
) -> list[Frame]:
    """Zoom in: frames between ``start`` and ``end`` at ``fps`` (``None``: every native frame).

    Used to look closer at a chunk the coarse pass flagged; decoded in this process (an
    interval is short, so worker start-up would dominate).
    """
    if end <= start:
        raise ValueError("end must be after start")
    if fps is not None:
        return list(sample_rate(path, fps, start=start, end=end, max_side=max_side, workers=1))
    info, index = probe_and_index(path)
    t_all = index.to_seconds(index.pts)
    # every frame presented in [start, end), plus the one already on screen at start
    first = max(int(np.searchsorted(t_all, start + 1e-6, side="right")) - 1, 0)
    last = int(np.searchsorted(t_all, end - 1e-9, side="left"))
    want = index.pts[first : max(last, first + 1)]
    out = []
    for pts, image, key in _decode_pyav(
        str(path),
        want,
        index.key_pts,
        max_side=max_side,
        rotation=info.rotation,
        seek_gap=_seek_gap(index),
    ):
        out.append(Frame(t=float(index.to_seconds(pts)), image=image, key=key))
    return out
