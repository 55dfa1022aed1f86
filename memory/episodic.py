"""Episodic memory: what happened when, at three levels (chunk, segment, video).

* **chunk** records are written from perception observations, no model needed: the text of a
  chunk is what was read (OCR lines), heard (speech / subtitle words) and detected (object and
  tag labels at or above their calibrated floor, :class:`~vidsleuth.memory.labels.LabelFloor`)
  inside its window, in time order.
* **segment** and **video** records are written by a :class:`ChatModel` map-reduce (MR. Video's
  recipe): *map* captions each ~1-minute segment from its chunk texts; *reduce* reads every segment
  caption, writes the whole-video summary and unifies the names of people and things that
  different segments spelled differently; the alias map is then applied to the segment captions
  before they are stored, so a search for the canonical name finds every segment.

A summary is only as good as what it rests on: a segment with no speech, subtitles or captions is
described without a model (its on-screen text quoted, what was detected listed), and a video with
none of them gets such a description as its summary, so no sentence is invented from labels.  Every
segment and video record says what it was built from (``meta["built_from"]``).

Versions chain: a segment version hashes the chat model id, the prompt text and the chunk version
it read, so a new perception model, embedder or prompt adds records beside the old ones, and
re-running with the same settings finds its version stored and calls no model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from vidsleuth.memory.labels import NARRATIVE_SOURCES, LabelFloor, sources_of
from vidsleuth.memory.records import MemoryRecord, VectorMemory, record_id
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.tools.models.base import ChatModel, Embedder


class ObservationLike(Protocol):
    """Anything shaped like ``vidsleuth.tools.perception.types.Observation``."""

    t_start: float
    t_end: float
    kind: str
    text: str
    label: str | None
    score: float | None
    producer: str
    version: str


CHUNK_PRODUCER = "episodic.chunk"
SEGMENT_PRODUCER = "episodic.segment"
VIDEO_PRODUCER = "episodic.video"

_KIND_ORDER = {"speech": 0, "subtitle": 1, "ocr": 2, "object": 3, "tag": 4}


def chunk_spans(duration: float, chunk_seconds: float = 4.0) -> list[tuple[float, float]]:
    """Consecutive ``chunk_seconds`` windows covering ``[0, duration]`` (the last one shorter)."""
    if duration <= 0 or chunk_seconds <= 0:
        return []
    n = int(duration // chunk_seconds) + (1 if duration % chunk_seconds > 1e-6 else 0)
    return [(i * chunk_seconds, min((i + 1) * chunk_seconds, duration)) for i in range(n)]


def _fmt_t(t: float) -> str:
    m, s = divmod(t, 60.0)
    return f"{int(m):02d}:{s:04.1f}"


def chunk_text(observations: Sequence[ObservationLike]) -> str:
    """One chunk's observations as compact text: speech, then on-screen text, then labels.

    Words heard are joined into a sentence; repeated OCR lines and labels (the same sign read on
    every sampled frame) appear once, labels with their count.  ``problem`` observations are left
    out: they describe the pipeline, not the video.
    """
    by_kind: dict[str, list[ObservationLike]] = defaultdict(list)
    for o in sorted(observations, key=lambda o: (o.t_start, o.t_end)):
        if o.kind != "problem":
            by_kind[o.kind].append(o)
    parts: list[str] = []
    for kind in sorted(by_kind, key=lambda k: (_KIND_ORDER.get(k, 9), k)):
        obs = by_kind[kind]
        if kind in ("speech", "subtitle"):
            words = " ".join((o.text or o.label or "").strip() for o in obs).split()
            if words:
                parts.append(f"{kind}: {' '.join(words)}")
        elif kind in ("object", "tag"):
            counts: dict[str, int] = {}
            for o in obs:
                name = (o.label or o.text or "").strip()
                if name:
                    counts[name] = counts.get(name, 0) + 1
            if counts:
                ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                labels = ", ".join(n if c == 1 else f"{n} x{c}" for n, c in ordered)
                parts.append(f"{'objects' if kind == 'object' else 'tags'}: {labels}")
        else:
            seen: list[str] = []
            for o in obs:
                line = " ".join((o.text or o.label or "").split())
                if line and line not in seen:
                    seen.append(line)
            if seen:
                parts.append(f"{kind}: " + " | ".join(seen))
    return "\n".join(parts)


def assign_to_chunks(
    observations: Iterable[ObservationLike], spans: Sequence[tuple[float, float]]
) -> list[list[ObservationLike]]:
    """Observations per chunk, each put in the chunk holding its midpoint (so none is counted
    twice when it straddles a boundary)."""
    import bisect

    starts = [s for s, _ in spans]
    out: list[list[ObservationLike]] = [[] for _ in spans]
    for o in observations:
        mid = 0.5 * (o.t_start + o.t_end)
        i = bisect.bisect_right(starts, mid) - 1
        if 0 <= i < len(spans) and mid <= spans[i][1] + 1e-6:
            out[i].append(o)
    return out


# ----------------------------------------------------------------------------- map-reduce
class SegmentCaption(BaseModel):
    """The map step's output for one segment."""

    summary: str = Field(
        max_length=500, description="2-4 sentences: who does what, where, what text is shown"
    )
    names: list[str] = Field(default_factory=list, description="people/things/places named")


