"""Perception results in the store, keyed by perceiver name and version.

A unit (one chunk's frame, one window of audio) is written only after its perceiver finished it,
as one JSON list; tag features go in first and the observation list last, so the list is the
"done" marker and a run killed mid-unit leaves nothing that a later run would trust.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vidsleuth.tools.perception.types import Observation, Perceiver

if TYPE_CHECKING:
    from vidsleuth.memory.store import Store, VideoRecord
    from vidsleuth.settings import Settings
    from vidsleuth.tools.video import ChunkPlan, Frame

Progress = Callable[[str, int, int], None]


class FramePick(Protocol):
    """The frames a partial pass perceives: which chunks, and their frames on request.

    The quick first pass of ``ask`` perceives only some chunks (their keyframes), streamed from
    the decoder in chunk order so that a whole hour of frames is never held at once.
    """

    chunk_ids: frozenset[str]

    def __call__(self, chunks: Sequence[Any]) -> dict[str, Frame]: ...


def features_key(key: str) -> str:
    return f"features/{key}"


def perceive_cached(
    store: Store,
    video_id: str,
    perceiver: Perceiver,
    key: str,
    frames: Sequence[Frame] | None = None,
    *,
    path: str | Path | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> tuple[list[Observation], bool]:
    """Observations of one unit, from the store when present; returns ``(obs, reused)``.

    Frame perceivers take ``frames`` (a callable is not needed: pass the frames of the unit);
    timeline perceivers take ``path`` and ``[start, end)``.  The tag perceiver also stores the
    per-frame pooled features under ``features/<key>``.
    """
    name, version = perceiver.name, perceiver.version
    cached = store.get_json(video_id, name, version, key)
    if cached is not None:
        return [Observation.model_validate(o) for o in cached], True
    if perceiver.modality == "frames":
        if frames is None:
            raise ValueError(f"{name} needs frames")
        with_features = getattr(perceiver, "perceive_frames_with_features", None)
        if with_features is not None:
            obs, feats = with_features(frames)
            store.put_array(
                video_id, name, version, features_key(key), np.asarray(feats, np.float32)
            )
        else:
            obs = perceiver.perceive_frames(frames)
    else:
        if path is None:
            raise ValueError(f"{name} needs the video path")
        obs = perceiver.perceive_audio(path, start, end)
    store.put_json(video_id, name, version, key, [o.model_dump(mode="json") for o in obs])
    return obs, False


def chunk_frame_time(chunk: Any) -> float:
    """The coarse level's one frame per chunk: its middle sample (or its middle time)."""
    times = tuple(getattr(chunk, "sample_times", ()) or ())
    if times:
        return float(times[len(times) // 2])
    return (float(chunk.t_start) + float(chunk.t_end)) / 2


def perceive_video(
    store: Store,
    record: VideoRecord,
    chunk_plan: ChunkPlan,
    names: Sequence[str],
    progress: Progress | None = None,
    *,
    settings: Settings | None = None,
    frames_plan: str | None = None,
    batch: int = 16,
    pick: FramePick | None = None,
) -> dict[str, Any]:
    """Run ``names`` over a video at the coarse level and store every unit.

    Frame perceivers see one frame per chunk (the chunk's middle sample), taken from the store's
    cached frames of ``frames_plan`` when present, else decoded; timeline perceivers (speech,
    subtitles) cover the whole duration in windows of ``settings.speech_window_s``.  Units
    already stored under the same version are reused.  ``progress(name, done, total)`` is called
    after each unit.  Returns a summary (per perceiver: units computed/reused, observations,
    seconds, problems; ``units_similar``: computed units that copied the result of an
    unchanged earlier frame instead of running the model).  Frame perceivers work a group of
    ``batch`` chunks at a time (tags in one batched forward pass).  With ``pick``, frame and
    unit perceivers see only the picked chunks, one picked frame each (the quick pass); their
    units are stored under the same keys, so a later full pass computes only the rest.
    """
    from vidsleuth.settings import Settings
    from vidsleuth.tools.perception.registry import parse_names

    s = settings or Settings()
    names = parse_names(list(names))
    video_id, path = record.video_id, record.path
    summary: dict[str, Any] = {"video_id": video_id, "perceivers": {}}
    frame_names = [n for n in names if make(n, s).modality == "frames"]
    timeline_names = [n for n in names if n not in frame_names]
    # Perceivers that see several frames of a chunk at once (the VLM caption): their own pass.
    unit_names = [n for n in frame_names if hasattr(make(n, s), "perceive_units")]
    frame_names = [n for n in frame_names if n not in unit_names]

    if pick is not None:
        chunk_plan = replace(
            chunk_plan, chunks=[c for c in chunk_plan.chunks if c.id in pick.chunk_ids]
        )
    if frame_names:
        chunks = list(chunk_plan.chunks)
        perceivers = {n: make(n, s) for n in frame_names}
        stats = {n: _new_stats(p) for n, p in perceivers.items()}
        memos: dict[str, Any] = {}
        frames_s = 0.0
        for i in range(0, len(chunks), batch):
            group = chunks[i : i + batch]
            todo = {
                n: [c for c in group if store.get_json(video_id, n, p.version, c.id) is None]
                for n, p in perceivers.items()
            }
            needed = {c.id for cs in todo.values() for c in cs}
            t0 = time.perf_counter()
            wanted = [c for c in group if c.id in needed]
            frames = pick(wanted) if pick else _frames_for(store, record, wanted, frames_plan, s)
            frames_s += time.perf_counter() - t0
            for n, p in perceivers.items():
                t0 = time.perf_counter()
                st = stats[n]
                for c in group:
                    if c not in todo[n]:
                        cached = store.get_json(video_id, n, p.version, c.id) or []
                        _count(st, [Observation.model_validate(o) for o in cached], True)
                for _c, obs, reused_from in _perceive_group(
                    store, video_id, p, todo[n], frames, memos
                ):
                    _count(st, obs, False)
                    if reused_from is not None:
                        st["units_similar"] += 1
                    if progress:
                        progress(n, st["units_computed"] + st["units_reused"], len(chunks))
                if progress and not todo[n]:
                    progress(n, st["units_computed"] + st["units_reused"], len(chunks))
                st["seconds"] += time.perf_counter() - t0
        summary["perceivers"].update(stats)
        summary["frames_seconds"] = round(frames_s, 3)

    for n in unit_names:
        summary["perceivers"][n] = _perceive_units(
            store, record, chunk_plan, make(n, s), s, frames_plan, progress, pick
        )

    duration = float(record.probe.duration_s or 0.0)
    window = s.speech_window_s
    starts = [k * window for k in range(max(1, int(np.ceil(duration / window))))]
    for n in timeline_names:
        p = make(n, s)
        st = _new_stats(p)
        t0 = time.perf_counter()
        units = starts if n == "speech" else [0.0]
        for k, a in enumerate(units):
            b = min(duration, a + window) if n == "speech" else None
            key = f"{a:.0f}-{b:.0f}" if b is not None else _sources_key(p, path)
            obs, reused = perceive_cached(store, video_id, p, key, path=path, start=a, end=b)
            _count(st, obs, reused)
            if progress:
                progress(n, k + 1, len(units))
        st["seconds"] += time.perf_counter() - t0
        summary["perceivers"][n] = st
    for st in summary["perceivers"].values():
        st["seconds"] = round(st["seconds"], 3)
    return summary


def _perceive_units(
    store: Store,
    record: VideoRecord,
    chunk_plan: ChunkPlan,
    perceiver: Any,
    settings: Settings,
    frames_plan: str | None,
    progress: Progress | None,
    pick: FramePick | None = None,
) -> dict[str, Any]:
    """Coarse pass of a multi-frame perceiver: ``frames_per_unit`` frames of every chunk not yet
    stored, ``unit_batch`` chunks per call, each chunk stored the moment its result arrives (a
    run killed in the middle keeps every finished chunk; the next run asks only for the rest).

    A unit whose reply is unusable is not stored and becomes a problem line; when the first
    replies all fail, the pass stops with one :class:`ModelError` instead of asking hundreds
    more times.
    """
    from vidsleuth.errors import ModelError

    name, version, video_id = perceiver.name, perceiver.version, record.video_id
    st = _new_stats(perceiver)
    st["units_failed"] = 0
    chunks = list(chunk_plan.chunks)
    t0 = time.perf_counter()
    todo = []
    for c in chunks:
        cached = store.get_json(video_id, name, version, c.id)
        if cached is None:
            todo.append(c)
        else:
            _count(st, [Observation.model_validate(o) for o in cached], True)
    if progress:
        progress(name, st["units_reused"], len(chunks))
    frames_s = 0.0
    first_problem: str | None = None
    step = max(1, int(getattr(perceiver, "unit_batch", 16)))
    for i in range(0, len(todo), step):
        group = todo[i : i + step]
        t1 = time.perf_counter()
        if pick is not None:
            frames = {k: [f] for k, f in pick(group).items()}
        else:
            frames = _unit_frames_for(
                store, record, group, frames_plan, settings, perceiver.frames_per_unit
            )
        frames_s += time.perf_counter() - t1

        def on_unit(
            k: int, obs: list[Observation] | None, problem: str | None, group: list = group
        ) -> None:
            nonlocal first_problem
            c = group[k]
            if obs is None:
                st["units_failed"] += 1
                first_problem = first_problem or problem
                if problem and len(st["problems"]) < 20:
                    st["problems"].append(problem)
                return
            store.put_json(video_id, name, version, c.id, [o.model_dump(mode="json") for o in obs])
            _count(st, obs, False)
            if progress:
                progress(name, st["units_computed"] + st["units_reused"], len(chunks))

        perceiver.perceive_units(
            [(c.t_start, c.t_end, frames.get(c.id, [])) for c in group], on_unit
        )
        if st["units_computed"] == 0 and st["units_failed"] >= min(len(todo), 8):
            raise ModelError(
                f"{name}: the first {st['units_failed']} requests all failed, stopping "
                f"(nothing half-stored; a later run resumes): {first_problem}"
            )
    st["seconds"] = time.perf_counter() - t0
    st["frames_seconds"] = round(frames_s, 3)
    return st


def _unit_frames_for(
    store: Store,
    record: VideoRecord,
    chunks: Sequence[Any],
    frames_plan: str | None,
    settings: Settings,
    per_unit: int,
) -> dict[str, list[Frame]]:
    """Up to ``per_unit`` frames of each chunk, evenly spread over its sample times: the
    store's cached frames of ``frames_plan`` when present, else decoded."""
    from vidsleuth.tools.perception.caption import spread

    out: dict[str, list[Frame]] = {}
    want: dict[str, list[float]] = {}
    for c in chunks:
        times = list(getattr(c, "sample_times", ()) or ()) or [chunk_frame_time(c)]
        want[c.id] = spread(times, per_unit)
        if frames_plan is not None:
            cached = store.frames(record.video_id, frames_plan, c.t_start - 1e-6, c.t_end)
            if cached:
                out[c.id] = spread(cached, per_unit)
    missing = [c for c in chunks if c.id not in out]
    if missing:
        from vidsleuth.tools.video import sample_frames

        flat = [t for c in missing for t in want[c.id]]
        decoded = sample_frames(
            record.path, flat, max_side=settings.perception_max_side, decoder=settings.decoder
        )
        k = 0
        for c in missing:
            n = len(want[c.id])
            out[c.id] = list(decoded[k : k + n])
            k += n
    return out


def reuse_producer(name: str) -> str:
    """Where a perceiver records which units copied an unchanged earlier frame's result."""
    return f"{name}:reused"


def _perceive_group(
    store: Store,
    video_id: str,
    perceiver: Perceiver,
    chunks: Sequence[Any],
    frames: dict[str, Frame],
    memos: dict[str, Any],
) -> list[tuple[Any, list[Observation], float | None]]:
    """Perceive the chunks of one group in as few model calls as the perceiver allows and store
    each chunk's unit; returns ``(chunk, observations, reused_from_t)`` per chunk.

    Tags run one batched forward over every frame of the group; OCR walks the frames in order
    and copies the result of an unchanged frame (recorded under :func:`reuse_producer`);
    other perceivers take the frames one call per chunk.
    """
    name, version = perceiver.name, perceiver.version
    chunks = [c for c in chunks if c.id in frames]
    if not chunks:
        return []
    out: list[tuple[Any, list[Observation], float | None]] = []
    with_features = getattr(perceiver, "perceive_frames_with_features", None)
    sequence = getattr(perceiver, "perceive_sequence", None)
    if with_features is not None:
        group_frames = [frames[c.id] for c in chunks]
        obs, feats = with_features(group_frames)
        for k, (c, f) in enumerate(zip(chunks, group_frames, strict=True)):
            mine = [o for o in obs if o.t_start == f.t]
            store.put_array(
                video_id,
                name,
                version,
                features_key(c.id),
                np.asarray(feats[k : k + 1], np.float32),
            )
            out.append((c, mine, None))
    elif sequence is not None:
        memo = memos.setdefault(name, None)
        if memo is None:
            from vidsleuth.tools.perception.ocr import OcrMemo

            memo = memos[name] = OcrMemo()
        results = sequence([frames[c.id] for c in chunks], memo)
        for c, (obs, reused_from) in zip(chunks, results, strict=True):
            if reused_from is not None:
                store.put_json(
                    video_id, reuse_producer(name), version, c.id, {"from_t": reused_from}
                )
            out.append((c, obs, reused_from))
    else:
        out = [(c, perceiver.perceive_frames([frames[c.id]]), None) for c in chunks]
    for c, obs, _ in out:
        store.put_json(video_id, name, version, c.id, [o.model_dump(mode="json") for o in obs])
    return out


def _sources_key(perceiver: Perceiver, path: str) -> str:
    """Subtitles depend on sidecar files that can change: key on their names, sizes and mtimes."""
    from vidsleuth.versions import version_of

    sources: list[Any] = getattr(perceiver, "sources", lambda _p: [])(path)
    stamp = []
    for f in sources:
        try:
            st = Path(f).stat()
            stamp.append((str(f), st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((str(f), -1, -1))
    return f"all-{version_of(files=stamp)}"


def make(name: str, settings: Settings) -> Perceiver:
    from vidsleuth.tools.perception.registry import make_perceiver

    return make_perceiver(name, settings)


def _new_stats(p: Perceiver) -> dict[str, Any]:
    return {
        "version": p.version,
        "units_computed": 0,
        "units_reused": 0,
        "units_similar": 0,
        "observations": 0,
        "seconds": 0.0,
        "problems": [],
    }


def _count(st: dict[str, Any], obs: list[Observation], reused: bool) -> None:
    st["units_reused" if reused else "units_computed"] += 1
    st["observations"] += sum(o.kind != "problem" for o in obs)
    st["problems"] += [o.text for o in obs if o.kind == "problem"][
        : max(0, 20 - len(st["problems"]))
    ]


def _frames_for(
    store: Store,
    record: VideoRecord,
    chunks: Sequence[Any],
    frames_plan: str | None,
    settings: Settings,
) -> dict[str, Frame]:
    """One frame per chunk: the stored thumbnail when indexing cached it, else decoded."""
    if not chunks:
        return {}
    out: dict[str, Frame] = {}
    want = {c.id: chunk_frame_time(c) for c in chunks}
    if frames_plan is not None:
        for c in chunks:
            t = want[c.id]
            cached = store.frames(record.video_id, frames_plan, t - 1e-6, t + 1e-3)
            if cached:
                out[c.id] = cached[0]
    missing = [c for c in chunks if c.id not in out]
    if missing:
        from vidsleuth.tools.video import sample_frames

        decoded = sample_frames(
            record.path,
            [want[c.id] for c in missing],
            max_side=settings.perception_max_side,
            decoder=settings.decoder,
        )
        out.update({c.id: f for c, f in zip(missing, decoded, strict=True)})
    return out


def stored_observations(
    store: Any, video_id: str, names: list[str], settings: Settings
) -> list[Any]:
    """Every coarse observation of ``names`` stored for a video (problems left out)."""
    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.perception.types import Observation

    out: list[Observation] = []
    for n in names:
        p = make_perceiver(n, settings)
        for key in store.keys(video_id, p.name, p.version):
            if key.startswith("features/"):
                continue
            for o in store.get_json(video_id, p.name, p.version, key) or []:
                obs = Observation.model_validate(o)
                if obs.kind != "problem":
                    out.append(obs)
    return out
