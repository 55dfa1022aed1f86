"""Episodic, semantic and session memory over a real embedded Chroma store: writing from
observations, the typed query API, map-reduce summaries, versioning and gc, the entity graph."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vidsleuth.memory.chroma import ChromaStore
from vidsleuth.memory.episodic import (
    CHUNK_PRODUCER,
    EpisodicMemory,
    apply_aliases,
    chunk_spans,
    chunk_text,
)
from vidsleuth.memory.maintenance import gc, verify
from vidsleuth.memory.records import InvalidQuery
from vidsleuth.memory.semantic import EntityGraph, SemanticMemory, merge_spans
from vidsleuth.memory.session import SessionMemory, evidence_of
from vidsleuth.memory.testing import HashingEmbedder
from vidsleuth.tools.models.chat import BaseChatModel, RawReply
from vidsleuth.tools.perception.types import Observation

VID = "vtest0001"
EMB = HashingEmbedder(128)


def obs(
    t0: float, t1: float, kind: str, text: str = "", label: str | None = None, version: str = "1"
) -> Observation:
    return Observation(
        t_start=t0,
        t_end=t1,
        kind=kind,
        text=text,
        label=label,
        score=0.9,
        producer=f"test.{kind}",
        version=version,
    )


def observations(ocr_version: str = "1") -> list[Observation]:
    return [
        obs(1.0, 1.5, "speech", "hello"),
        obs(1.5, 2.2, "speech", "my"),
        obs(2.2, 2.6, "speech", "name"),
        obs(2.6, 3.0, "speech", "is"),
        obs(3.0, 3.6, "speech", "Robert"),
        obs(2.0, 2.0, "object", label="person"),
        obs(3.0, 3.0, "object", label="person"),
        obs(61.0, 61.0, "ocr", "WAREHOUSE 17", version=ocr_version),
        obs(62.0, 62.0, "ocr", "WAREHOUSE  17", version=ocr_version),
        obs(70.0, 72.0, "object", label="car"),
        obs(74.0, 76.0, "object", label="car"),
        obs(130.0, 131.0, "speech", "Bobby"),
        obs(131.0, 131.5, "speech", "drives"),
        obs(131.5, 132.0, "speech", "away"),
        obs(130.0, 132.0, "object", label="car"),
        obs(150.0, 150.0, "problem", "audio dropout"),
    ]


class RuleChat(BaseChatModel):
    """A scripted chat model: it summarises what the prompt's observation lines say, by rule.

    Map replies restate the first observation line and list capitalised words as names; the
    reduce reply joins the captions and maps "Bobby" to "Robert" when both names occur.
    """

    id = "rule-chat"

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.calls = 0

    def _generate(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
    ) -> RawReply:
        self.calls += 1
        user = messages[-1]["content"]
        if "Observations:" in user:
            lines = [ln for ln in user.split("\n") if ln.startswith("[")]
            first = lines[0].split("] ", 1)[1]
            names = sorted(set(re.findall(r"\b[A-Z][a-z]+\b", " ".join(lines))))
            return RawReply(json.dumps({"summary": f"In this segment: {first}.", "names": names}))
        caps = [ln.split("] ", 1)[1] for ln in user.split("\n") if ln.startswith("[")]
        aliases = [{"alias": "Bobby", "canonical": "Robert"}] if "Bobby" in user else []
        return RawReply(json.dumps({"summary": " Then ".join(caps), "aliases": aliases}))


@pytest.fixture()
def store(tmp_path: Path):
    cs = ChromaStore.open_embedded(tmp_path, timeout=5)
    yield cs
    cs.close()


def spans() -> list[tuple[float, float]]:
    return chunk_spans(180.0, 4.0)


def test_chunk_text_and_spans() -> None:
    assert chunk_spans(10.0, 4.0) == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    text = chunk_text(observations()[:7])
    assert text == "speech: hello my name is Robert\nobjects: person x2"
    ocr = chunk_text(observations()[7:9])
    assert ocr == "ocr: WAREHOUSE 17"  # the same sign read twice appears once
    assert chunk_text([obs(1, 2, "problem", "x")]) == ""


def test_episodic_search_filters_and_errors(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    version, n = ep.write_chunks(VID, observations(), spans())
    assert n == 5  # chunks 0, 60, 68, 72 (car split by midpoint), 128; not the problem-only one
    assert ep.write_chunks(VID, observations(), spans()) == (version, 0)  # computes nothing

    hits = ep.search(VID, "warehouse 17", k=3)
    assert hits[0].t_start == 60.0 and "WAREHOUSE 17" in hits[0].text
    assert hits[0].score is not None and hits[0].score > (hits[1].score or 0)
    assert hits[0].producer == CHUNK_PRODUCER and hits[0].version == version
    assert hits[0].level == "chunk" and hits[0].meta["n_obs"] == 2

    early = ep.search(VID, "warehouse 17", t_start=0, t_end=50, k=5)
    assert early and all(h.t_start <= 50 for h in early)
    assert all("WAREHOUSE" not in h.text for h in early)
    window = ep.search(VID, "car", t_start=69, t_end=77, k=10)
    assert {h.t_start for h in window} == {68.0, 72.0}
    assert ep.search(VID, "car", level="segment") == []

    with pytest.raises(InvalidQuery, match="inverted: t_start=90 s is after t_end=30 s"):
        ep.search(VID, "car", t_start=90, t_end=30)
    with pytest.raises(InvalidQuery, match="unknown level"):
        ep.search(VID, "car", level="scene")
    with pytest.raises(InvalidQuery, match="k must be"):
        ep.search(VID, "car", k=0)
    listing = ep.list(VID, level="chunk")
    assert [r.t_start for r in listing] == sorted(r.t_start for r in listing)
    assert ep.search("unknown-video", "car") == []


def test_summaries_map_reduce_cached_and_names_unified(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    version, _ = ep.write_chunks(VID, observations(), spans())
    chat = RuleChat()
    run = ep.summarize(VID, chat, chunk_version=version, segment_seconds=60)
    assert not run.cached and not run.failures
    assert chat.calls == 3  # the two segments with speech, one reduce
    assert [(s.t_start, s.t_end) for s in run.segments] == [(0, 4), (60, 76), (128, 132)]
    # no speech there: the sign is quoted and the car listed, with no model call
    assert run.segments[1].text == 'No speech. On screen: "WAREHOUSE 17". Detected: car.'
    last = run.segments[-1]
    assert "Robert" in last.text and "Bobby" not in last.text  # the reduce unified the names
    assert run.video is not None and run.video.level == "video"
    assert "Bobby -> Robert" in str(run.video.meta["aliases"])

    again = ep.summarize(VID, chat, chunk_version=version, segment_seconds=60)
    assert again.cached and chat.calls == 3  # nothing computed the second time
    assert {r.id for r in again.segments} == {r.id for r in run.segments}

    # both segments that name him say "Robert" (the hashing embedder's buckets cancel "robert"
    # in one of them, so its search scores tie at 0: the stored texts are what is checked)
    robert = ep.list(VID, level="segment")
    assert {h.t_start for h in robert if "Robert" in h.text} == {0.0, 128.0}
    levels = {h.level for h in ep.search(VID, "car", level=["segment", "video"], k=10)}
    assert levels == {"segment", "video"}


def test_apply_aliases_whole_words() -> None:
    from vidsleuth.memory.episodic import Alias

    al = [Alias(alias="Bob", canonical="Robert"), Alias(alias="the boss", canonical="Alice")]
    assert apply_aliases("Bob met the boss; Bobcat ran", al) == "Robert met Alice; Bobcat ran"


def test_versions_side_by_side_then_gc(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    v1, n1 = ep.write_chunks(VID, observations("1"), spans())
    v2, n2 = ep.write_chunks(VID, observations("2"), spans())  # new OCR model version
    assert v1 != v2 and n1 == n2 == 5
    assert ep.count(VID) == 10
    assert {r.version for r in ep.search(VID, "warehouse", k=10)} == {v1, v2}
    assert [r.version for r in ep.search(VID, "warehouse", version=v2, k=10)] == [v2] * 5

    ep2 = EpisodicMemory(store, EMB)
    ep2.write_chunks("vgone", observations(), spans())
    dry = gc(store, known_videos=[VID], dry_run=True)
    assert dry.records_removed == 5 and ep.count(VID) == 10
    report = gc(store, known_videos=[VID])
    assert [(p, v, n) for _, p, v, n in report.dropped_versions] == [(CHUNK_PRODUCER, v1, 5)]
    assert len(report.dropped_collections) == 1 and "vgone" in report.dropped_collections[0]
    assert ep.count(VID) == 5 and ep.count("vgone") == 0
    assert {r.version for r in ep.list(VID)} == {v2}
    assert gc(store, known_videos=[VID]).records_removed == 0
    rep = verify(store)
    assert rep.ok and rep.records == 5


def test_gc_keeps_pinned_versions(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    v1, _ = ep.write_chunks(VID, observations("1"), spans())
    ep.write_chunks(VID, observations("2"), spans())
    assert gc(store, keep=[(CHUNK_PRODUCER, v1)]).records_removed == 0
    assert ep.count(VID) == 10


def test_entity_graph_queries_and_persistence(store: ChromaStore, tmp_path: Path) -> None:
    ep = EpisodicMemory(store, EMB)
    ep.write_chunks(VID, observations(), spans())
    sem = SemanticMemory.for_store(store, EMB, tmp_path)
    assert sem.add_observations(VID, observations()) == 3  # person, car, WAREHOUSE 17
    with sem.editing(VID) as g:
        g.add_entity("Robert", category="person", spans=[(3.0, 3.6)], aliases=["Bobby"])
        g.add_fact("Robert drives the car away", entities=["Robert", "car"], spans=[(130.0, 132.0)])

    assert sem.when(VID, "car") == [(70.0, 76.0), (130.0, 132.0)]
    assert sem.when(VID, "warehouse 17") == [(61.0, 62.0)]
    assert sem.when(VID, "bobby") == [(3.0, 3.6), (130.0, 132.0)]  # alias, plus its fact's span
    ent, facts = sem.about(VID, "Robert")
    assert ent.category == "person" and [f.text for f in facts] == ["Robert drives the car away"]
    assert facts[0].entities == ["Robert", "car"] and facts[0].spans == [(130.0, 132.0)]

    before = sem.before(VID, "WAREHOUSE 17", ep, window=60)
    assert [r.t_start for r in before] == [0.0]  # the only earlier chunk with observations
    after = sem.after(VID, "warehouse 17", ep, window=80)
    assert [r.t_start for r in after] == [68.0, 72.0, 128.0]
    with pytest.raises(InvalidQuery, match="no entity called 'unicorn'"):
        sem.when(VID, "unicorn")

    path = sem.graph_path(VID)
    data = json.loads(path.read_text())
    assert data["graph"]["format"] == 1 and data["graph"]["video_id"] == VID
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    reloaded = EntityGraph.load(path, VID)
    assert [e.name for e in reloaded.entities()] == [e.name for e in sem.graph(VID).entities()]
    # the Chroma mirror finds entities by meaning of their text
    hits = sem.search(VID, "Robert drives", level="fact", k=1)
    assert hits and hits[0].text == "Robert drives the car away"
    hits = sem.search(VID, "warehouse", level="entity", k=1)
    assert hits[0].meta["entity"] == "WAREHOUSE 17"


def test_newer_graph_format_refused(tmp_path: Path) -> None:
    from vidsleuth.errors import StoreError

    p = tmp_path / "g.json"
    p.write_text(json.dumps({"graph": {"format": 9}, "nodes": [], "links": []}))
    with pytest.raises(StoreError, match="format 9 is newer"):
        EntityGraph.load(p, VID)


def test_merge_spans() -> None:
    assert merge_spans([(5, 6), (0, 1), (1, 2)]) == [(0.0, 2.0), (5.0, 6.0)]
    assert merge_spans([(0, 1), (3, 4)], gap=2.5) == [(0.0, 4.0)]


def test_session_facts_found_by_later_session(tmp_path: Path) -> None:
    with ChromaStore.open_embedded(tmp_path) as cs:
        sem = SemanticMemory.for_store(cs, EMB, tmp_path)
        ses = SessionMemory(cs, EMB)
        rec = ses.remember(
            VID,
            "The driver of the red car is Robert",
            evidence=[(130.0, 132.0), (3.0, 3.6)],
            question="Who drives the red car?",
            session_id="s1",
            entities=["Robert"],
            semantic=sem,
        )
        again = ses.remember(
            VID,
            "The driver of the red car is Robert",
            evidence=[(130, 132)],
            question="Who drives the red car?",
        )
        assert again.id == rec.id and ses.count(VID) == 1
        with pytest.raises(InvalidQuery, match="evidence"):
            ses.remember(VID, "x", evidence=[], question="q")
    with ChromaStore.open_embedded(tmp_path) as cs:  # a later session, a fresh connection
        ses = SessionMemory(cs, EMB)
        found = ses.recall(VID, "who drives the red car", k=3)
        assert found[0].text == "The driver of the red car is Robert"
        assert found[0].meta["question"] == "Who drives the red car?"
        assert evidence_of(found[0]) == [(3.0, 3.6), (130.0, 132.0)]
        sem = SemanticMemory.for_store(cs, EMB, tmp_path)
        _, facts = sem.about(VID, "robert")
        assert facts[0].source == "session" and facts[0].question == "Who drives the red car?"


def test_visual_memory_vectors_and_modalities(store: ChromaStore) -> None:
    import numpy as np

    from vidsleuth.memory.visual import VisualMemory

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(12, EMB.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vis = VisualMemory(store, EMB)
    spans4 = chunk_spans(48.0, 4.0)
    assert vis.add_vectors(VID, spans4, vecs, version="vis1") == 12
    assert vis.add_vectors(VID, spans4, vecs, version="vis1") == 0
    query = vecs[7] + 0.05 * rng.normal(size=EMB.dim).astype(np.float32)
    hits = vis.search(VID, vector=query, k=3)
    want = float(query @ vecs[7] / np.linalg.norm(query))
    assert hits[0].t_start == 28.0 and hits[0].score == pytest.approx(want, abs=1e-4)
    early = vis.search(VID, vector=query, t_start=0, t_end=10, k=5)
    assert sorted(h.t_start for h in early) == [0.0, 4.0, 8.0]  # only chunks overlapping 0-10 s
    with pytest.raises(InvalidQuery, match="cannot embed images"):
        vis.search_image(VID, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidQuery, match="chunk or frame"):
        vis.add_vectors(VID, spans4, vecs, level="segment", version="vis1")


def test_python_filter_agrees_with_chroma(store: ChromaStore) -> None:
    """``search`` filters in Python (Chroma's own filter scans every video); both must agree."""
    from vidsleuth.memory.records import build_where, matches_where

    ep = EpisodicMemory(store, EMB)
    version, _ = ep.write_chunks(VID, observations(), spans())
    ep.summarize(VID, RuleChat(), chunk_version=version, segment_seconds=60)
    col = store.existing(ep.collection_name(VID))
    assert col is not None
    everything = col.get(include=["metadatas"])
    cases = [
        {"level": "chunk"},
        {"level": ["segment", "video"]},
        {"t_start": 60, "t_end": 100},
        {"t_start": 0, "t_end": 3},
        {"t_start": 130},
        {"t_end": 10, "level": "segment"},
        {"version": version},
        {"producer": CHUNK_PRODUCER, "t_start": 50, "t_end": 70},
    ]
    for case in cases:
        flt = build_where(**case)
        chroma_ids = set(col.get(where=flt, include=[])["ids"])
        ours = {
            rid
            for rid, meta in zip(everything["ids"], everything["metadatas"], strict=True)
            if matches_where(dict(meta), flt)
        }
        assert ours == chroma_ids and ours, case
        hits = ep.search(VID, "car robert warehouse", k=50, **case)
        assert {h.id for h in hits} == chroma_ids, case
