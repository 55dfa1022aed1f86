"""Retrieval data from a folder of generated needle videos: grounding questions + features.

A folder is what ``vidsleuth generate`` writes: ``NAME.mp4`` beside ``NAME.json`` (the needles with
exact spans).  Each needle value becomes "when"-style grounding questions whose evidence is every
span showing that value.  Wording: :data:`TEMPLATES` per kind; the last template of each kind is
held out of training (``split="train"``) so evaluation also measures paraphrase robustness.
Videos are indexed and featurised through the store on demand, so a second run reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vidsleuth.errors import VidsleuthError
from vidsleuth.tools.retrieval.base import VideoFeatures
from vidsleuth.tools.retrieval.train import EmptyTrainingSetError, Example

if TYPE_CHECKING:
    from vidsleuth.settings import Settings
    from vidsleuth.memory.store import Store

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


def find_needle_videos(folder: str | Path) -> list[NeedleVideo]:
    """Every ``*.json`` needles file in ``folder`` whose video sits beside it."""
    from vidsleuth.evals.synth.schema import load_needles

    root = Path(folder)
    if not root.is_dir():
        raise VidsleuthError(f"{root}: no such data folder")
    out = []
    for js in sorted(root.glob("*.json")):
        try:
            nf = load_needles(js)
        except VidsleuthError:
            continue  # not a needles file (a checkpoint's metadata, a report)
        video = js.with_name(nf.video)
        if not video.is_file():
            raise VidsleuthError(f"{js}: its video {nf.video} is missing")
        out.append(NeedleVideo(video, [n.model_dump() for n in nf.needles], nf.duration_s, nf.seed))
    if not out:
        raise EmptyTrainingSetError(
            f"{root}: no needle videos (NAME.mp4 + NAME.json from `vidsleuth generate`) found"
        )
    return out


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


def benchmark_videos(
    task: str,
    data: str | Path,
    videos: str | Path | None = None,
    options: dict[str, str] | None = None,
) -> list[NeedleVideo]:
    """Grounding questions from an evaluation task's annotations, grouped by video.

    LVBench questions carry ``time_reference`` spans and EgoMem questions ``reason`` spans
    (mapped onto the video through the task's offset file); every askable question whose video
    file was found and that has at least one reference span becomes a grounding example.
    Questions without a video or a span are skipped (the task's ``--check`` lists why).
    """
    from vidsleuth.evals.registry import get_task

    loaded = get_task(task).load(Path(data), Path(videos) if videos else None, **(options or {}))
    by_video: dict[Path, list[Question]] = {}
    for r in loaded.records:
        if not r.askable or r.video_path is None or not r.reference_spans:
            continue
        kind = r.categories[0] if r.categories else task
        spans = [(float(a), float(b)) for a, b in r.reference_spans]
        by_video.setdefault(Path(r.video_path), []).append((r.question, kind, spans))
    if not by_video:
        raise EmptyTrainingSetError(
            f"{data}: no {task} question has both a video file and a reference span "
            f"(run `vidsleuth eval {task} --data {data} --check` to see why)"
        )
    return [NeedleVideo(path, [], 0.0, 0, questions=qs) for path, qs in sorted(by_video.items())]


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
