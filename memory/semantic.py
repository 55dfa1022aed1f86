"""Semantic memory: entities and facts with the time spans that support them.

The truth is a networkx graph per video, persisted as node-link JSON at
``<store>/graph/<video_id>.json`` (written to a temp file, fsynced, then renamed, so a reader or a
crash never sees half a file; read-modify-write is serialised by a per-video file lock).  Every
entity and fact is mirrored as a text record in Chroma so it can be found by meaning
(``semantic`` collection); the graph answers the structured questions:

* "when did X appear"        -> :meth:`SemanticMemory.when`   (merged spans)
* "what is known about X"    -> :meth:`SemanticMemory.about`  (facts with their spans, provenance)
* "what happened before X"   -> :meth:`SemanticMemory.before` (episodes just before X first appears)
* "what happened after X"    -> :meth:`SemanticMemory.after`

Graph shape: entity nodes ``e:<normalised name>`` (``name, category, aliases, spans``, and for
things perceived ``count``: sightings, ``best``: highest label score) and fact nodes ``f:<hash>``
(``text, spans, source, question, producer, version``), with an ``about`` edge from each entity to
each fact that mentions it.

Perceived entities rest on evidence that can bear them: tags and detections below their calibrated
floor (:class:`~vidsleuth.memory.labels.LabelFloor`) never become entities, and a rebuild drops a
perceived entity whose sightings all fall below it (unless a fact is about it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from vidsleuth.errors import StoreError
from vidsleuth.memory.labels import LabelFloor
from vidsleuth.memory.records import InvalidQuery, MemoryRecord, VectorMemory, record_id
from vidsleuth.spans import Span, merge_spans
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    import networkx as nx

    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.memory.episodic import EpisodicMemory, ObservationLike
    from vidsleuth.tools.models.base import Embedder

ENTITY_PRODUCER = "semantic.entity"
FACT_PRODUCER = "semantic.fact"
GRAPH_FORMAT = 1
#: categories of entities made from observations (:func:`entities_from_observations`)
PERCEIVED = ("object", "tag", "on-screen text")


def normalize_name(name: str) -> str:
    """Case-, space- and punctuation-insensitive key of a name ("Dr. Smith" == "dr smith")."""
    return " ".join(re.findall(r"[\w']+", name.lower()))


def fact_key(text: str, producer: str = FACT_PRODUCER, version: str = "") -> str:
    """The graph key of a fact: the same text from the same producer version is one fact."""
    digest = hashlib.blake2b(
        f"{normalize_name(text)}\x1f{producer}\x1f{version}".encode(), digest_size=8
    ).hexdigest()
    return f"f:{digest}"


class Entity(BaseModel):
    key: str
    name: str
    category: str = "thing"
    aliases: list[str] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    count: int = Field(0, description="sightings (perceived entities), else supporting spans")
    best: float | None = Field(None, description="highest label score of a sighting")

    @property
    def first_seen(self) -> float | None:
        return self.spans[0][0] if self.spans else None

    @property
    def last_seen(self) -> float | None:
        return max(e for _, e in self.spans) if self.spans else None


class Fact(BaseModel):
    key: str
    text: str
    entities: list[str] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    source: str = "episode"
    question: str | None = None
    producer: str = FACT_PRODUCER
    version: str = ""


class EntityGraph:
    """One video's entity graph, with atomic load/save."""

    def __init__(self, video_id: str, graph: nx.DiGraph | None = None) -> None:
        import networkx as nx

        self.video_id = video_id
        self.g: nx.DiGraph = graph if graph is not None else nx.DiGraph(video_id=video_id)
        # nodes removed since load -> (producer, version) of their mirrored record, deleted too
        self.removed: dict[str, tuple[str, str]] = {}

    # ----------------------------------------------------------------------------- persistence
    @classmethod
    def load(cls, path: Path, video_id: str) -> EntityGraph:
        import networkx as nx

        if not path.exists():
            return cls(video_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            fmt = int(data.get("graph", {}).get("format", GRAPH_FORMAT))
        except (OSError, ValueError, AttributeError) as err:
            raise StoreError(f"{path}: unreadable entity graph ({err})") from err
        if fmt > GRAPH_FORMAT:
            raise StoreError(
                f"{path}: entity graph format {fmt} is newer than this vidsleuth reads "
                f"(up to {GRAPH_FORMAT}); left untouched"
            )
        g = nx.node_link_graph(data, directed=True, multigraph=False, edges="links")
        for _, attrs in g.nodes(data=True):
            if "spans" in attrs:
                attrs["spans"] = [tuple(s) for s in attrs["spans"]]
        return cls(video_id, g)

    def save(self, path: Path) -> None:
        import networkx as nx

        self.g.graph["format"] = GRAPH_FORMAT
        self.g.graph["video_id"] = self.video_id
        data = nx.node_link_data(self.g, edges="links")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    # ----------------------------------------------------------------------------- editing
    def add_entity(
        self,
        name: str,
        *,
        category: str = "thing",
        spans: Iterable[Sequence[float]] = (),
        aliases: Iterable[str] = (),
    ) -> Entity:
        """Add or extend an entity (spans merged, aliases accumulated)."""
        key = "e:" + normalize_name(name)
        if key == "e:":
            raise InvalidQuery(f"entity name {name!r} has no letters or digits")
        node = self.g.nodes.get(key)
        if node is None:
            self.g.add_node(
                key, type="entity", name=name.strip(), category=category, aliases=[], spans=[]
            )
            node = self.g.nodes[key]
        node["spans"] = merge_spans([*node["spans"], *spans])
        for a in aliases:
            if normalize_name(a) != normalize_name(node["name"]) and a not in node["aliases"]:
                node["aliases"].append(a)
        return self.entity(key)

    def set_perceived(self, found: Sighted) -> Entity:
        """Record what perception saw of a thing: its spans (replacing earlier perceived spans:
        the observations are the whole cache), sighting count and best score."""
        key = "e:" + normalize_name(found.name)
        node = self.g.nodes.get(key)
        if node is not None and node.get("category") in PERCEIVED:
            node["spans"] = []
        self.add_entity(found.name, category=found.category, spans=found.spans)
        node = self.g.nodes[key]
        node["count"] = found.count
        node["best"] = found.best
        return self.entity(key)

    def remove_entity(self, key: str) -> None:
        """Remove an entity node (and its edges); facts stay."""
        if key in self.g and self.g.nodes[key].get("type") == "entity":
            self.g.remove_node(key)
            self.removed[key] = (ENTITY_PRODUCER, "")

    def remove_fact(self, key: str) -> bool:
        """Remove a fact node, and entities left with no fact whose only evidence it was."""
        if key not in self.g or self.g.nodes[key].get("type") != "fact":
            return False
        node = self.g.nodes[key]
        self.removed[key] = (node.get("producer", FACT_PRODUCER), node.get("version", ""))
        about = list(self.g.predecessors(key))
        self.g.remove_node(key)
        for ent in about:
            node = self.g.nodes[ent]
            if node.get("category") == "thing" and not self.g.degree(ent) and "count" not in node:
                self.remove_entity(ent)
        return True

    def add_fact(
        self,
        text: str,
        *,
        entities: Sequence[str] = (),
        spans: Iterable[Sequence[float]] = (),
        source: str = "episode",
        question: str | None = None,
        producer: str = FACT_PRODUCER,
        version: str = "",
    ) -> Fact:
        """Add a fact linked to the named entities (created if new) and its supporting spans."""
        spans = merge_spans(spans)
        key = fact_key(text, producer, version)
        if key in self.g:
            node = self.g.nodes[key]
            node["spans"] = merge_spans([*node["spans"], *spans])
        else:
            self.g.add_node(
                key,
                type="fact",
                text=text.strip(),
                spans=spans,
                source=source,
                question=question,
                producer=producer,
                version=version,
            )
        for name in entities:
            ent = self.find(name) or self.add_entity(name, spans=spans)
            self.g.add_edge(ent.key, key, rel="about")
        return self.fact(key)

    # ----------------------------------------------------------------------------- reading
    def entity(self, key: str) -> Entity:
        a = self.g.nodes[key]
        spans = list(a.get("spans", []))
        return Entity(
            key=key,
            name=a["name"],
            category=a.get("category", "thing"),
            aliases=list(a.get("aliases", [])),
            spans=spans,
            count=int(a.get("count", len(spans))),
            best=a.get("best"),
        )

    def fact(self, key: str) -> Fact:
        a = self.g.nodes[key]
        ents = [self.g.nodes[u]["name"] for u in self.g.predecessors(key)]
        return Fact(
            key=key,
            text=a["text"],
            entities=sorted(ents),
            spans=list(a["spans"]),
            source=a.get("source", "episode"),
            question=a.get("question"),
            producer=a.get("producer", FACT_PRODUCER),
            version=a.get("version", ""),
        )

    def entities(self) -> list[Entity]:
        ents = [self.entity(n) for n, a in self.g.nodes(data=True) if a.get("type") == "entity"]
        return sorted(
            ents, key=lambda e: (e.first_seen if e.first_seen is not None else 1e18, e.name.lower())
        )

    def facts(self) -> list[Fact]:
        fs = [self.fact(n) for n, a in self.g.nodes(data=True) if a.get("type") == "fact"]
        return sorted(fs, key=lambda f: (f.spans[0][0] if f.spans else 1e18, f.text))

    def find(self, name: str) -> Entity | None:
        """An entity by name or alias (normalised exact match), else None."""
        norm = normalize_name(name)
        key = "e:" + norm
        if key in self.g:
            return self.entity(key)
        for n, a in self.g.nodes(data=True):
            if a.get("type") == "entity" and any(normalize_name(x) == norm for x in a["aliases"]):
                return self.entity(n)
        return None

    def facts_about(self, key: str) -> list[Fact]:
        fs = [self.fact(f) for f in self.g.successors(key) if self.g.nodes[f].get("type") == "fact"]
        return sorted(fs, key=lambda f: (f.spans[0][0] if f.spans else 1e18, f.text))


@dataclass
class Sighted:
    """One thing perception saw: its name, category, merged spans, sightings and best score."""

    name: str
    category: str
    spans: list[Span]
    count: int
    best: float | None


def _named(o: ObservationLike) -> tuple[str, str] | None:
    if o.kind in ("object", "tag"):
        return (o.label or o.text or "").strip(), "object" if o.kind == "object" else "tag"
    if o.kind == "ocr":
        return " ".join((o.text or "").split()), "on-screen text"
    return None


def entities_from_observations(
    observations: Sequence[ObservationLike],
    *,
    gap: float = 8.0,
    floor: LabelFloor | None = None,
) -> list[Sighted]:
    """Every object/tag label (at or above ``floor``) and on-screen text line, as a thing seen.

    No model: detections give things ("person", "car"), OCR lines give on-screen names ("Warehouse
    17").  Sightings closer than ``gap`` seconds join into one appearance.
    """
    found: dict[tuple[str, str], Sighted] = {}
    for o in observations:
        named = _named(o)
        if named is None or not _usable(o, named[0], floor):
            continue
        name, cat = named
        s = found.setdefault((normalize_name(name), cat), Sighted(name, cat, [], 0, None))
        s.spans.append((o.t_start, o.t_end))
        s.count += 1
        if o.score is not None:
            s.best = max(o.score, s.best if s.best is not None else o.score)
    for s in found.values():
        s.spans = merge_spans(s.spans, gap)
    return list(found.values())


def _usable(o: ObservationLike, name: str, floor: LabelFloor | None) -> bool:
    """Whether a labelled observation may become an entity: a confident label, or on-screen
    text of at least two letters or digits (one character read alone, "0" or "O", is noise)."""
    if len(normalize_name(name).replace(" ", "")) < 2:
        return False
    return floor is None or floor.keeps(o)


def rejected_labels(observations: Sequence[ObservationLike], floor: LabelFloor) -> set[str]:
    """Entity keys of things seen only in unusable sightings (what a rebuild must not keep)."""
    low: set[str] = set()
    kept: set[str] = set()
    for o in observations:
        named = _named(o)
        if named is None or not normalize_name(named[0]):
            continue
        key = "e:" + normalize_name(named[0])
        (kept if _usable(o, named[0], floor) else low).add(key)
    return low - kept


def graph_file(graph_dir: Path, video_id: str) -> Path:
    """``<store>/graph/<video_id>.json`` (the id made safe for a file name)."""
    safe = re.sub(r"[^\w.-]", "_", video_id)
    return Path(graph_dir) / f"{safe}.json"


class SemanticMemory(VectorMemory):
    """Entities and facts of each video: a networkx graph on disk, mirrored in Chroma for search."""

    kind = "semantic"

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        graph_dir: Path,
        *,
        floor: LabelFloor | None = None,
    ) -> None:
        super().__init__(store, embedder)
        self.graph_dir = Path(graph_dir)
        self.floor = floor or LabelFloor()

    @classmethod
    def for_store(
        cls,
        store: ChromaStore,
        embedder: Embedder,
        store_dir: Path,
        *,
        floor: LabelFloor | None = None,
    ) -> SemanticMemory:
        return cls(store, embedder, Path(store_dir) / "graph", floor=floor)

    def graph_path(self, video_id: str) -> Path:
        return graph_file(self.graph_dir, video_id)

    def graph(self, video_id: str) -> EntityGraph:
        return EntityGraph.load(self.graph_path(video_id), video_id)

    @contextlib.contextmanager
    def editing(self, video_id: str, *, timeout: float = 30.0) -> Iterator[EntityGraph]:
        """Load, edit and atomically save one video's graph under its file lock; then mirror it."""
        from filelock import FileLock, Timeout

        path = self.graph_path(video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock", thread_local=False)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreError(f"{path}: entity graph is locked by another process") from None
        try:
            g = EntityGraph.load(path, video_id)
            yield g
            g.save(path)
            self.mirror(g)
            gone = [
                record_id(self.kind, video_id, producer, version, k)
                for k, (producer, version) in g.removed.items()
                if k not in g.g
            ]
            self.delete(video_id, gone)
        finally:
            lock.release()

    # ----------------------------------------------------------------------------- writing
    def mirror(self, g: EntityGraph) -> int:
        """Write the graph's entities and facts as text records (upserted: entity text grows)."""
        records: list[MemoryRecord] = []
        for ent in g.entities():
            facts = g.facts_about(ent.key)
            text = f"{ent.name} ({ent.category})"
            if ent.aliases:
                text += "; also called " + ", ".join(ent.aliases)
            if facts:
                text += ". " + " ".join(f.text for f in facts[:20])
            s, e = (ent.spans[0][0], ent.last_seen or 0.0) if ent.spans else (0.0, 0.0)
            records.append(
                MemoryRecord(
                    id=record_id(self.kind, g.video_id, ENTITY_PRODUCER, "", ent.key),
                    kind="semantic",
                    video_id=g.video_id,
                    level="entity",
                    t_start=s,
                    t_end=e,
                    text=text,
                    producer=ENTITY_PRODUCER,
                    version=version_of(graph=GRAPH_FORMAT),
                    meta={"entity": ent.name, "category": ent.category, "node": ent.key},
                )
            )
        for f in g.facts():
            s, e = (f.spans[0][0], max(b for _, b in f.spans)) if f.spans else (0.0, 0.0)
            meta: dict[str, Any] = {
                "node": f.key,
                "source": f.source,
                "entities": "; ".join(f.entities),
            }
            if f.question:
                meta["question"] = f.question
            records.append(
                MemoryRecord(
                    id=record_id(self.kind, g.video_id, f.producer, f.version, f.key),
                    kind="semantic",
                    video_id=g.video_id,
                    level="fact",
                    t_start=s,
                    t_end=e,
                    text=f.text,
                    producer=f.producer,
                    version=f.version or "0",
                    meta=meta,
                )
            )
        return self.upsert(records)

    def upsert(self, records: Sequence[MemoryRecord]) -> int:
        """Insert or replace records whose text changes as the graph grows (one call per batch)."""
        if not records:
            return 0
        vecs = self.embedder.embed_texts([r.text for r in records])  # outside the store lock
        now = time.time()
        with self.store.access():
            col = self._collection(records[0].video_id, create=True)
            assert col is not None
            col.upsert(
                ids=[r.id for r in records],
                embeddings=vecs,
                documents=[r.text for r in records],
                metadatas=[{**r.metadata(), "written_at": now} for r in records],
            )
        return len(records)

    def add_observations(self, video_id: str, observations: Sequence[ObservationLike]) -> int:
        """Record every confidently labelled thing and on-screen text line as an entity with its
        spans, sightings and best score; drop perceived entities whose labels all fell below the
        floor (an earlier build may have kept them), unless a fact is about them."""
        found = entities_from_observations(observations, floor=self.floor)
        low = rejected_labels(observations, self.floor)
        with self.editing(video_id) as g:
            for f in found:
                g.set_perceived(f)
            for key in low:
                node = g.g.nodes.get(key)
                if node is not None and node.get("category") in PERCEIVED and not g.g.degree(key):
                    g.remove_entity(key)
        return len(found)

    # ----------------------------------------------------------------------------- reading
    def resolve(self, video_id: str, name: str, *, min_score: float = 0.5) -> Entity | None:
        """The entity ``name`` refers to: exact name or alias, else the closest mirrored entity."""
        g = self.graph(video_id)
        ent = g.find(name)
        if ent is not None:
            return ent
        hits = self.search(video_id, name, level="entity", k=1)
        if hits and (hits[0].score or 0.0) >= min_score:
            node = str(hits[0].meta.get("node", ""))
            if node in g.g:
                return g.entity(node)
        return None

    def _require(self, video_id: str, name: str) -> Entity:
        ent = self.resolve(video_id, name)
        if ent is None:
            raise InvalidQuery(f"no entity called {name!r} is known for video {video_id}")
        return ent

    def when(self, video_id: str, name: str) -> list[Span]:
        """Every span in which ``name`` was seen or mentioned (merged, in time order)."""
        ent = self._require(video_id, name)
        g = self.graph(video_id)
        spans = list(ent.spans)
        for f in g.facts_about(ent.key):
            spans.extend(f.spans)
        return merge_spans(spans)

    def about(self, video_id: str, name: str) -> tuple[Entity, list[Fact]]:
        """The entity and every fact known about it, with supporting spans and provenance."""
        ent = self._require(video_id, name)
        return ent, self.graph(video_id).facts_about(ent.key)

    def before(
        self,
        video_id: str,
        name: str,
        episodic: EpisodicMemory,
        *,
        window: float = 60.0,
        level: str = "chunk",
        k: int = 5,
    ) -> list[MemoryRecord]:
        """Episodes ending before ``name`` first appears (within ``window`` s), nearest first."""
        spans = self.when(video_id, name)
        if not spans:
            return []
        t0 = spans[0][0]
        recs = [
            r
            for r in episodic.list(video_id, level=level, t_start=max(0.0, t0 - window), t_end=t0)
            if r.t_end <= t0
        ]
        return sorted(recs, key=lambda r: -r.t_start)[:k]

    def after(
        self,
        video_id: str,
        name: str,
        episodic: EpisodicMemory,
        *,
        window: float = 60.0,
        level: str = "chunk",
        k: int = 5,
    ) -> list[MemoryRecord]:
        """Episodes starting after ``name`` last appears (within ``window`` s), nearest first."""
        spans = self.when(video_id, name)
        if not spans:
            return []
        t1 = max(e for _, e in spans)
        recs = [
            r
            for r in episodic.list(video_id, level=level, t_start=t1, t_end=t1 + window)
            if r.t_start >= t1
        ]
        return sorted(recs, key=lambda r: r.t_start)[:k]