class Alias(BaseModel):
    alias: str
    canonical: str


class VideoSummary(BaseModel):
    """The reduce step's output: the whole-video summary and the unified names."""

    summary: str = Field(
        max_length=1500, description="a paragraph covering the whole video in order"
    )
    aliases: list[Alias] = Field(
        default_factory=list, description="spellings of one person/thing -> the one name to use"
    )


MAP_SYSTEM = (
    "You summarise one segment of a video from timestamped observations (speech transcript, "
    "on-screen text read by OCR, detected objects). Use only what the observations say; name "
    "people and things exactly as spoken or written. Detected objects and tags are automatic "
    "labels that may be wrong: mention one only as something seen, never turn a label into a "
    "name, a person, an action or a story. Reply with JSON."
)
MAP_USER = "Segment {start} to {end}. Observations:\n{lines}\n\nSummarise this segment."
REDUCE_SYSTEM = (
    "You read captions of consecutive video segments and write one summary of the whole video. "
    "Different segments may name the same person or thing differently (a nickname, a misspelling, "
    "a role then a name): list each such variant with the single canonical name to use. "
    "Reply with JSON."
)
REDUCE_USER = "Segment captions in order:\n{captions}\n\nSummarise the video and unify the names."
PROMPT_HASH = hashlib.blake2b(
    "\x1f".join(
        [
            MAP_SYSTEM,
            MAP_USER,
            REDUCE_SYSTEM,
            REDUCE_USER,
            json.dumps([SegmentCaption.model_json_schema(), VideoSummary.model_json_schema()]),
        ]
    ).encode(),
    digest_size=6,
).hexdigest()


#: what is summarised by a model and what is described without one (bumped when that changes, so
#: stored summaries made under other rules are redone)
SUMMARY_RULES = 2


def apply_aliases(text: str, aliases: Sequence[Alias]) -> str:
    """Replace each alias (whole words, case-insensitive) by its canonical name, longest first."""
    for a in sorted(aliases, key=lambda a: -len(a.alias)):
        if a.alias.strip() and a.alias.strip().lower() != a.canonical.strip().lower():
            text = re.sub(
                rf"(?<!\w){re.escape(a.alias.strip())}(?!\w)",
                a.canonical,
                text,
                flags=re.IGNORECASE,
            )
    return text


@dataclass
class SummaryRun:
    """What a summarise call did (so callers and tests can see that a re-run computed nothing)."""

    segment_version: str
    video_version: str
    cached: bool
    segments: list[MemoryRecord] = field(default_factory=list)
    video: MemoryRecord | None = None
    model_calls: int = 0
    failures: list[str] = field(default_factory=list)
    built_from: list[str] = field(default_factory=list)


def _labels(recs: Sequence[MemoryRecord]) -> dict[str, list[float]]:
    """Labels in chunk texts -> ``[first start, last end, chunks]``, most frequent first."""
    found: dict[str, list[float]] = {}
    for r in recs:
        for line in r.text.splitlines():
            prefix, _, rest = line.partition(":")
            if prefix.strip() not in ("objects", "tags"):
                continue
            for item in rest.split(","):
                name = re.sub(r"\s+x\d+$", "", item.strip())
                if not name:
                    continue
                if name in found:
                    f = found[name]
                    f[0], f[1], f[2] = min(f[0], r.t_start), max(f[1], r.t_end), f[2] + 1
                else:
                    found[name] = [r.t_start, r.t_end, 1.0]
    return dict(sorted(found.items(), key=lambda kv: (-kv[1][2], kv[1][0], kv[0])))


def _screen_text(recs: Sequence[MemoryRecord]) -> list[str]:
    """Distinct on-screen text lines of chunk texts, in time order."""
    seen: list[str] = []
    for r in recs:
        for line in r.text.splitlines():
            prefix, _, rest = line.partition(":")
            if prefix.strip() == "ocr":
                seen += [t for t in (x.strip() for x in rest.split(" | ")) if t and t not in seen]
    return seen


