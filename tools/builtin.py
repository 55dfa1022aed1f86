"""The built-in tools: thin adapters from the agent's tool contract to the other layers.

Each adapter translates arguments into one layer call and the layer's records into
:class:`~vidsleuth.tools.base.Findings`.  A tool is registered only when the layer it wraps is
installed (checked with ``importlib.util.find_spec``, which imports nothing heavy), so a missing
layer means a missing tool, never a fake result.  Expensive handles (perceivers, the Chroma store,
the text embedder) are built once per session through ``ToolContext.resource``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, Field

from vidsleuth.tools.base import Finding, Findings, ToolCallError, ToolContext
from vidsleuth.tools.registry import tool

#: every built-in tool name (whether or not its layer is installed here)
BUILTIN_NAMES = (
    "search_memory",
    "recall_entity",
    "remember_fact",
    "read_text",
    "detect_objects",
    "transcribe",
    "inspect_interval",
    "look_at_frames",
    "find_mentions",
    "scan_unseen",
)
#: spans longer than this are cut to their first part by the span tools (one call stays cheap)
MAX_SPAN_CHUNKS = 8
_LOOK_TO_PERCEIVER = {"read_text": "ocr", "detect_objects": "objects"}


def _has(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:
        return False


def _when(*modules: str, role: str, expensive: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated tool (with its role) only when ``modules`` are importable."""
    if _has(*modules):
        return tool(role=role, expensive=expensive)
    return lambda fn: fn


_MEMORY = (
    "vidsleuth.memory.episodic",
    "vidsleuth.memory.session",
    "vidsleuth.memory.semantic",
    "chromadb",
)
_RETRIEVAL = ("vidsleuth.tools.retrieval.rvlm", "torch")
_PERCEPTION = ("vidsleuth.tools.perception.cache", "vidsleuth.memory.indexer")


# ------------------------------------------------------------------------------ arguments
class SearchArgs(BaseModel):
    query: str = Field(description="words likely to be written, said or shown", min_length=1)
    k: int = Field(8, ge=1, le=50, description="how many spans to return")
    include_earlier_answers: bool = Field(
        False,
        description="also return answers remembered from earlier questions (context, not "
        "evidence: they are marked as earlier answers)",
    )


class RetrieveArgs(BaseModel):
    query: str = Field(description="the question, or what the wanted moment shows", min_length=1)
    k: int = Field(5, ge=1, le=50, description="how many chunks to return")


class SpanArgs(BaseModel):
    t_start: float = Field(ge=0, description="start of the span, seconds from the video start")
    t_end: float = Field(ge=0, description="end of the span, seconds")


class ZoomArgs(SpanArgs):
    fps: float = Field(2.0, gt=0, le=30, description="frames per second to decode")
    max_side: int = Field(960, ge=64, le=4096, description="longest side of decoded frames (px)")
    looks: list[str] = Field(
        default_factory=lambda: ["read_text", "detect_objects"],
        description="looking tools to apply to the decoded frames",
    )


class EntityArgs(BaseModel):
    name: str = Field(description="a person, place or thing named in the video", min_length=1)


class FactArgs(BaseModel):
    fact: str = Field(description="what was learned, one sentence", min_length=1)
    question: str = Field(description="the question that led to it")
    spans: list[tuple[float, float]] = Field(description="evidence spans (start, end) in seconds")


class MentionArgs(BaseModel):
    query: str = Field(
        description="what to find: words that are written or said, an object, or a colour",
        min_length=1,
    )
    kinds: list[str] | None = Field(
        None,
        description="only these kinds of observation: ocr (text on screen), speech, subtitle, "
        "object, tag (scene labels), colour (full-frame colour), caption; omit for all",
    )
    k: int = Field(20, ge=1, le=200, description="most moments to return, best first")


class ScanArgs(BaseModel):
    query: str = Field(
        description="what to look for in the parts of the video not perceived yet", min_length=1
    )
    t_start: float = Field(0.0, ge=0, description="start of the window, seconds (0: the start)")
    t_end: float | None = Field(None, ge=0, description="end of the window (omit: the end)")
    also: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="more things to find in what is newly perceived (for example the options)",
    )
    max_chunks: int = Field(
        120, ge=1, le=1000, description="most 4-second chunks to perceive in this call"
    )


