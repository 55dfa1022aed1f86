"""Chunk-retrieval evaluation: the same held-out questions for every retriever.

Per question, a chunk is *correct* when it overlaps an evidence span.  Reported per retriever:
``recall@1/5/10`` (a correct chunk among the top k), ``mean_rank`` (1-based rank of the first
correct chunk), ``covered@K`` (every chunk overlapping the evidence is in the top K, i.e. the
evidence reaches perception whole), ``frames@K`` (frames handed on per question: the frames of the
top K chunks), ``words@K`` (words of text memory handed on with them, about the tokens a
language model would read), and for ``rvlm`` the adaptive-K variant (``k_adaptive``,
``recall_adaptive``, ``frames_adaptive`` with question-ranked frames inside each chosen
chunk).  Broken down by needle kind, by video length and for single-needle videos.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidsleuth.tools.retrieval.base import ChunkRetriever, VideoFeatures
from vidsleuth.tools.retrieval.losses import chunk_overlap
from vidsleuth.tools.retrieval.match import tokens
from vidsleuth.tools.retrieval.train import Example

RECALL_KS = (1, 5, 10)


@dataclass
class QuestionResult:
    kind: str
    length_min: float
    single: bool
    first_rank: int
    covered: bool
    frames: int
    words: int = 0
    k_adaptive: int | None = None
    hit_adaptive: bool | None = None
    frames_adaptive: int | None = None


def first_correct_rank(order: Sequence[int], overlap: np.ndarray) -> int:
    """1-based rank of the first chunk (in ``order``) that overlaps the evidence; len+1 if none."""
    for r, i in enumerate(order):
        if overlap[i] > 0:
            return r + 1
    return len(order) + 1


def evaluate_question(
    retriever: ChunkRetriever, video: VideoFeatures, ex: Example, k: int = 5, **select_kw: Any
) -> QuestionResult:
    """Rank every chunk of ``video`` for one question and score the ranking."""
    ranking = retriever.rank(ex.question, video, None)
    pos = {c.chunk_id: i for i, c in enumerate(video.chunks)}
    order = [pos[c.chunk_id] for c in ranking]
    o = chunk_overlap(video.starts, video.ends, ex.spans)
    top = set(order[:k])
    res = QuestionResult(
        kind=ex.kind,
        length_min=round((video.duration_s or 0.0) / 60.0, 1),
        single=ex.needles == 1,
        first_rank=first_correct_rank(order, o),
        covered=all(i in top for i in np.nonzero(o > 0)[0]),
        frames=sum(len(video.chunks[i].frame_times) for i in order[:k]),
        words=sum(len(tokens(video.chunk_texts[i])) for i in order[:k]) if video.chunk_texts else 0,
    )
    select = getattr(retriever, "select", None)
    if select is not None:
        sel = select(ex.question, video, k=None, **select_kw)
        res.k_adaptive = len(sel.chunks)
        res.hit_adaptive = any(o[pos[c.chunk_id]] > 0 for c in sel.chunks)
        res.frames_adaptive = sel.frame_count
    return res


def summarise(results: Sequence[QuestionResult], k: int = 5) -> dict[str, Any]:
    """The metrics of a list of question results (see the module docstring)."""
    if not results:
        return {"questions": 0}
    ranks = np.array([r.first_rank for r in results], dtype=float)
    out: dict[str, Any] = {"questions": len(results)}
    for kk in RECALL_KS:
        out[f"recall@{kk}"] = round(float((ranks <= kk).mean()), 4)
    out["mean_rank"] = round(float(ranks.mean()), 2)
    out[f"covered@{k}"] = round(float(np.mean([r.covered for r in results])), 4)
    out[f"frames@{k}"] = round(float(np.mean([r.frames for r in results])), 2)
    out[f"words@{k}"] = round(float(np.mean([r.words for r in results])), 1)
    adaptive = [r for r in results if r.k_adaptive is not None]
    if adaptive:
        out["k_adaptive"] = round(float(np.mean([r.k_adaptive for r in adaptive])), 2)
        out["recall_adaptive"] = round(float(np.mean([bool(r.hit_adaptive) for r in adaptive])), 4)
        out["frames_adaptive"] = round(float(np.mean([r.frames_adaptive for r in adaptive])), 2)
    return out


def evaluate(
    retrievers: dict[str, ChunkRetriever],
    videos: Sequence[VideoFeatures],
    examples: Sequence[Example],
    *,
    k: int = 5,
    progress: Any = None,
    **select_kw: Any,
) -> dict[str, dict[str, Any]]:
    """``{retriever: {overall metrics..., "by_kind": {...}, "by_length": {...}, "single_needle":
    {...}}}`` on the same questions for every retriever."""
    report: dict[str, dict[str, Any]] = {}
    total = len(retrievers) * len(examples)
    done = 0
    for name, r in retrievers.items():
        res = []
        for ex in examples:
            res.append(evaluate_question(r, videos[ex.video], ex, k, **select_kw))
            done += 1
            if progress:
                progress(done, total)
        by_kind: dict[str, list[QuestionResult]] = defaultdict(list)
        by_len: dict[str, list[QuestionResult]] = defaultdict(list)
        for x in res:
            by_kind[x.kind].append(x)
            by_len[f"{x.length_min:g} min"].append(x)
        rep = summarise(res, k)
        rep["by_kind"] = {kd: summarise(v, k) for kd, v in sorted(by_kind.items())}
        rep["by_length"] = {
            ln: summarise(v, k)
            for ln, v in sorted(by_len.items(), key=lambda kv: float(kv[0].split()[0]))
        }
        rep["single_needle"] = summarise([x for x in res if x.single], k)
        report[name] = rep
    return report


def format_report(report: dict[str, dict[str, Any]], k: int = 5) -> str:
    """A plain-text table of the report (what ``vidsleuth retriever eval`` prints)."""
    cols = [
        "questions",
        "recall@1",
        "recall@5",
        "recall@10",
        "mean_rank",
        f"covered@{k}",
        f"frames@{k}",
        f"words@{k}",
    ]
    lines = []
    head = f"{'retriever':<12} {'subset':<16} " + " ".join(f"{c:>10}" for c in cols)
    lines.append(head)
    for name, rep in report.items():
        rows = [("all", rep)] + [(f"kind={kd}", v) for kd, v in rep.get("by_kind", {}).items()]
        rows += [(f"len={ln}", v) for ln, v in rep.get("by_length", {}).items()]
        rows.append(("single-needle", rep.get("single_needle", {})))
        for sub, m in rows:
            cells = " ".join(f"{m.get(c, '-')!s:>10}" for c in cols)
            lines.append(f"{name:<12} {sub:<16} {cells}")
        if "k_adaptive" in rep:
            lines.append(
                f"{name:<12} {'adaptive K':<16} k={rep['k_adaptive']} "
                f"recall={rep['recall_adaptive']} "
                f"frames={rep['frames_adaptive']}"
            )
    learned = [n for n in report if n.startswith("rvlm")]
    zero = [n for n in report if n not in learned and "recall@5" in report[n]]
    if learned and zero:
        best = max(zero, key=lambda n: report[n]["recall@5"])
        for n in learned:
            gap = report[n]["recall@5"] - report[best]["recall@5"]
            lines.append(
                f"{n}: recall@5 {report[n]['recall@5']:.3f}, {100 * gap:+.1f} points over the best "
                f"zero-shot retriever ({best}, {report[best]['recall@5']:.3f})"
            )
    return "\n".join(lines)
