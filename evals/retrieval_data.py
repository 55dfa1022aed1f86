"""Retriever training and evaluation data read from the evaluation formats.

Two sources of grounding questions for :mod:`vidsleuth.tools.retrieval.data`:

* a folder of generated needle videos (``vidsleuth generate`` writes ``NAME.mp4`` beside
  ``NAME.json``, the needles with exact spans): :func:`find_needle_videos`, the questions
  templated from the needles (:data:`TEMPLATES`, :func:`questions_for`);
* an evaluation task's annotations (LVBench ``time_reference``, EgoMem ``reason`` spans):
  :func:`benchmark_videos`.

They live here, not beside the retriever, because they read the generator's needle files, word
questions after its needle kinds, and read the task registry: none of that is product code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vidsleuth.errors import VidsleuthError
from vidsleuth.evals.registry import get_task
from vidsleuth.evals.synth.schema import load_needles
from vidsleuth.tools.retrieval.data import NeedleVideo, Question
from vidsleuth.tools.retrieval.train import EmptyTrainingSetError

#: Wordings of a "when" grounding question per needle kind of the generator; the last of each
#: kind is held out of training (``split="train"``) so evaluation also measures paraphrases.
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


def questions_for(
    needles: list[dict[str, object]], split: Literal["train", "eval", "all"] = "all"
) -> list[Question]:
    """``(question, kind, spans)`` per distinct needle value, in the templates of ``split``;
    the evidence of each is every span showing that value."""
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


def find_needle_videos(folder: str | Path) -> list[NeedleVideo]:
    """Every ``*.json`` needles file in ``folder`` whose video sits beside it."""
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
        needles = [n.model_dump() for n in nf.needles]
        out.append(
            NeedleVideo(
                video,
                questions_for(needles, "all"),
                train_questions=questions_for(needles, "train"),
                targets=len(needles),
            )
        )
    if not out:
        raise EmptyTrainingSetError(
            f"{root}: no needle videos (NAME.mp4 + NAME.json from `vidsleuth generate`) found"
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
    return [NeedleVideo(path, qs) for path, qs in sorted(by_video.items())]
