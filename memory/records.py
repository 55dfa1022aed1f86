"""Memory records and the one typed query path every memory kind shares.

Layout in Chroma: one collection per (memory kind, video, embedding space), named
``<kind>-<video_id>-<space>``.  Partitioning by video keeps every query inside one video's small
index (the agent always asks about one video), which is what makes filtered queries fast: a
``where video_id = ...`` filter over one big collection took 60 ms at 100k records here, while a
per-video collection answers in a few ms (see ``evals/bench_memory.py``).  It also makes removing a
video a collection drop.  Partitioning by embedding space means a new embedder adds collections
beside the old ones instead of mixing vector spaces.

Every record carries ``video_id, level, t_start, t_end, producer, version`` in its metadata.  A
record is written by exactly one ``add`` call carrying id, vector, text and metadata together, so a
process killed mid-write leaves the whole record or none of it.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, Field

from vidsleuth.errors import VidsleuthError

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.tools.models.base import Embedder

Kind = Literal["episodic", "visual", "semantic", "session"]
Level = Literal["frame", "chunk", "segment", "video", "entity", "fact"]
LEVELS: tuple[str, ...] = get_args(Level)
Scalar = str | int | float | bool
#: metadata keys every record has; anything else is kind-specific and lands in ``MemoryRecord.meta``
CORE_KEYS = ("video_id", "level", "t_start", "t_end", "producer", "version")
#: bookkeeping keys added on write, hidden from ``MemoryRecord.meta``
INTERNAL_KEYS = ("written_at",)


class InvalidQuery(VidsleuthError, ValueError):
    """A memory query that cannot mean anything (inverted time range, unknown level, k < 1)."""


class MemoryRecord(BaseModel):
    """One thing remembered about a video: a span, its text, who wrote it, and (in results) a score.

    ``score`` is cosine similarity to the query (1 = identical direction) for text/vector search,
    None for listings.
    """

    id: str
    kind: Kind
    video_id: str
    level: str
    t_start: float
    t_end: float
    text: str = ""
    producer: str
    version: str
    score: float | None = None
    meta: dict[str, Scalar] = Field(default_factory=dict)

    def metadata(self) -> dict[str, Scalar]:
        """The flat Chroma metadata of this record."""
        out: dict[str, Scalar] = {k: v for k, v in self.meta.items() if k not in CORE_KEYS}
        out.update(
            video_id=self.video_id,
            level=self.level,
            t_start=float(self.t_start),
            t_end=float(self.t_end),
            producer=self.producer,
            version=self.version,
        )
        return out

    @classmethod
    def from_chroma(
        cls, kind: Kind, rid: str, doc: str | None, meta: dict[str, Any], score: float | None = None
    ) -> MemoryRecord:
        extra = {k: v for k, v in meta.items() if k not in CORE_KEYS and k not in INTERNAL_KEYS}
        return cls(
            id=rid,
            kind=kind,
            video_id=str(meta["video_id"]),
            level=str(meta["level"]),
            t_start=float(meta["t_start"]),
            t_end=float(meta["t_end"]),
            text=doc or "",
            producer=str(meta["producer"]),
            version=str(meta["version"]),
            score=score,
            meta=extra,
        )

    def span(self) -> tuple[float, float]:
        return (self.t_start, self.t_end)


def record_id(kind: str, video_id: str, producer: str, version: str, *parts: object) -> str:
    """A deterministic id: rewriting the same record (same producer, version, span) is a no-op."""
    blob = "\x1f".join([kind, video_id, producer, version, *map(str, parts)])
    return f"{kind[:2]}{hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()}"


def space_tag(embedder_id: str) -> str:
    """Short stable tag of an embedding space, used in collection names."""
    return hashlib.blake2b(embedder_id.encode(), digest_size=4).hexdigest()


_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


def collection_name(kind: str, video_id: str, embedder_id: str) -> str:
    """``<kind>-<video_id>-<space>``; the video id is sanitised to Chroma's allowed characters."""
    vid = _NAME_OK.sub("_", video_id)[:200]
    return f"{kind}-{vid}-{space_tag(embedder_id)}"


