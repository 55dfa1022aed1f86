"""Building :class:`VideoFeatures` from the store, and computing what is missing on request.

Visual features are EfficientNet-Lite0 pooled vectors of every cached sample frame (1 fps), kept
per frame so a chunk's feature is the mean of its frames and frames inside a chosen chunk can be
ranked by the question.  They live in the store under producer ``retrieval.visual`` (one array per
chunk plan).  When only the perception layer's coarse features exist (``vidsleuth index
--perceive tags``: one frame per chunk, producer ``tags``) those are used instead; same extractor,
fewer frames.  Text memory per chunk is the observation text of every perceiver that stored
something for the chunk (OCR, objects, tags, speech) plus the frames' top ImageNet labels,
embedded with the configured text embedder (MiniLM by default) and cached too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.tools.retrieval.base import ChunkSpan, FeatureError, VideoFeatures
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.memory.store import Store, StoredChunk, VideoRecord
    from vidsleuth.settings import Settings

VISUAL_PRODUCER = "retrieval.visual"
TEXT_PRODUCER = "retrieval.text"
TAG_MIN_SCORE = 0.1
TAGS_PER_FRAME = 3
_OBS_PERCEIVERS = ("ocr", "objects", "tags", "speech", "subtitles", "caption")


def frame_extractor_id() -> str:
    """Names the per-frame model and its weights (the stored per-frame features' identity)."""
    from vidsleuth.tools.perception.tags import EFFICIENTNET_LITE0, EMBEDDER_ID

    return f"{EMBEDDER_ID}@{EFFICIENTNET_LITE0.sha256[:12]}"


COLOUR_ID = "hsv15"
COLOUR_BINS = 15  # 12 hue sectors of coloured pixels, then black, grey and white


def visual_extractor_id() -> str:
    """Names the chunk features: the frame model plus the pooling (mean+max over frames), and the
    colour histogram appended to them."""
    return f"{frame_extractor_id()}+meanmax+{COLOUR_ID}"


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """The share of a frame's pixels in 12 hue sectors (saturated pixels) and black/grey/white.

    ImageNet features are trained to be colour-invariant (colour jitter is part of their
    augmentation), so "when does the screen turn red" or "the man in the green coat" needs colour
    from somewhere else; a hue histogram is the classic, model-free answer.  Every fourth pixel
    in each direction is enough for shares of the frame.
    """
    x = np.asarray(image)[::4, ::4, :3].reshape(-1, 3).astype(np.float32) / 255.0
    mx, mn = x.max(axis=1), x.min(axis=1)
    delta = mx - mn
    sat = delta / np.maximum(mx, 1e-6)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    d = np.maximum(delta, 1e-6)
    hue = np.where(
        mx == r, ((g - b) / d) % 6.0, np.where(mx == g, (b - r) / d + 2.0, (r - g) / d + 4.0)
    )  # in [0, 6)
    hue_bin = np.minimum((hue * 2.0).astype(np.int64), 11)  # 12 sectors of 30 degrees
    achromatic = (sat < 0.25) | (mx < 0.2)
    grey_bin = np.where(mx < 0.25, 12, np.where(mx > 0.75, 14, 13))
    bins = np.where(achromatic, grey_bin, hue_bin)
    hist = np.bincount(bins, minlength=COLOUR_BINS).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


def frame_colours(
    store: Store, video_id: str, plan: str, group: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """``(times, histograms (m, 15))`` of every cached frame of ``plan``; computed once, stored.

    Frames are read from the store a group at a time (an hour at 1 fps is 3,600 frames, too many
    to hold decoded at once).
    """
    version = version_of(colour=COLOUR_ID, plan=plan)
    arr = store.get_array(video_id, VISUAL_PRODUCER, version, "colours")
    meta = store.get_json(video_id, VISUAL_PRODUCER, version, "colour_times")
    if arr is not None and meta is not None:
        return np.asarray(meta, np.float64), arr.astype(np.float32).reshape(-1, COLOUR_BINS)
    chunks = store.chunks(video_id, plan)
    times: list[float] = []
    hists: list[np.ndarray] = []
    step = max(1, group // 4)
    for i in range(0, len(chunks), step):
        part = chunks[i : i + step]
        for fr in store.frames(video_id, plan, part[0].t_start, part[-1].t_end):
            times.append(fr.t)
            hists.append(colour_histogram(fr.image))
    out = np.stack(hists) if hists else np.zeros((0, COLOUR_BINS), np.float32)
    store.put_json(video_id, VISUAL_PRODUCER, version, "colour_times", times)
    store.put_array(video_id, VISUAL_PRODUCER, version, "colours", out.astype(np.float16))
    return np.asarray(times, np.float64), out


def _visual_version(plan: str) -> str:
    return version_of(
        extractor=frame_extractor_id(), plan=plan, tags=(TAGS_PER_FRAME, TAG_MIN_SCORE)
    )


def featurize_video(
    store: Store,
    record: VideoRecord,
    plan: str,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 32,
) -> bool:
    """Compute and store per-frame visual features and top tags of every cached frame of ``plan``.

    Returns False when they were already stored (nothing computed).  Frames come from the store
    (``vidsleuth index`` cached them), so no video is decoded here.
    """
    from vidsleuth.tools.perception.tags import imagenet_labels, lite0_forward, load_lite0

    version = _visual_version(plan)
    if store.get_array(record.video_id, VISUAL_PRODUCER, version, "frames") is not None:
        return False
    chunks = store.chunks(record.video_id, plan)
    if not chunks:
        raise FeatureError(
            f"video {record.video_id} has no cached frames for chunk plan {plan}: "
            f"run `vidsleuth index {record.path}` first"
        )
    model = load_lite0()
    labels = imagenet_labels()
    feats: list[np.ndarray] = []
    tags: list[list[str]] = []
    times: list[float] = []
    for i in range(0, len(chunks), max(1, batch // 4)):
        group = chunks[i : i + max(1, batch // 4)]
        frames = store.frames(record.video_id, plan, group[0].t_start, group[-1].t_end)
        if not frames:
            continue
        f, p = lite0_forward(model, [fr.image for fr in frames], batch_size=batch)
        feats.append(f.astype(np.float16))
        for row in p:
            top = np.argsort(-row)[:TAGS_PER_FRAME]
            tags.append([labels[j] for j in top if row[j] >= TAG_MIN_SCORE])
        times.extend(fr.t for fr in frames)
        if progress:
            progress(min(len(chunks), i + len(group)), len(chunks))
    arr = np.concatenate(feats) if feats else np.zeros((0, 1280), np.float16)
    store.put_json(
        record.video_id, VISUAL_PRODUCER, version, "tags", {"times": times, "tags": tags}
    )
    store.put_array(record.video_id, VISUAL_PRODUCER, version, "frames", arr)
    return True


def pool_frames(frames: np.ndarray) -> np.ndarray:
    """A chunk's visual feature from its frames' features: ``[mean; max]`` over the frames.

    The mean is the chunk's content; the max keeps an event that lasts one frame of four (a
    one-second flash) from being averaged away.  A single frame is its own ``[f; f]`` (how a
    frame is scored on its own, and what the coarse one-frame-per-chunk features give).
    """
    return np.concatenate([frames.mean(axis=0), frames.max(axis=0)]).astype(np.float32)


def _frame_rows(
    chunks: Sequence[StoredChunk], times: Sequence[float] | np.ndarray
) -> list[np.ndarray]:
    """Row indices of each chunk's frames in the per-frame array (frames are in time order)."""
    t = np.asarray(times, dtype=np.float64)
    return [np.nonzero((t >= c.t_start - 1e-3) & (t < c.t_end - 1e-6))[0] for c in chunks]


def load_video_features(
    store: Store,
    video_id: str,
    plan: str,
    settings: Settings | None = None,
    *,
    text_embedder: Any = None,
    with_text: bool = True,
) -> VideoFeatures:
    """The :class:`VideoFeatures` of a video from what the store holds.

    Raises :class:`FeatureError` (one clear line naming the video and the extractor, and the
    command that computes them) when the video has no features, and on NaNs in them.
    """
    from vidsleuth.tools.perception.cache import features_key

    record = store.video(video_id)
    if record is None:
        raise FeatureError(
            f"video {video_id} is not in the store {store.root}: run `vidsleuth index` on it"
        )
    stored = store.chunks(video_id, plan)
    if not stored:
        raise FeatureError(
            f"video {video_id} has no chunks for plan {plan}: run `vidsleuth index {record.path}`"
        )
    extractor = visual_extractor_id()
    version = _visual_version(plan)
    frames = store.get_array(video_id, VISUAL_PRODUCER, version, "frames")
    chunk_texts: list[list[str]] = [[] for _ in stored]
    frame_visual: dict[int, np.ndarray] = {}
    if frames is not None:
        meta = store.get_json(video_id, VISUAL_PRODUCER, version, "tags") or {
            "times": [],
            "tags": [],
        }
        rows = _frame_rows(stored, meta["times"])
        frames32 = frames.astype(np.float32)
        visual = np.zeros((len(stored), 2 * frames.shape[1]), np.float32)
        for i, r in enumerate(rows):
            if len(r) == 0:
                raise FeatureError(
                    f"video {video_id}: chunk {stored[i].chunk_id} has no frame features"
                )
            visual[i] = pool_frames(frames32[r])
            frame_visual[i] = np.concatenate([frames32[r], frames32[r]], axis=1)
            for j in r:
                chunk_texts[i].extend(meta["tags"][j])
    else:
        coarse = _coarse_tag_features(store, video_id, stored, settings, features_key)
        if coarse is None:
            raise FeatureError(
                f"video {video_id} has no features for extractor {extractor}: run "
                f"`vidsleuth index --perceive tags {record.path}` or "
                f"`vidsleuth retriever featurize {record.path}`"
            )
        visual = coarse
    ctimes, colours = frame_colours(store, video_id, plan)
    crow = _frame_rows(stored, ctimes)
    chunk_colour = np.zeros((len(stored), 2 * COLOUR_BINS), np.float32)
    for i, r in enumerate(crow):
        if len(r):
            chunk_colour[i] = pool_frames(colours[r])
        fv = frame_visual.get(i)
        if fv is not None:  # the same cached frames, so the same rows (else: no frame ranking)
            if len(r) == len(fv):
                frame_visual[i] = np.concatenate([fv, colours[r], colours[r]], axis=1)
            else:
                del frame_visual[i]
    visual = np.concatenate([visual, chunk_colour], axis=1)
    _add_observation_text(store, video_id, stored, chunk_texts, settings)
    texts = [", ".join(dict.fromkeys(t)) for t in chunk_texts]
    text = text_id = obs_vectors = obs_pairs = None
    if with_text:
        embedder = text_embedder or default_text_embedder(settings)
        text, text_id = _text_vectors(store, video_id, texts, embedder, "chunks")
        obs = sorted({t for ts in chunk_texts for t in ts if t})
        where = {t: j for j, t in enumerate(obs)}
        obs_pairs = np.array(
            sorted({(i, where[t]) for i, ts in enumerate(chunk_texts) for t in ts if t}),
            np.int64,
        ).reshape(-1, 2)
        obs_vectors, _ = _text_vectors(store, video_id, obs, embedder, "observations")
    return VideoFeatures(
        video_id=video_id,
        chunks=[ChunkSpan(c.chunk_id, c.index, c.t_start, c.t_end, c.frame_times) for c in stored],
        visual=visual,
        visual_extractor=extractor,
        text=text,
        text_extractor=text_id,
        chunk_texts=texts,
        frame_visual=frame_visual,
        duration_s=float(record.probe.duration_s or stored[-1].t_end),
        obs_vectors=obs_vectors,
        obs_pairs=obs_pairs,
        colour_dim=2 * COLOUR_BINS,
    )


def _coarse_tag_features(
    store: Store,
    video_id: str,
    stored: Sequence[StoredChunk],
    settings: Settings | None,
    features_key: Callable[[str], str],
) -> np.ndarray | None:
    """Per-chunk features from the perception layer's tag perceiver, when it ran on every chunk."""
    try:
        from vidsleuth.tools.perception.registry import make_perceiver

        tagger = make_perceiver("tags", settings)
    except Exception:  # perception not configured: there are simply no such features
        return None
    rows = []
    for c in stored:
        a = store.get_array(video_id, tagger.name, tagger.version, features_key(c.chunk_id))
        if a is None:
            return None
        rows.append(pool_frames(np.asarray(a, np.float32).reshape(-1, a.shape[-1])))
    return np.stack(rows)


def _add_observation_text(
    store: Store,
    video_id: str,
    stored: Sequence[StoredChunk],
    chunk_texts: list[list[str]],
    settings: Settings | None,
) -> None:
    """Append every stored perception observation's text to the chunks its time span overlaps."""
    try:
        from vidsleuth.tools.perception.registry import make_perceiver
    except ImportError:
        return
    starts = np.array([c.t_start for c in stored])
    ends = np.array([c.t_end for c in stored])
    for name in _OBS_PERCEIVERS:
        try:
            p = make_perceiver(name, settings)
            version = p.version
        except Exception:  # a perceiver whose model is not installed stored nothing either
            continue
        for key in store.keys(video_id, name, version):
            if key.startswith("features/"):
                continue
            for o in store.get_json(video_id, name, version, key) or []:
                text = (o.get("text") or o.get("label") or "").strip()
                if not text or o.get("kind") == "problem":
                    continue
                a, b = float(o["t_start"]), float(o["t_end"])
                hit = np.nonzero((ends > a) & (starts <= b))[0]
                for i in hit:
                    chunk_texts[i].append(text)


def default_text_embedder(settings: Settings | None = None) -> Any:
    """The configured text embedder (MiniLM unless settings say otherwise)."""
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import load_text_embedder

    return load_text_embedder(settings or Settings())


def _text_vectors(
    store: Store, video_id: str, texts: list[str], embedder: Any, key: str
) -> tuple[np.ndarray, str]:
    """Embeddings of ``texts`` (a zero row for an empty one), cached in the store under ``key``."""
    version = version_of(embedder=embedder.id, texts=texts)
    dim = int(embedder.dim)
    cached = store.get_array(video_id, TEXT_PRODUCER, version, key)
    if cached is not None:
        return cached.astype(np.float32).reshape(-1, dim), embedder.id
    uniq = sorted({t for t in texts if t})
    vecs = embedder.embed_texts(uniq) if uniq else np.zeros((0, 1), np.float32)
    lookup = {t: vecs[i] for i, t in enumerate(uniq)}
    out = np.zeros((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        if t:
            out[i] = lookup[t]
    store.put_array(video_id, TEXT_PRODUCER, version, key, out.astype(np.float16))
    return out, embedder.id