class LookArgs(SpanArgs):
    prompt: str = Field(
        "Describe what is visible.",
        description="what to look for: the question, or what the frames should show",
    )


# ------------------------------------------------------------------------------ helpers
def _finding(o: Any, source: str, score: float | None = None) -> Finding:
    text = o.text or (o.label or "")
    return Finding(
        t_start=float(o.t_start),
        t_end=float(o.t_end),
        kind=str(o.kind),
        text=text,
        score=o.score if score is None else score,
        source=source,
    )


def open_memory(settings: Any) -> dict[str, Any]:
    """The Chroma store, the text embedder and the memory kinds (episodic, session, semantic)."""
    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.memory.episodic import EpisodicMemory
    from vidsleuth.memory.labels import LabelFloor
    from vidsleuth.memory.semantic import SemanticMemory
    from vidsleuth.memory.session import SessionMemory
    from vidsleuth.tools.models.factory import load_text_embedder

    chroma = ChromaStore.from_settings(settings)
    emb = load_text_embedder(settings)
    floor = LabelFloor.from_settings(settings)
    return {
        "chroma": chroma,
        "embedder": emb,
        "episodic": EpisodicMemory(chroma, emb, floor=floor),
        "session": SessionMemory(chroma, emb),
        "semantic": SemanticMemory.for_store(chroma, emb, settings.store, floor=floor),
    }


def _memory(ctx: ToolContext) -> dict[str, Any]:
    """The memory handles, opened once per session (``resources["memory"]``)."""
    return ctx.resource("memory", lambda: open_memory(ctx.settings))


def _plan(ctx: ToolContext) -> Any:
    """The session video's chunk plan, computed once."""
    from vidsleuth.memory.indexer import chunk_plan_for

    record = ctx.record
    if record is None:
        raise ToolCallError("this tool needs a video, and the context has none")
    return ctx.resource(f"plan:{ctx.video_id}", lambda: chunk_plan_for(record, ctx.settings))


def _span_chunks(ctx: ToolContext, a: float, b: float) -> tuple[list[Any], str]:
    from vidsleuth.memory.indexer import plan_key

    if ctx.record is None:
        raise ToolCallError("no video in this session")
    plan = _plan(ctx)
    chunks = [c for c in plan.chunks if c.t_start < b and c.t_end > a] or [
        min(plan.chunks, key=lambda c: abs(c.t_start - a))
    ]
    return chunks[:MAX_SPAN_CHUNKS], plan_key(plan, ctx.settings)


def _frame_perceive(ctx: ToolContext, name: str, inp: SpanArgs, source: str) -> Findings:
    """Cached coarse perception of the chunks in a span (decoding only uncached chunks)."""
    from vidsleuth.tools.perception.cache import _frames_for, perceive_cached
    from vidsleuth.tools.perception.registry import make_perceiver

    assert ctx.store is not None and ctx.record is not None
    p = make_perceiver(name, ctx.settings)
    chunks, frames_plan = _span_chunks(ctx, inp.t_start, inp.t_end)
    out: list[Finding] = []
    decoded = 0
    for c in chunks:
        cached = ctx.store.get_json(ctx.video_id, p.name, p.version, c.id)
        frames = None
        if cached is None:
            frames_by_id = _frames_for(ctx.store, ctx.record, [c], frames_plan, ctx.settings)
            frames = [frames_by_id[c.id]]
            if not ctx.store.frames(
                ctx.video_id, frames_plan, frames[0].t - 1e-6, frames[0].t + 1e-3
            ):
                decoded += 1
        obs, _ = perceive_cached(ctx.store, ctx.video_id, p, c.id, frames)
        out += [_finding(o, source) for o in obs if o.kind != "problem"]
    ctx.charge_frames(decoded)
    return Findings(findings=out, frames_decoded=decoded, note=f"{len(chunks)} chunk(s)")


