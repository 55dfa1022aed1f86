"""Retrieval data: grounding questions + features of videos with known evidence spans.

A :class:`NeedleVideo` is a video with its needles (synthetic videos) or its given questions
(benchmark annotations); the readers of those formats live in :mod:`vidsleuth.evals.retrieval_data`
(``find_needle_videos``, ``benchmark_videos``), since this layer does not import the evaluation
harness.  Each needle value becomes "when"-style grounding questions whose evidence is every span
showing that value.  Wording: :data:`TEMPLATES` per kind; the last template of each kind is held
out of training (``split="train"``) so evaluation also measures paraphrase robustness.  Videos are
indexed and featurised through the store on demand, so a second run reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vidsleuth.tools.retrieval.base import VideoFeatures
from vidsleuth.tools.retrieval.train import Example

if TYPE_CHECKING:
    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings

TEMPLATES: dict[str, tuple[str, ...]] = {
    "text": (
        "When does the text '{v}' appear on screen?",
        "At what point is '{v}' written on the screen?",
        "Find the moment the caption reads '{v}'.",
        "When can the words {v} be read in the video?",
    ),
    "object": (
        "When is a {v} shown?",
        "At what time does the {v} appear in the video?",
        "Find the part of the video with a {v} in it.",
        "When can we see a picture of a {v}?",
    ),
    "flash": (
        "When does the screen flash {v}?",
        "At what moment does the whole frame turn {v}?",
        "Find the brief {v} flash.",
        "When is the screen filled with a {v} colour?",
    ),
    "speech": (
        "When does someone say '{v}'?",
        "At what time is the phrase '{v}' spoken?",
        "Find the moment the narrator says '{v}'.",
        "When can we hear the words '{v}'?",
    ),
}

Split = Literal["train", "eval", "all"]


def questions_for(
    needles: list[dict[str, object]], split: Split = "all"
) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """``(question, kind, spans)`` per distinct needle value, in the templates of ``split``."""
    by_value: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for n in needles:
        key = (str(n["kind"]), str(n["value"]))
        by_value.setdefault(key, []).append((float(n["t_start"]), float(n["t_end"])))  # type: ignore[arg-type]
    out = []
    for (kind, value), spans in by_value.items():
        temps = TEMPLATES.get(kind)
        if not temps:
            continue
        chosen = temps[:-1] if split == "train" else temps[-1:] if split == "eval" else temps
        out += [(t.format(v=value), kind, sorted(spans)) for t in chosen]
    return out


Question = tuple[str, str, list[tuple[float, float]]]  # (question, kind, evidence spans)


@dataclass
class NeedleVideo:
    """A video with grounding questions: templated from its needles (synthetic videos), or given
    (benchmark videos, whose questions and reference spans come from the annotations)."""

    path: Path
    needles: list[dict[str, object]]
    duration_s: float
    seed: int
    questions: list[Question] | None = None


def retrieval_perceivers(settings: Settings, spec: str | None = None) -> list[str]:
    """The perceivers whose observations make the retrievers' text memory.

    By default the agent's own (``settings.perceivers``) without ``tags``, whose ImageNet labels
    the per-frame features already provide for every frame; ``"none"`` gives the labels only.
    The retriever is thus trained and evaluated on the text memory the agent will have.
    """
    from vidsleuth.tools.perception.registry import parse_names

    if spec is not None and spec.strip().lower() in ("", "none"):
        return []
    names = parse_names(spec if spec is not None else settings.perceivers)
    return [n for n in names if n != "tags"] if spec is None else names


def prepare_videos(
    store: Store,
    videos: list[NeedleVideo],
    settings: Settings,
    progress: Callable[[str, int, int], None] | None = None,
    perceivers: Sequence[str] = (),
) -> list[VideoFeatures]:
    """Index, perceive (``perceivers``), featurise and load every video; all cached in the store.

    The perceivers' observations (OCR lines, transcripts, object labels) become the chunks' text
    memory; a video without audio skips speech.
    """
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.retrieval.features import (
        default_text_embedder,
        featurize_video,
        load_video_features,
    )

    embedder = default_text_embedder(settings)
    out = []
    for i, nv in enumerate(videos):
        summary = index_video(store, nv.path, settings)
        record = store.video(summary.video_id)
        assert record is not None
        plan = chunk_plan_for(record, settings)
        key = plan_key(plan, settings)
        names = [n for n in perceivers if n != "speech" or record.probe.has_audio]
        if names:
            perceive_video(store, record, plan, names, settings=settings, frames_plan=key)
        featurize_video(store, record, key)
        out.append(
            load_video_features(store, record.video_id, key, settings, text_embedder=embedder)
        )
        if progress:
            progress(nv.path.name, i + 1, len(videos))
    return out


def build_examples(videos: list[NeedleVideo], split: Split = "all") -> list[Example]:
    """Grounding questions of every video (``Example.video`` indexes ``videos``)."""
    out = []
    for i, nv in enumerate(videos):
        given = nv.questions
        for q, kind, spans in given if given is not None else questions_for(nv.needles, split):
            out.append(
                Example(video=i, question=q, spans=spans, kind=kind, needles=len(nv.needles))
            )
    return out


@dataclass
class TrainingSplit:
    """Videos and examples for :func:`~vidsleuth.tools.retrieval.train.train`, split by video.

    ``videos`` holds the training videos, then the validation videos; examples index into it.
    """

    videos: list[VideoFeatures]
    train: list[Example]
    val: list[Example]
    train_ids: list[str]
    val_ids: list[str]


def training_split(
    videos: Sequence[NeedleVideo],
    feats: Sequence[VideoFeatures],
    val_fraction: float = 0.2,
    seed: int = 0,
) -> TrainingSplit:
    """Split by video: training templates of the training videos for training, every template
    of the validation videos for validation."""
    from vidsleuth.tools.retrieval.train import split_by_video

    tr_ids, va_ids = split_by_video([f.video_id for f in feats], val_fraction, seed)
    idx = {f.video_id: i for i, f in enumerate(feats)}
    tr = sorted(tr_ids)
    va = sorted(va_ids)
    out_videos = [feats[idx[v]] for v in tr] + [feats[idx[v]] for v in va]
    tr_ex = build_examples([videos[idx[v]] for v in tr], "train")
    va_ex = build_examples([videos[idx[v]] for v in va], "all")
    for e in va_ex:
        e.video += len(tr)
    return TrainingSplit(out_videos, tr_ex, va_ex, tr, va)
