"""Session memory: facts learned while answering, written back so later questions reuse them.

A fact (a name resolved, an event located) is stored with its evidence spans, the question that
produced it and the session id, in its own ``session`` collection (searchable by meaning), and,
when it names entities, also as a fact in the video's entity graph (source ``"session"``) so
"what is known about X" includes it.  Nothing here expires: a later session over the same video
finds the fact by :meth:`SessionMemory.recall`, until :meth:`SessionMemory.forget` deletes it
(``vidsleuth memory forget``: all facts, those of one question, or one by id).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vidsleuth.memory.records import (
    InvalidQuery,
    MemoryRecord,
    VectorMemory,
    collection_name,
    record_id,
)
from vidsleuth.spans import merge_spans

if TYPE_CHECKING:
    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.memory.semantic import SemanticMemory

SESSION_PRODUCER = "session"
SESSION_VERSION = "1"


class SessionMemory(VectorMemory):
    """Facts learned by the agent, with their evidence and source question."""

    kind = "session"

    def remember(
        self,
        video_id: str,
        fact: str,
        *,
        evidence: Sequence[tuple[float, float]],
        question: str,
        session_id: str = "",
        entities: Sequence[str] = (),
        semantic: SemanticMemory | None = None,
    ) -> MemoryRecord:
        """Store one learned fact; the same fact learned again is stored once."""
        if not fact.strip():
            raise InvalidQuery("a remembered fact must have text")
        spans = merge_spans(evidence)
        if not spans:
            raise InvalidQuery(f"fact {fact!r} needs at least one evidence span")
        rec = MemoryRecord(
            id=record_id(self.kind, video_id, SESSION_PRODUCER, SESSION_VERSION, fact.strip()),
            kind="session",
            video_id=video_id,
            level="fact",
            t_start=spans[0][0],
            t_end=max(e for _, e in spans),
            text=fact.strip(),
            producer=SESSION_PRODUCER,
            version=SESSION_VERSION,
            meta={
                "question": question,
                "session_id": session_id,
                "evidence": json.dumps(spans),
                "entities": "; ".join(entities),
                "learned_at": time.time(),
            },
        )
        self.add([rec])
        if semantic is not None and entities:
            with semantic.editing(video_id) as g:
                g.add_fact(
                    fact,
                    entities=entities,
                    spans=spans,
                    source="session",
                    question=question,
                    producer=SESSION_PRODUCER,
                    version=SESSION_VERSION,
                )
        return rec

    def facts(self, video_id: str) -> list[MemoryRecord]:
        """Every learned fact of the video, in time order."""
        return self.list(video_id)

    @classmethod
    def stored_spaces(cls, store: ChromaStore, video_id: str) -> list[SessionMemory]:
        """One reader per embedding space that holds session facts of the video, whatever text
        embedder wrote them (forgetting must reach them all; nothing is embedded)."""
        want = collection_name(cls.kind, video_id, "")
        prefix = want[: want.rindex("-") + 1]
        return [_StoredSpace(store, n) for n in store.collection_names() if n.startswith(prefix)]

    def forget(
        self,
        video_id: str,
        records: Sequence[MemoryRecord],
        *,
        semantic: SemanticMemory | None = None,
    ) -> int:
        """Delete these facts, and their copies in the entity graph; return how many existed."""
        from vidsleuth.memory.semantic import fact_key

        n = self.delete(video_id, [r.id for r in records])
        if semantic is not None and records and semantic.graph_path(video_id).exists():
            with semantic.editing(video_id) as g:
                for r in records:
                    g.remove_fact(fact_key(r.text, SESSION_PRODUCER, SESSION_VERSION))
        return n

    def recall(
        self, video_id: str, text: str, *, k: int = 5, min_score: float = 0.0
    ) -> list[MemoryRecord]:
        """Learned facts most related to ``text`` (each with ``meta['evidence']`` spans)."""
        return [r for r in self.search(video_id, text, k=k) if (r.score or 0.0) >= min_score]


def evidence_of(record: MemoryRecord) -> list[tuple[float, float]]:
    """The evidence spans of a session record."""
    raw = record.meta.get("evidence")
    return [(float(a), float(b)) for a, b in json.loads(str(raw))] if raw else [record.span()]


def select_facts(
    facts: Sequence[MemoryRecord],
    video_id: str,
    *,
    everything: bool = False,
    question: str | None = None,
    fact_id: str | None = None,
) -> list[MemoryRecord]:
    """The facts one forget request names; :class:`InvalidQuery` unless it names them
    unambiguously.

    Exactly one of: ``everything``; ``question`` (the question a fact was learned from:
    exact, case and spacing aside, else a part of it that only one question contains);
    ``fact_id`` (a fact's id or a prefix of it that only one id has).
    """
    if sum([everything, question is not None, fact_id is not None]) != 1:
        raise InvalidQuery("say what to forget: --all, --question TEXT or --id ID (one)")
    if everything:
        return list(facts)
    if fact_id is not None:
        ref = fact_id.strip()
        if not ref:
            raise InvalidQuery("the fact id is empty")
        hits = [f for f in facts if f.id == ref] or [f for f in facts if f.id.startswith(ref)]
        if not hits:
            raise InvalidQuery(f"{ref}: no remembered fact of {video_id} has this id")
        if len(hits) > 1:
            raise InvalidQuery(f"{ref}: ambiguous fact id prefix ({len(hits)} matches)")
        return hits
    assert question is not None

    def norm(q: object) -> str:
        return re.sub(r"\s+", " ", str(q or "")).strip().casefold()

    want = norm(question)
    if not want:
        raise InvalidQuery("the question is empty")
    hits = [f for f in facts if norm(f.meta.get("question")) == want]
    if not hits:
        hits = [f for f in facts if want in norm(f.meta.get("question"))]
    asked = {norm(f.meta.get("question")) for f in hits}
    if not hits:
        raise InvalidQuery(
            f"no remembered fact of {video_id} came from a question like {question!r}"
        )
    if len(asked) > 1:
        raise InvalidQuery(
            f"{question!r} is part of {len(asked)} different questions; "
            "give the whole question or use --id"
        )
    return hits


class _NoEmbedder:
    """Stands in for the embedder of a stored space: listing and deleting embed nothing."""

    id = "stored"
    dim = 0
    modalities: frozenset[str] = frozenset()

    def embed_texts(self, texts: Sequence[str]) -> Any:
        raise InvalidQuery("a stored session space is read by id, not searched")

    def embed_images(self, images: Sequence[Any]) -> Any:
        raise InvalidQuery("a stored session space is read by id, not searched")


class _StoredSpace(SessionMemory):
    """Session memory bound to one existing collection (any embedding space)."""

    def __init__(self, store: ChromaStore, name: str) -> None:
        super().__init__(store, _NoEmbedder())
        self._name = name

    def collection_name(self, video_id: str) -> str:
        return self._name