def parse_collection_name(name: str) -> tuple[str, str, str] | None:
    """``(kind, sanitised video id, space tag)`` of a vidsleuth collection name, else None."""
    kind, sep, rest = name.partition("-")
    vid, sep2, tag = rest.rpartition("-")
    if not sep or not sep2 or kind not in get_args(Kind):
        return None
    return kind, vid, tag


def check_time_range(t_start: float | None, t_end: float | None) -> None:
    """Refuse an inverted or negative range with a message that names both ends."""
    if t_start is not None and t_end is not None and t_end < t_start:
        raise InvalidQuery(
            f"time range is inverted: t_start={t_start:g} s is after t_end={t_end:g} s"
        )
    for name, v in (("t_start", t_start), ("t_end", t_end)):
        if v is not None and (v != v or v < 0):  # NaN or negative
            raise InvalidQuery(f"time range {name}={v} must be a non-negative number of seconds")


def build_where(
    *,
    level: str | Sequence[str] | None = None,
    t_start: float | None = None,
    t_end: float | None = None,
    producer: str | None = None,
    version: str | Sequence[str] | None = None,
    extra: dict[str, Scalar] | None = None,
) -> dict[str, Any] | None:
    """A Chroma ``where`` filter: records overlapping ``[t_start, t_end]``, of the given levels.

    Overlap (not containment) is what a question about "around minute 12" needs: a segment that
    starts before the window and ends inside it is relevant.
    """
    check_time_range(t_start, t_end)
    clauses: list[dict[str, Any]] = []
    if level is not None:
        levels = [level] if isinstance(level, str) else list(level)
        bad = [lv for lv in levels if lv not in LEVELS]
        if bad or not levels:
            known = ", ".join(LEVELS)
            raise InvalidQuery(f"unknown level {bad or levels}; expected one of {known}")
        clauses.append({"level": levels[0]} if len(levels) == 1 else {"level": {"$in": levels}})
    if t_end is not None:
        clauses.append({"t_start": {"$lte": float(t_end)}})
    if t_start is not None:
        clauses.append({"t_end": {"$gte": float(t_start)}})
    if producer is not None:
        clauses.append({"producer": producer})
    if version is not None:
        versions = [version] if isinstance(version, str) else list(version)
        clauses.append(
            {"version": versions[0]} if len(versions) == 1 else {"version": {"$in": versions}}
        )
    for k, v in (extra or {}).items():
        clauses.append({k: v})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches_where(meta: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """Evaluate a filter made by :func:`build_where` on one record's metadata, in Python."""
    if not where:
        return True
    for key, cond in where.items():
        if key == "$and":
            if not all(matches_where(meta, c) for c in cond):
                return False
            continue
        value = meta.get(key)
        if isinstance(cond, dict):
            for op, arg in cond.items():
                if op == "$in":
                    ok = value in arg
                elif value is None:
                    ok = False
                elif op == "$lte":
                    ok = value <= arg
                elif op == "$gte":
                    ok = value >= arg
                elif op == "$lt":
                    ok = value < arg
                elif op == "$gt":
                    ok = value > arg
                elif op == "$ne":
                    ok = value != arg
                else:
                    raise InvalidQuery(f"unsupported filter operator {op}")
                if not ok:
                    return False
        elif value != cond:
            return False
    return True


def _as_matrix(vectors: np.ndarray | Sequence[Sequence[float]], dim: int) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {arr.shape}")
    return arr


class VectorMemory:
    """The shared read/write path of one memory kind, bound to one embedding space.

    Subclasses add the kind-specific writers (chunk observations, frames, entities) and keep to
    :meth:`add` / :meth:`search` / :meth:`list` underneath, so every kind gets the same filters and
    the same provenance on the way out.
    """

    kind: Kind = "episodic"

    def __init__(self, store: ChromaStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    # --------------------------------------------------------------------------- plumbing
    def collection_name(self, video_id: str) -> str:
        return collection_name(self.kind, video_id, self.embedder.id)

    def _collection(self, video_id: str, *, create: bool) -> Collection | None:
        name = self.collection_name(video_id)
        if create:
            return self.store.collection(name, dim=self.embedder.dim, space_id=self.embedder.id)
        return self.store.existing(name)

    def embed_query(self, text: str) -> np.ndarray:
        from vidsleuth.tools.models.base import UnsupportedModality

        try:
            vec = self.embedder.embed_texts([text])
        except UnsupportedModality:
            raise InvalidQuery(
                f"{self.kind} memory uses {self.embedder.id}, which cannot embed text; "
                "search it with an example frame instead"
            ) from None
        return _as_matrix(vec, self.embedder.dim)

    # --------------------------------------------------------------------------- writing
    def add(
        self,
        records: Sequence[MemoryRecord],
        vectors: np.ndarray | None = None,
        *,
        batch: int = 2000,
    ) -> int:
        """Write records (embedding their text unless ``vectors`` are given); return how many.

        Records whose id is already stored are skipped, so re-running a writer with the same
        producer and version computes and writes nothing new.  Each batch is one ``add`` call
        under the store lock (see ``ChromaStore.access``): id, vector, text and metadata land
        together or not at all.
        """
        if not records:
            return 0
        by_video: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            if r.kind != self.kind:
                raise ValueError(f"record {r.id} is {r.kind}, not {self.kind}")
            check_time_range(r.t_start, r.t_end)
            by_video.setdefault(r.video_id, []).append(i)
        if vectors is not None:
            vectors = _as_matrix(vectors, self.embedder.dim)
            if len(vectors) != len(records):
                raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        written = 0
        now = time.time()  # gc keeps, per producer, the version written last
        for video_id, idx in by_video.items():
            with self.store.access():
                col = self._collection(video_id, create=True)
                assert col is not None
                have = set(col.get(ids=[records[i].id for i in idx], include=[])["ids"])
            todo = [i for i in idx if records[i].id not in have]
            if not todo:
                continue
            # Embedding is the slow part: it runs outside the store lock, so another process
            # can write meanwhile; each batch below then takes the lock for its write only.
            if vectors is None:
                vecs = _as_matrix(
                    self.embedder.embed_texts([records[i].text for i in todo]), self.embedder.dim
                )
            else:
                vecs = vectors[todo]
            for s in range(0, len(todo), batch):
                part = todo[s : s + batch]
                with self.store.access():
                    col = self._collection(video_id, create=True)
                    assert col is not None
                    # another process (building the same video) may have written some meanwhile
                    again = set(col.get(ids=[records[i].id for i in part], include=[])["ids"])
                    keep = [j for j, i in enumerate(part) if records[i].id not in again]
                    if not keep:
                        continue
                    new = [records[part[j]] for j in keep]
                    col.add(
                        ids=[r.id for r in new],
                        embeddings=vecs[s : s + batch][keep],
                        documents=[r.text for r in new],
                        metadatas=[{**r.metadata(), "written_at": now} for r in new],
                    )
                written += len(keep)
        return written

    def has_version(self, video_id: str, producer: str, version: str) -> bool:
        """Whether any record of this producer version is stored for the video."""
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None:
                return False
            flt = build_where(producer=producer, version=version)
            got = col.get(where=flt, limit=1, include=[])
        return bool(got["ids"])

    # --------------------------------------------------------------------------- reading
    def search(
        self,
        video_id: str,
        text: str | None = None,
        *,
        vector: np.ndarray | None = None,
        level: str | Sequence[str] | None = None,
        t_start: float | None = None,
        t_end: float | None = None,
        producer: str | None = None,
        version: str | Sequence[str] | None = None,
        where: dict[str, Scalar] | None = None,
        k: int = 10,
    ) -> list[MemoryRecord]:
        """Records of ``video_id`` most similar to ``text`` (or ``vector``), best first.

        Filters narrow the candidates first: ``level``, a time window overlapping
        ``[t_start, t_end]`` (inverted -> :class:`InvalidQuery`), producer and version.  With
        neither text nor vector this is :meth:`list` (time order, no score).
        """
        if k < 1:
            raise InvalidQuery(f"k must be at least 1, got {k}")
        flt = build_where(
            level=level,
            t_start=t_start,
            t_end=t_end,
            producer=producer,
            version=version,
            extra=where,
        )
        if text is None and vector is None:
            return self.list(video_id, where=flt, limit=k)
        if vector is not None:
            q = _as_matrix(vector, self.embedder.dim)
        else:
            assert text is not None  # one of the two is given (checked above)
            q = self.embed_query(text)  # before the store lock: embedding is the slow part
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None:
                return []
            n = col.count()
            if n == 0:
                return []
            if flt is None:
                return self._query(col, q, min(k, n))
            # Chroma evaluates a metadata filter against its whole SQLite metadata table (every
            # video's records), so a time-range filter got slower as the store grew (57 ms p50
            # at 10k records, see evals/bench_memory.py) even though one video's collection is
            # small.  So over-fetch nearest neighbours without a filter and filter here,
            # widening until k records pass or the whole collection was ranked: exact, and
            # bounded by the video.
            m = min(n, max(8 * k, 64))
            while True:
                hits = [r for r in self._query(col, q, m) if matches_where(r.metadata(), flt)]
                if len(hits) >= k or m >= n:
                    return hits[:k]
                m = min(n, m * 4)

    def _query(self, col: Collection, q: np.ndarray, m: int) -> list[MemoryRecord]:
        res = col.query(
            query_embeddings=q, n_results=m, include=["documents", "metadatas", "distances"]
        )
        docs = (res["documents"] or [[]])[0]
        metas = (res["metadatas"] or [[]])[0]
        dists = (res["distances"] or [[]])[0]
        return [
            MemoryRecord.from_chroma(self.kind, rid, doc, dict(meta), 1.0 - float(dist))
            for rid, doc, meta, dist in zip(res["ids"][0], docs, metas, dists, strict=True)
        ]

    def list(
        self,
        video_id: str,
        *,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        level: str | Sequence[str] | None = None,
        t_start: float | None = None,
        t_end: float | None = None,
    ) -> list[MemoryRecord]:
        """Records of ``video_id`` matching the filters, in time order (no similarity score)."""
        if where is None:
            where = build_where(level=level, t_start=t_start, t_end=t_end)
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None:
                return []
            # Filtered in Python for the reason given in :meth:`search` (one video is small).
            got = col.get(include=["documents", "metadatas"])
        recs = [
            MemoryRecord.from_chroma(self.kind, rid, doc, dict(meta))
            for rid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
            if matches_where(dict(meta), where)
        ]
        recs.sort(key=lambda r: (r.t_start, r.t_end, r.level, r.id))
        return recs[:limit] if limit is not None else recs

    # ``list`` here is the method above, hence ``builtins.list`` for the type.
    def get(self, video_id: str, ids: Iterable[str]) -> builtins.list[MemoryRecord]:
        """Records by id (missing ids are left out)."""
        ids = list(ids)
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None or not ids:
                return []
            got = col.get(ids=ids, include=["documents", "metadatas"])
        return [
            MemoryRecord.from_chroma(self.kind, rid, doc, dict(meta))
            for rid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        ]

    def delete(self, video_id: str, ids: Iterable[str]) -> int:
        """Delete records by id; return how many existed (missing ids are ignored)."""
        ids = list(ids)
        if not ids:
            return 0
        with self.store.access():
            col = self._collection(video_id, create=False)
            if col is None:
                return 0
            have = col.get(ids=ids, include=[])["ids"]
            if have:
                col.delete(ids=list(have))
        return len(have)

    def count(self, video_id: str) -> int:
        with self.store.access():
            col = self._collection(video_id, create=False)
            return 0 if col is None else col.count()
