"""Session memory: facts learned while answering, written back so later questions reuse them.

A fact (a name resolved, an event located) is stored with its evidence spans, the question that
produced it and the session id, in its own ``session`` collection (searchable by meaning), and,
when it names entities, also as a fact in the video's entity graph (source ``"session"``) so
"what is known about X" includes it.  Nothing here expires: a later session over the same video
finds the fact by :meth:`SessionMemory.recall`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vidsleuth.memory.records import InvalidQuery, MemoryRecord, VectorMemory, record_id
from vidsleuth.spans import merge_spans

if TYPE_CHECKING:
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

    def recall(
        self, video_id: str, text: str, *, k: int = 5, min_score: float = 0.0
    ) -> list[MemoryRecord]:
        """Learned facts most related to ``text`` (each with ``meta['evidence']`` spans)."""
        return [r for r in self.search(video_id, text, k=k) if (r.score or 0.0) >= min_score]


def evidence_of(record: MemoryRecord) -> list[tuple[float, float]]:
    """The evidence spans of a session record."""
    raw = record.meta.get("evidence")
    return [(float(a), float(b)) for a, b in json.loads(str(raw))] if raw else [record.span()]
