"""Retrieval data: grounding questions + features of videos with known evidence spans.

A :class:`NeedleVideo` is a video with its grounding questions and their evidence spans, and
optionally a separate training subset of them.  Where the questions come from is the evaluation
harness's business (:mod:`vidsleuth.evals.retrieval_data`: templated from a generated video's
needles, with the last wording of each kind held out of training so evaluation also measures
paraphrase robustness; or read from a benchmark's annotations): this layer holds no question
wording of its own and does not import the harness.  Videos are indexed and featurised through
the store on demand, so a second run reuses them.
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

Split = Literal["train", "all"]


Question = tuple[str, str, list[tuple[float, float]]]  # (question, kind, evidence spans)


@dataclass
class NeedleVideo:
    """A video with grounding questions (``questions``: every wording, for evaluation) and,
    when some wordings are held out, the ones to train on (``train_questions``; None: all).
    ``targets`` is how many distinct things the video hides (its needles; 0 when unknown), so
    an evaluation can tell single-target videos apart."""

    path: Path
    questions: list[Question]
    train_questions: list[Question] | None = None
    targets: int = 0


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
    """Grounding questions of every video (``Example.video`` indexes ``videos``); ``"train"``
    takes each video's training wordings where it has them."""
    out = []
    for i, nv in enumerate(videos):
        qs = nv.train_questions if split == "train" and nv.train_questions is not None else None
        for q, kind, spans in qs if qs is not None else nv.questions:
            out.append(Example(video=i, question=q, spans=spans, kind=kind, needles=nv.targets))
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