# ------------------------------------------------------------------------------ tools
@_when(*_MEMORY, role="search")
def search_memory(ctx: ToolContext, inp: SearchArgs) -> Findings:
    """Search what is remembered about the video (chunk and segment texts of what was read,
    heard and seen, and facts learned earlier in sessions) by meaning; best spans first."""
    mem = _memory(ctx)
    hits = mem["episodic"].search(ctx.video_id, inp.query, level=["chunk", "segment"], k=inp.k)
    if inp.include_earlier_answers:
        hits += mem["session"].recall(ctx.video_id, inp.query, k=max(1, inp.k // 4))
    hits.sort(key=lambda r: -(r.score or 0.0))
    return Findings(
        findings=[
            Finding(
                t_start=r.t_start,
                t_end=r.t_end,
                kind="answer" if r.kind == "session" else f"memory.{r.level}",
                text=r.text,
                score=r.score,
                source=f"search_memory:{r.kind}",
            )
            for r in hits[: inp.k]
        ]
    )


def _text_embedder(ctx: ToolContext) -> Any:
    """One text embedder per session: memory's when memory is open, else the configured one."""

    def load() -> Any:
        if "memory" in ctx.resources or _has(*_MEMORY):
            return _memory(ctx)["embedder"]
        from vidsleuth.tools.models.factory import load_text_embedder

        return load_text_embedder(ctx.settings)

    return ctx.resource("text_embedder", load)


@_when(*_RETRIEVAL, role="search")
def retrieve_chunks(ctx: ToolContext, inp: RetrieveArgs) -> Findings:
    """Rank the video's 4-second chunks by how likely they show what is asked (the learned R-VLM
    scorer over frozen visual and text features); best chunks first, with their scores."""
    from vidsleuth.memory.indexer import plan_key
    from vidsleuth.tools.retrieval.embedding import QuestionEncoder
    from vidsleuth.tools.retrieval.features import load_video_features
    from vidsleuth.tools.retrieval.rvlm import RVLMRetriever

    if ctx.record is None:
        raise ToolCallError("no video in this session")
    emb = _text_embedder(ctx)
    plan = _plan(ctx)
    store = ctx.store
    if store is None:
        raise ToolCallError("retrieve_chunks needs the store, and the context has none")
    feats = ctx.resource(
        f"retrieval:{ctx.video_id}",
        lambda: load_video_features(
            store, ctx.video_id, plan_key(plan, ctx.settings), ctx.settings, text_embedder=emb
        ),
    )
    retriever = ctx.resource(
        "retriever:rvlm",
        lambda: RVLMRetriever.load(ctx.settings.retriever_ckpt, QuestionEncoder(emb)),
    )
    import numpy as np

    # Report the retriever's own distribution over chunks, softmax(s / tau) as in training,
    # so scores lie in [0, 1] beside memory's cosine scores (the stop rule compares them).
    raw = retriever.scores(inp.query, feats)
    z = np.exp((raw - raw.max()) / max(retriever.config.tau, 1e-6))
    prob = z / z.sum()
    top = np.argsort(-prob, kind="stable")[: inp.k]
    chunks = feats.chunks
    return Findings(
        findings=[
            Finding(
                t_start=chunks[i].t_start,
                t_end=chunks[i].t_end,
                kind="chunk",
                text="",
                score=float(prob[i]),
                source="retrieve_chunks:rvlm",
            )
            for i in top
        ]
    )


@_when(*_MEMORY, role="recall")
def recall_entity(ctx: ToolContext, inp: EntityArgs) -> Findings:
    """Recall a named person, place or thing: when it was seen and the facts known about it."""
    from vidsleuth.errors import VidsleuthError

    sem = _memory(ctx)["semantic"]
    try:
        ent, facts = sem.about(ctx.video_id, inp.name)
    except VidsleuthError as err:
        return Findings(note=str(err))
    out = [
        Finding(t_start=a, t_end=b, kind="entity", text=ent.name, score=1.0, source="recall_entity")
        for a, b in ent.spans[:5]
    ]
    for f in facts[:10]:
        for a, b in f.spans[:1]:
            out.append(
                Finding(
                    t_start=a, t_end=b, kind="fact", text=f.text, score=1.0, source="recall_entity"
                )
            )
    return Findings(findings=out)


@_when(*_MEMORY, role="write")
def remember_fact(ctx: ToolContext, inp: FactArgs) -> Findings:
    """Remember a fact learned while answering (with its evidence), for later questions."""
    rec = _memory(ctx)["session"].remember(
        ctx.video_id,
        inp.fact,
        evidence=inp.spans,
        question=inp.question,
    )
    return Findings(note=f"remembered {rec.text[:80]!r} as {rec.id}")


@_when(*_PERCEPTION, role="look")
def read_text(ctx: ToolContext, inp: SpanArgs) -> Findings:
    """Read the on-screen text (OCR) in a span of the video, from the coarse index's frames."""
    return _frame_perceive(ctx, "ocr", inp, "read_text")


@_when(*_PERCEPTION, role="look")
def detect_objects(ctx: ToolContext, inp: SpanArgs) -> Findings:
    """Detect objects (COCO classes) in a span of the video, from the coarse index's frames."""
    return _frame_perceive(ctx, "objects", inp, "detect_objects")


@_when(*_PERCEPTION, role="look")
def transcribe(ctx: ToolContext, inp: SpanArgs) -> Findings:
    """Transcribe the speech (and read the subtitles) in a span of the video."""
    from vidsleuth.tools.perception.cache import perceive_cached
    from vidsleuth.tools.perception.registry import make_perceiver

    assert ctx.store is not None and ctx.record is not None
    if not ctx.record.probe.has_audio:
        return Findings(note="the video has no audio stream")
    p = make_perceiver("speech", ctx.settings)
    w = ctx.settings.speech_window_s
    dur = float(ctx.record.probe.duration_s)
    out: list[Finding] = []
    k = int(inp.t_start // w)
    while k * w < min(inp.t_end, dur) or k == int(inp.t_start // w):
        a, b = k * w, min(dur, (k + 1) * w)
        obs, _ = perceive_cached(
            ctx.store, ctx.video_id, p, f"{a:.0f}-{b:.0f}", path=ctx.record.path, start=a, end=b
        )
        out += [
            _finding(o, "transcribe")
            for o in obs
            if o.kind != "problem" and o.t_start < inp.t_end and o.t_end > inp.t_start
        ]
        k += 1
        if k * w >= dur:
            break
    return Findings(findings=out)


@_when(*_PERCEPTION, "vidsleuth.tools.video", role="zoom", expensive=True)
def inspect_interval(ctx: ToolContext, inp: ZoomArgs) -> Findings:
    """Zoom into a span: decode it at a higher frame rate and resolution and run the looking
    tools on every decoded frame.  Decodes only this span; results are cached in the store."""
    import math

    from vidsleuth.tools.perception.registry import make_perceiver
    from vidsleuth.tools.perception.types import Observation
    from vidsleuth.tools.video import decode_interval

    assert ctx.store is not None and ctx.record is not None
    names = [_LOOK_TO_PERCEIVER[n] for n in inp.looks if n in _LOOK_TO_PERCEIVER] or ["ocr"]
    perceivers = [make_perceiver(n, ctx.settings) for n in names]
    key = f"{inp.t_start:.2f}-{inp.t_end:.2f}@{inp.fps:g}x{inp.max_side}"
    out: list[Finding] = []
    todo = []
    for p in perceivers:
        got = ctx.store.get_json(ctx.video_id, f"zoom.{p.name}", p.version, key)
        if got is None:
            todo.append(p)
        else:
            out += [_finding(Observation.model_validate(o), "inspect_interval") for o in got]
    decoded = 0
    if todo:
        fps = inp.fps
        want = math.ceil((inp.t_end - inp.t_start) * fps)
        left = ctx.frames_left()
        if left is not None and want > left:  # keep inside the frame budget: lower the rate
            if left <= 0:
                return Findings(findings=out, note="frame budget spent")
            fps = max(1e-3, left / max(1e-3, inp.t_end - inp.t_start))
        frames = decode_interval(
            ctx.record.path, inp.t_start, inp.t_end, fps, max_side=inp.max_side
        )
        decoded = len(frames)
        ctx.charge_frames(decoded)
        for p in todo:
            obs = [o for o in p.perceive_frames(frames) if o.kind != "problem"]
            ctx.store.put_json(
                ctx.video_id,
                f"zoom.{p.name}",
                p.version,
                key,
                [o.model_dump(mode="json") for o in obs],
            )
            out += [_finding(o, "inspect_interval") for o in obs]
    return Findings(findings=out, frames_decoded=decoded, note=f"{len(perceivers)} looker(s)")


def _looker(ctx: ToolContext) -> Any:
    """The model that looks: the perceiver VLM when one is configured, else the reasoning
    model when it accepts images, else None."""
    from vidsleuth.tools.models.factory import load_vlm, vlm_configured

    if vlm_configured(ctx.settings):
        return ctx.resource("vlm", lambda: load_vlm(ctx.settings))
    if ctx.chat is not None and ctx.chat.supports_images:
        return ctx.chat
    return None


def can_look(ctx: ToolContext) -> bool:
    """Whether ``look_at_frames`` has a model that sees (without loading it)."""
    from vidsleuth.tools.models.factory import vlm_configured

    return vlm_configured(ctx.settings) or bool(ctx.chat is not None and ctx.chat.supports_images)


def can_retrieve(ctx: ToolContext) -> bool:
    """Whether ``retrieve_chunks`` can score this video: the learned retriever reads features of
    every chunk, which a full index stores and the quick first pass of ``ask`` does not."""
    from vidsleuth.memory.indexer import is_fully_indexed, plan_key

    store = ctx.store
    if store is None or ctx.record is None:
        return False
    plan = _plan(ctx)
    key = plan_key(plan, ctx.settings)
    return bool(
        ctx.resource(
            f"indexed:{ctx.video_id}",
            lambda: is_fully_indexed(store, ctx.video_id, plan, key),
        )
    )


def unseen_chunks(ctx: ToolContext, t_start: float = 0.0, t_end: float | None = None) -> list[Any]:
    """Chunks of the window that some frame perceiver has not perceived yet (in plan order)."""
    from vidsleuth.tools.perception.registry import FRAME_PERCEIVERS, make_perceiver, parse_names

    store = ctx.store
    if store is None or ctx.record is None:
        return []
    plan = _plan(ctx)
    end = float("inf") if t_end is None else t_end
    names = [n for n in parse_names(ctx.settings.perceivers, ctx.settings) if n in FRAME_PERCEIVERS]
    producers = [(p.name, p.version) for p in (make_perceiver(n, ctx.settings) for n in names)]
    done = [set(store.keys(ctx.video_id, name, version)) for name, version in producers]
    return [
        c
        for c in plan.chunks
        if c.t_end > t_start and c.t_start < end and any(c.id not in d for d in done)
    ]


@_when(*_PERCEPTION, role="scan", expensive=True)
def scan_unseen(ctx: ToolContext, inp: ScanArgs) -> Findings:
    """Perceive the 4-second chunks that coarse perception has not seen yet (a video asked about
    before it was fully indexed has only its keyframes perceived), spread evenly over the window,
    then find the query in what they show.  Use it when the target was found nowhere; what it
    perceives is kept for later questions."""
    import numpy as np

    from vidsleuth.memory.indexer import plan_key
    from vidsleuth.tools import evidence
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.perception.registry import FRAME_PERCEIVERS, parse_names

    store, record = ctx.store, ctx.record
    if store is None or record is None:
        raise ToolCallError("scan_unseen needs a stored video, and the context has none")
    if inp.t_end is not None and inp.t_end <= inp.t_start:
        raise ToolCallError("t_end must be after t_start")
    unseen = unseen_chunks(ctx, inp.t_start, inp.t_end)
    limit = inp.max_chunks
    if (left := ctx.frames_left()) is not None:
        limit = min(limit, left)
    if not unseen or limit <= 0:
        why = "every chunk is already perceived" if not unseen else "no frame budget left"
        return Findings(findings=[], note=why)
    if len(unseen) > limit:
        unseen = [unseen[int(i)] for i in np.unique(np.linspace(0, len(unseen) - 1, limit))]
    plan = _plan(ctx)
    names = [n for n in parse_names(ctx.settings.perceivers, ctx.settings) if n in FRAME_PERCEIVERS]
    perceive_video(
        store,
        record,
        replace(plan, chunks=unseen),
        names,
        settings=ctx.settings,
        frames_plan=plan_key(plan, ctx.settings),
    )
    ctx.charge_frames(len(unseen))
    ctx.resources.pop(f"moments:{ctx.video_id}", None)  # find_mentions sees the new chunks
    moments = ctx.resource(
        f"moments:{ctx.video_id}", lambda: evidence.video_moments(store, record, ctx.settings)
    )
    spans = [(c.t_start, c.t_end) for c in unseen]
    hits: list[dict[str, Any]] = []
    seen: set[tuple[float, str]] = set()
    for q in dict.fromkeys([inp.query, *inp.also]):
        for h in evidence.locate(moments, q, None, _label_similarity(ctx))[:20]:
            key = (h["t_start"], h["text"])
            if key not in seen and any(a <= h["t_start"] < b for a, b in spans):
                seen.add(key)
                hits.append(h)
    left_unseen = len(unseen_chunks(ctx))
    return Findings(
        findings=[_located(h, "scan_unseen") for h in hits[:40]],
        frames_decoded=len(unseen),
        note=f"perceived {len(unseen)} more chunk(s); {left_unseen} not perceived yet",
    )


@_when("vidsleuth.tools.video", role="look", expensive=True)
def look_at_frames(ctx: ToolContext, inp: LookArgs) -> Findings:
    """Look closely at a span with the vision-language model: several frames of the span in
    one request with the question, answered with what is seen and when (only when a VLM is
    configured or the chat model accepts images)."""
    import math

    from vidsleuth.tools.perception.vlm_look import vlm_look
    from vidsleuth.tools.video import sample_frames

    model = _looker(ctx)
    if model is None or ctx.record is None:
        raise ToolCallError("look_at_frames needs a vision-language model (set vlm_backend)")
    s = ctx.settings
    span = max(0.0, inp.t_end - inp.t_start)
    k = max(1, min(s.vlm_max_images, math.ceil(span) or 1))
    left = ctx.frames_left()
    if left is not None:
        if left <= 0:
            return Findings(note="frame budget spent")
        k = min(k, left)
    times = [inp.t_start + span * (i + 0.5) / k for i in range(k)]
    frames = sample_frames(ctx.record.path, times, max_side=s.vlm_max_side)
    ctx.charge_frames(len(frames))
    res = vlm_look(
        model,
        frames,
        inp.prompt,
        max_images=s.vlm_max_images,
        max_side=s.vlm_max_side,
    )
    ctx.charge_model(res.usage)
    if not res.ok:
        raise ToolCallError(f"look_at_frames: unusable reply ({res.problem})")
    t = res.t if res.t is not None else (inp.t_start + inp.t_end) / 2
    text = " ".join(x for x in (res.answer, res.text) if x).strip()
    return Findings(
        findings=[
            Finding(
                t_start=float(t),
                t_end=float(t),
                kind="caption",
                text=text,
                score=float(res.confidence),
                source=f"look_at_frames:{getattr(model, 'id', 'vlm')}",
            )
        ],
        frames_decoded=len(frames),
        note=f"{res.frames_sent} frame(s) sent",
    )


def _located(hit: dict[str, Any], source: str) -> Finding:
    """A located moment (:func:`vidsleuth.tools.evidence.locate`) as a finding."""
    return Finding(
        t_start=hit["t_start"],
        t_end=hit["t_end"],
        kind=hit["kind"],
        text=hit["text"],
        score=hit["score"],
        source=source,
    )


def _label_similarity(ctx: ToolContext) -> Any:
    """How near a query is to a label, by the text embedder (loaded once per session)."""

    def similarity() -> Any:
        from vidsleuth.tools import evidence
        from vidsleuth.tools.models.factory import load_text_embedder

        return evidence.embedding_similarity(load_text_embedder(ctx.settings))

    return ctx.resource("label_similarity", similarity)


@_when(*_PERCEPTION, role="locate")
def find_mentions(ctx: ToolContext, inp: MentionArgs) -> Findings:
    """Find every moment of the whole video where words are read or heard, an object or scene
    label is seen or the frame turns one colour, from the cached coarse perception (no decoding,
    no model call); best matches first."""
    from vidsleuth.tools import evidence

    assert ctx.store is not None and ctx.record is not None
    rec = ctx.record
    moments = ctx.resource(
        f"moments:{ctx.video_id}", lambda: evidence.video_moments(ctx.store, rec, ctx.settings)
    )

    hits = evidence.locate(moments, inp.query, inp.kinds, _label_similarity(ctx))
    return Findings(
        findings=[_located(h, "find_mentions") for h in hits[: inp.k]],
        note=f"{len(hits)} moment(s) of {len(moments.items)}",
    )
