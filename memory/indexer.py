"""Coarse indexing: decode every chunk's sample frames once and keep them in the store.

By default one process streams each run of missing chunks through the decoder, which decodes in
a background thread with FFmpeg's frame threads on every core, while this thread JPEG-encodes
frames and commits chunks: decoding overlaps with the downstream work.  With ``workers > 1``
batches of whole chunks decode in worker processes instead (each seeks to the keyframe before
its batch: the QuickVideo idea); measured on 2 cores that is slower, so it is opt-in.

Each chunk is committed in its own transaction as soon as its frames exist: a run killed at any
moment loses at most the frames in flight, and the next run decodes only the missing chunks.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidsleuth.errors import VideoError
from vidsleuth.memory.store import Store, VideoRecord, encode_jpeg
from vidsleuth.settings import Settings
from vidsleuth.tools.video.chunks import chunk_plan_for, plan_key

FrameRow = tuple[float, float, bool, bytes]


@dataclass
class IndexSummary:
    """What one ``vidsleuth index`` run did for one video (the ``--json`` output)."""

    video_id: str
    path: str
    duration_s: float
    plan: str
    chunks_total: int
    chunks_computed: int
    chunks_reused: int
    frames_decoded: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _die_with_parent() -> None:
    """Worker initializer: exit when the indexing process dies (even by ``kill -9``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def decode_batch(
    path: str, times: Sequence[float], max_side: int, decoder: str | None
) -> list[FrameRow]:
    """Decode the frames shown at ``times`` and JPEG-encode them (runs in a worker)."""
    from vidsleuth.tools.video import sample_frames

    frames = sample_frames(path, list(times), max_side=max_side, decoder=decoder)
    return [(tr, f.t, f.key, encode_jpeg(f.image)) for tr, f in zip(times, frames, strict=True)]


def index_video(
    store: Store,
    path: str | Path,
    settings: Settings,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    batch_chunks: int = 15,
) -> IndexSummary:
    """Index one video into ``store``: register it, then store every missing chunk.

    ``progress(done, total)`` is called after each stored chunk.  Bad input raises
    :class:`VideoError` before the store is touched.
    """
    t0 = time.perf_counter()
    record = store.register(path, full_hash=settings.full_hash)
    plan = chunk_plan_for(record, settings)
    key = plan_key(plan, settings)
    total = len(plan.chunks)
    with store.video_lock(record.video_id, on_wait=on_wait):
        done = store.done_chunk_ids(record.video_id, key)
        todo = [c for c in plan.chunks if c.id not in done]
        reused = total - len(todo)
        if progress:
            progress(reused, total)
        frames = _decode_and_store(
            store, record, key, todo, settings, progress, reused, total, batch_chunks
        )
    return IndexSummary(
        video_id=record.video_id,
        path=record.path,
        duration_s=record.probe.duration_s,
        plan=key,
        chunks_total=total,
        chunks_computed=len(todo),
        chunks_reused=reused,
        frames_decoded=frames,
        seconds=round(time.perf_counter() - t0, 3),
    )


def _decode_and_store(
    store: Store,
    record: VideoRecord,
    key: str,
    todo: list[Any],
    settings: Settings,
    progress: Callable[[int, int], None] | None,
    done: int,
    total: int,
    batch_chunks: int,
) -> int:
    if not todo:
        return 0
    batches = [todo[i : i + batch_chunks] for i in range(0, len(todo), batch_chunks)]
    decoder = None if settings.decoder == "auto" else settings.decoder
    path = record.path
    frames = 0

    def store_batch(chunks: list[Any], rows: list[FrameRow]) -> None:
        nonlocal done, frames
        by_time = {r[0]: r for r in rows}
        for c in chunks:
            store.put_chunk(record.video_id, key, c, [by_time[t] for t in c.sample_times])
            done += 1
            frames += len(c.sample_times)
            if progress:
                progress(done, total)

    def times_of(chunks: list[Any]) -> list[float]:
        return [t for c in chunks for t in c.sample_times]

    if settings.workers <= 1:
        # One process: the decoder streams frames from a background thread (FFmpeg's frame
        # threads use every core) while this thread JPEG-encodes and commits chunks.
        from vidsleuth.tools.video import sample_rate

        for run in _contiguous_runs(todo):
            frames_iter = sample_rate(
                path,
                settings.sample_fps,
                start=run[0].t_start,
                end=run[-1].t_end,
                max_side=settings.thumb_max_side,
                decoder=decoder,
                workers=1,
            )
            rows: list[FrameRow] = []
            chunk_iter = iter(run)
            current = next(chunk_iter)
            for frame in frames_iter:
                t_req = current.sample_times[len(rows)]
                rows.append((t_req, frame.t, frame.key, encode_jpeg(frame.image)))
                if len(rows) == len(current.sample_times):
                    store_batch([current], rows)
                    rows = []
                    current = next(chunk_iter, None)
                    if current is None:
                        break
            if current is not None:
                raise VideoError(path, f"decoding stopped before {current.t_start:.1f} s")
        return frames

    import multiprocessing as mp

    workers = min(settings.workers, len(batches))

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent) as pool:
        pending: dict[Future[list[FrameRow]], list[Any]] = {}
        queue = list(batches)
        # Keep one batch queued per worker beyond the running ones so decoding never waits on us.
        while queue or pending:
            while queue and len(pending) < workers * 2:
                b = queue.pop(0)
                fut = pool.submit(decode_batch, path, times_of(b), settings.thumb_max_side, decoder)
                pending[fut] = b
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                b = pending.pop(fut)
                try:
                    batch_rows = fut.result()
                except VideoError:
                    for other in pending:
                        other.cancel()
                    raise
                store_batch(b, batch_rows)
    return frames


def is_fully_indexed(store: Store, video_id: str, plan: Any, key: str) -> bool:
    """Whether every chunk of ``plan`` has its frames stored (a full index ran to the end):
    what the learned retriever needs, and what tells ``ask`` to skip its quick pass."""
    return len(store.done_chunk_ids(video_id, key)) >= len(plan.chunks)


def _contiguous_runs(chunks: list[Any]) -> list[list[Any]]:
    """Split chunks (in plan order) into runs of consecutive indices."""
    runs: list[list[Any]] = []
    for c in chunks:
        if runs and runs[-1][-1].index + 1 == c.index:
            runs[-1].append(c)
        else:
            runs.append([c])
    return runs
