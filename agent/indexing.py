"""Indexing on demand: everything the agent's first round reads, built once per video.

The coarse index is three layers, each cached and resumable: the chunk frames
(:func:`vidsleuth.memory.indexer.index_video`), coarse perception of every chunk
(:func:`vidsleuth.tools.perception.cache.perceive_video`, the perceivers in
``Settings.perceivers``) and the episodic chunk records built from those observations (what
``search_memory`` searches).  A second call finds every layer stored and does no work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidsleuth.settings import Settings
from vidsleuth.tools.perception.cache import stored_observations

Progress = Callable[[str, int, int], None]

__all__ = ["prepare_video", "stored_observations"]


def prepare_video(
    store: Any,
    path: str | Path,
    settings: Settings,
    memory: dict[str, Any] | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Index frames, perception and episodic memory of ``path``; return a summary."""
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.perception.registry import parse_names

    t0 = time.perf_counter()

    def frames_progress(done: int, total: int) -> None:
        if progress:
            progress("frames", done, total)

    summary = index_video(store, path, settings, progress=frames_progress)
    record = store.video(summary.video_id)
    plan = chunk_plan_for(record, settings)
    names = parse_names(settings.perceivers, settings)
    if not record.probe.has_audio:
        names = [n for n in names if n != "speech"]
    perceive_video(
        store,
        record,
        plan,
        names,
        progress,
        settings=settings,
        frames_plan=plan_key(plan, settings),
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
        "chunks": summary.chunks_total,
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