def described_without_model(
    recs: Sequence[MemoryRecord], *, times: bool = False, limit: int = 12
) -> str:
    """What chunks without speech, subtitles or captions show: the text on screen, quoted, and
    the detected labels, listed (no model, so nothing is made up)."""
    texts, labels = _screen_text(recs), _labels(recs)
    parts = ["No speech." if texts else "No speech or on-screen text."]
    if texts:
        quoted = ", ".join(f'"{t[:80]}"' for t in texts[:limit])
        parts.append(
            f"On screen: {quoted}"
            + (f" and {len(texts) - limit} more." if len(texts) > limit else ".")
        )
    if labels:
        shown = [
            f"{name} ({_fmt_t(a)}-{_fmt_t(b)})" if times else name
            for name, (a, b, _) in list(labels.items())[:limit]
        ]
        more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
        parts.append("Detected: " + ", ".join(shown) + more + ".")
    if not texts and not labels:
        return "Nothing was heard, read or confidently detected."
    return " ".join(parts)


class EpisodicMemory(VectorMemory):
    """What happened when; searchable by text, filtered by time range and level."""

    kind = "episodic"

    def __init__(
        self, store: ChromaStore, embedder: Embedder, *, floor: LabelFloor | None = None
    ) -> None:
        super().__init__(store, embedder)
        self.floor = floor or LabelFloor()

    def chunk_version(self, observations: Sequence[ObservationLike], chunk_seconds: float) -> str:
        """Version of chunk records: the embedder, every observation producer version used and
        the label floor (a different floor writes different texts)."""
        sources = sorted({(o.producer, o.version) for o in observations})
        return version_of(
            embedder=self.embedder.id,
            sources=sources,
            chunk_seconds=chunk_seconds,
            labels=self.floor.params(),
        )

    def latest_version(self, video_id: str, producer: str = CHUNK_PRODUCER) -> str | None:
        """The version of ``producer`` written last for the video (what a build just wrote;
        older versions stay beside it until ``store gc``)."""
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None:
                return None
            got = col.get(include=["metadatas"])
        metas = [m for m in got["metadatas"] or [] if m.get("producer") == producer]
        if not metas:
            return None

        def written(m: Any) -> float:
            at = m.get("written_at")
            return float(at) if isinstance(at, int | float) else 0.0

        return str(max(metas, key=written)["version"])

    def write_chunks(
        self,
        video_id: str,
        observations: Sequence[ObservationLike],
        spans: Sequence[tuple[float, float]],
    ) -> tuple[str, int]:
        """Write one chunk record per span that has observations; return ``(version, written)``.

        ``spans`` are the store's chunk windows (``Store.chunks``) or :func:`chunk_spans`.
        Chunks already stored under this version are neither embedded nor written again.
        """
        width = max((e - s for s, e in spans), default=0.0)
        version = self.chunk_version(observations, round(width, 3))
        kept = [o for o in observations if self.floor.keeps(o)]
        records: list[MemoryRecord] = []
        for (s, e), obs in zip(spans, assign_to_chunks(kept, spans), strict=True):
            text = chunk_text(obs)
            if not text:
                continue
            records.append(
                MemoryRecord(
                    id=record_id(self.kind, video_id, CHUNK_PRODUCER, version, "chunk", s, e),
                    kind="episodic",
                    video_id=video_id,
                    level="chunk",
                    t_start=s,
                    t_end=e,
                    text=text,
                    producer=CHUNK_PRODUCER,
                    version=version,
                    meta={"n_obs": len(obs)},
                )
            )
        return version, self.add(records)

    def summarize(
        self,
        video_id: str,
        chat: ChatModel,
        *,
        chunk_version: str,
        segment_seconds: float = 60.0,
        max_lines: int = 60,
    ) -> SummaryRun:
        """Map-reduce the chunk records of ``chunk_version`` into segment and video records.

        If this exact (model, prompt, chunk version, segment length) was summarised before, the
        stored records are returned and no model is called.  Segments (and a video) without
        speech, subtitles or captions are described without a model.
        """
        seg_version = version_of(
            model=chat.id,
            prompt=PROMPT_HASH,
            rules=SUMMARY_RULES,
            chunks=chunk_version,
            segment_seconds=segment_seconds,
        )
        vid_version = seg_version
        if self.has_version(video_id, VIDEO_PRODUCER, vid_version):
            segs = self.list(
                video_id, where={"$and": [{"producer": SEGMENT_PRODUCER}, {"version": seg_version}]}
            )
            vids = self.list(
                video_id, where={"$and": [{"producer": VIDEO_PRODUCER}, {"version": vid_version}]}
            )
            video = vids[0] if vids else None
            built = str(video.meta.get("built_from", "")) if video is not None else ""
            return SummaryRun(
                seg_version,
                vid_version,
                True,
                segs,
                video,
                built_from=[b for b in built.split(", ") if b],
            )

        chunks = self.list(
            video_id,
            where={"$and": [{"producer": CHUNK_PRODUCER}, {"version": chunk_version}]},
        )
        run = SummaryRun(
            seg_version, vid_version, False, built_from=sources_of(c.text for c in chunks)
        )
        if not chunks:
            return run
        groups: dict[int, list[MemoryRecord]] = defaultdict(list)
        for c in chunks:
            groups[int(c.t_start // segment_seconds)].append(c)

        captions: list[tuple[float, float, SegmentCaption]] = []
        seg_sources: list[list[str]] = []
        for gi in sorted(groups):
            recs = groups[gi]
            s, e = recs[0].t_start, max(r.t_end for r in recs)
            seg_sources.append(sources_of(r.text for r in recs))
            if not NARRATIVE_SOURCES & set(seg_sources[-1]):
                captions.append((s, e, SegmentCaption(summary=described_without_model(recs)[:500])))
                continue
            lines = [
                f"[{_fmt_t(r.t_start)}] " + r.text.replace("\n", "; ") for r in recs[:max_lines]
            ]
            res = chat.chat(
                [
                    {"role": "system", "content": MAP_SYSTEM},
                    {
                        "role": "user",
                        "content": MAP_USER.format(
                            start=_fmt_t(s), end=_fmt_t(e), lines="\n".join(lines)
                        ),
                    },
                ],
                schema=SegmentCaption,
                max_tokens=300,
            )
            run.model_calls += res.usage.calls
            if res.failure is not None or res.parsed is None:
                # Keep going: one bad caption must not lose the others; the segment falls back to
                # its raw observations so it stays searchable.
                run.failures.append(f"segment {_fmt_t(s)}: {res.failure}")
                cap = SegmentCaption(summary=" ".join(r.text.replace("\n", "; ") for r in recs))
            else:
                cap = SegmentCaption.model_validate(res.parsed.model_dump())
            captions.append((s, e, cap))

        if not NARRATIVE_SOURCES & set(run.built_from):
            # nothing tells what happens: a model would only string labels and titles into a story
            text = described_without_model(chunks, times=True)[:1500]
            self._store_summary(
                video_id, chat.id, run, captions, seg_sources, VideoSummary(summary=text)
            )
            return run
        res = chat.chat(
            [
                {"role": "system", "content": REDUCE_SYSTEM},
                {
                    "role": "user",
                    "content": REDUCE_USER.format(
                        captions="\n".join(
                            f"[{_fmt_t(s)}-{_fmt_t(e)}] {c.summary}" for s, e, c in captions
                        )
                    ),
                },
            ],
            schema=VideoSummary,
            max_tokens=600,
        )
        run.model_calls += res.usage.calls
        if res.failure is not None or res.parsed is None:
            run.failures.append(f"video summary: {res.failure}")
            summary = VideoSummary(summary=" ".join(c.summary for _, _, c in captions))
        else:
            summary = VideoSummary.model_validate(res.parsed.model_dump())
        self._store_summary(video_id, chat.id, run, captions, seg_sources, summary)
        return run

    def _store_summary(
        self,
        video_id: str,
        model_id: str,
        run: SummaryRun,
        captions: Sequence[tuple[float, float, SegmentCaption]],
        seg_sources: Sequence[Sequence[str]],
        summary: VideoSummary,
    ) -> None:
        """Write the segment records, then the video record that marks the run done."""
        seg_version = vid_version = run.segment_version
        seg_records = []
        for (s, e, cap), sources in zip(captions, seg_sources, strict=True):
            names = sorted({apply_aliases(n, summary.aliases) for n in cap.names})
            seg_records.append(
                MemoryRecord(
                    id=record_id(self.kind, video_id, SEGMENT_PRODUCER, seg_version, s, e),
                    kind="episodic",
                    video_id=video_id,
                    level="segment",
                    t_start=s,
                    t_end=e,
                    text=apply_aliases(cap.summary, summary.aliases),
                    producer=SEGMENT_PRODUCER,
                    version=seg_version,
                    meta={
                        "names": "; ".join(names),
                        "model": model_id if NARRATIVE_SOURCES & set(sources) else "none",
                        "built_from": ", ".join(sources),
                    },
                )
            )
        t_end = max(e for _, e, _ in captions)
        alias_meta: dict[str, Any] = {
            "aliases": "; ".join(f"{a.alias} -> {a.canonical}" for a in summary.aliases),
            "model": model_id if run.model_calls else "none",
            "built_from": ", ".join(run.built_from),
        }
        video_rec = MemoryRecord(
            id=record_id(self.kind, video_id, VIDEO_PRODUCER, vid_version, "video"),
            kind="episodic",
            video_id=video_id,
            level="video",
            t_start=0.0,
            t_end=t_end,
            text=summary.summary,
            producer=VIDEO_PRODUCER,
            version=vid_version,
            meta=alias_meta,
        )
        # Segments first, the video record last: the video record is what marks the run done,
        # so a run killed in between is redone (idempotently) rather than mistaken for finished.
        self.add(seg_records)
        self.add([video_rec])
        run.segments, run.video = seg_records, video_rec
