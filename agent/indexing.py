"""Indexing on demand: everything the agent's first round reads, built once per video.

The full coarse index is three layers, each cached and resumable: the chunk frames
(:func:`vidsleuth.memory.indexer.index_video`), coarse perception of every chunk
(:func:`vidsleuth.tools.perception.cache.perceive_video`, the perceivers in
``Settings.perceivers``) and the episodic chunk records built from those observations (what
``search_memory`` searches).  A second call finds every layer stored and does no work.

Coarse to fine applies to perception too.  Decoding every chunk's frames of an hour of video
costs minutes on two cores; its keyframes cost seconds, and encoders place keyframes on scene
cuts, where something new appears.  So the *quick* pass (``ask`` on a video not indexed yet)
perceives the keyframes (at most ``quick_max_frames``, plus a frame wherever keyframes are more
than ``quick_max_gap_s`` apart) and the whole audio, and writes memory from that; the look and
zoom tools then decode and perceive densely only the spans the question leads to, caching what
they compute under the same keys, so a later full ``index`` computes only what is still missing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.settings import Settings
from vidsleuth.tools.perception.cache import stored_observations

Progress = Callable[[str, int, int], None]

__all__ = ["prepare_video", "quick_pick", "stored_observations"]


def prepare_video(
    store: Any,
    path: str | Path,
    settings: Settings,
    memory: dict[str, Any] | None,
    progress: Progress | None = None,
    *,
    mode: str = "full",
) -> dict[str, Any]:
    """Index frames, perception and episodic memory of ``path``; return a summary.

    ``mode="quick"`` runs the quick pass (see the module docstring) unless the video is already
    fully indexed or short (no more chunks than the quick pass's frame cap); the summary says
    which ran (``mode``) and what was computed.
    """
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, is_fully_indexed, plan_key
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.perception.registry import parse_names

    t0 = time.perf_counter()
    record = store.register(path, full_hash=settings.full_hash)
    plan = chunk_plan_for(record, settings)
    key = plan_key(plan, settings)
    # A video of at most ``quick_max_frames`` chunks is indexed fully: perceiving all of its
    # chunks costs about what the quick pass would spend at its cap.
    quick = (
        mode == "quick"
        and len(plan.chunks) > settings.quick_max_frames
        and not is_fully_indexed(store, record.video_id, plan, key)
    )
    frames_computed = 0
    if not quick:

        def frames_progress(done: int, total: int) -> None:
            if progress:
                progress("frames", done, total)

        frames_computed = index_video(
            store, path, settings, progress=frames_progress
        ).chunks_computed
    names = parse_names(settings.perceivers, settings)
    if not record.probe.has_audio:
        names = [n for n in names if n != "speech"]
    pick = quick_pick(store, record, plan, settings) if quick else None
    perceived = perceive_video(
        store,
        record,
        plan,
        names,
        progress,
        settings=settings,
        frames_plan=None if quick else key,
        pick=pick,
    )
    written = entities = visual = 0
    if memory is not None:
        obs = stored_observations(store, record.video_id, names, settings)
        spans = [(c.t_start, c.t_end) for c in plan.chunks]
        _, written = memory["episodic"].write_chunks(record.video_id, obs, spans)
        if "semantic" in memory:
            entities = memory["semantic"].add_observations(record.video_id, obs)
        if "tags" in names and "chroma" in memory:
            visual = write_visual_memory(store, memory["chroma"], record.video_id, plan, settings)
    return {
        "video_id": record.video_id,
        "mode": "quick" if quick else "full",
        "chunks": len(plan.chunks),
        "frames_computed": frames_computed,
        "chunks_perceived": len(pick.chunk_ids) if pick is not None else len(plan.chunks),
        "units_computed": {
            n: int(st.get("units_computed", 0)) for n, st in perceived["perceivers"].items()
        },
        "memory_records_written": written,
        "entities": entities,
        "visual_records_written": visual,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def write_visual_memory(
    store: Any, chroma: Any, video_id: str, plan: Any, settings: Settings
) -> int:
    """Copy the tag perceiver's pooled chunk features into visual memory (one vector a chunk).

    The features are already computed and cached by coarse perception, so this costs no model
    call; visual memory makes them searchable by an example frame.
    """
    import numpy as np

    from vidsleuth.memory.visual import VisualMemory
    from vidsleuth.tools.perception.cache import features_key
    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.perception.tags import EfficientNetEmbedder, chunk_feature

    tags = make_perceiver("tags", settings)
    spans, vectors = [], []
    for c in plan.chunks:
        feats = store.get_array(video_id, tags.name, tags.version, features_key(c.id))
        if feats is not None and len(feats):
            spans.append((c.t_start, c.t_end))
            vectors.append(chunk_feature(feats))
    if not vectors:
        return 0
    visual = VisualMemory(chroma, EfficientNetEmbedder())
    return int(
        visual.add_vectors(video_id, spans, np.stack(vectors), level="chunk", version=tags.version)
    )


def quick_pick(store: Any, record: Any, plan: Any, settings: Settings) -> _KeyframePick:
    """The chunks the quick pass perceives, one frame each: the first keyframe inside a chunk,
    at most ``quick_max_frames`` of them spread evenly over the video, plus the middle of every
    gap longer than ``quick_max_gap_s`` (a video with rare keyframes still gets looked at)."""
    from vidsleuth.tools.video import packet_index

    index = packet_index(record.path)
    key_times = sorted(float(t) for t in index.to_seconds(index.key_pts))
    first: dict[str, float] = {}
    for t in key_times:
        first.setdefault(plan.chunk_at(t).id, t)
    items = sorted(first.items(), key=lambda kv: kv[1])
    limit = settings.quick_max_frames
    if len(items) > limit:
        keep = sorted({round(x) for x in np.linspace(0, len(items) - 1, limit)})
        items = [items[k] for k in keep]
    chosen = dict(items)
    keyframes = set(chosen)
    edges = [0.0, *sorted(chosen.values()), float(record.probe.duration_s or 0.0)]
    gap = settings.quick_max_gap_s
    for a, b in itertools.pairwise(edges):
        n = int((b - a) // gap)
        for k in range(1, n + 1):
            c = plan.chunk_at(a + k * (b - a) / (n + 1))
            chosen.setdefault(c.id, (c.t_start + c.t_end) / 2)
    return _KeyframePick(record, chosen, keyframes, settings)


class _KeyframePick:
    """The quick pass's frames: chosen keyframes (and gap fillers), streamed in time order.

    Perception asks for groups of chunks in plan order; frames are pulled from one decoder
    stream until the group is complete, so only a group's frames are held at a time.  A request
    for an earlier chunk (a second perceiver pass) starts a new stream.
    """

    def __init__(
        self, record: Any, chosen: dict[str, float], keyframes: set[str], settings: Settings
    ) -> None:
        self.chunk_ids = frozenset(chosen)
        self._record = record
        self._times = dict(chosen)
        self._keyframes = keyframes
        self._settings = settings
        self._stream: Any = None
        self._last_t = float("inf")
        self._ahead: tuple[str, Any] | None = None

    def _frames(self, start: float) -> Any:
        """Chosen frames from ``start`` on as ``(chunk_id, frame)`` in time order: keyframes
        from the keyframe-only decoder, gap fillers (not keyframes) by exact sampling."""
        import heapq

        from vidsleuth.tools.video import keyframe_frames, sample_frames

        s = self._settings
        key_ids = {round(t, 3): c for c, t in self._times.items() if c in self._keyframes}
        keys = (
            (key_ids[round(f.t, 3)], f)
            for f in keyframe_frames(self._record.path, max_side=s.perception_max_side)
            if round(f.t, 3) in key_ids and f.t >= start - 1e-6
        )
        fill = sorted(
            (t, c) for c, t in self._times.items() if c not in self._keyframes and t >= start
        )
        frames = (
            sample_frames(
                self._record.path,
                [t for t, _ in fill],
                max_side=s.perception_max_side,
                decoder=None if s.decoder == "auto" else s.decoder,
            )
            if fill
            else []
        )
        fills = ((c, f) for (_, c), f in zip(fill, frames, strict=True))
        return heapq.merge(keys, fills, key=lambda cf: cf[1].t)

    def __call__(self, chunks: Any) -> dict[str, Any]:
        want = {c.id: c for c in chunks if c.id in self.chunk_ids}
        if not want:
            return {}
        first = min(self._times[c] for c in want)
        if self._stream is None or first < self._last_t:
            self._stream, self._ahead = iter(self._frames(first)), None
        last_end = max(c.t_end for c in want.values())
        out: dict[str, Any] = {}
        while len(out) < len(want):
            item = self._ahead or next(self._stream, None)
            self._ahead = None
            if item is None:
                break
            cid, frame = item
            self._last_t = frame.t
            if frame.t >= last_end:
                self._ahead = item  # the next group's first frame
                break
            if cid in want:
                out[cid] = frame
        return out


def prepare_line(info: dict[str, Any]) -> str:
    """One line saying what indexing on demand did: nothing (all cached) or what it computed."""
    computed = {n: k for n, k in info.get("units_computed", {}).items() if k}
    frames = int(info.get("frames_computed", 0))
    chunks = int(info.get("chunks", 0))
    if not computed and not frames and not info.get("memory_records_written"):
        return f"index: {chunks} chunks, all cached"
    parts = [f"frames of {frames} chunks"] if frames else []
    parts += [f"{n} {k}" for n, k in computed.items()]
    if info.get("memory_records_written"):
        parts.append(f"{info['memory_records_written']} memory records")
    how = (
        f"quick pass over {info.get('chunks_perceived', 0)} of {chunks} chunks "
        "(dense perception where the question leads; `vidsleuth index --perceive all` for all)"
        if info.get("mode") == "quick"
        else f"{chunks} chunks"
    )
    return f"index: {how}; computed {', '.join(parts) or 'nothing new'} in {info['seconds']:.1f}s"
