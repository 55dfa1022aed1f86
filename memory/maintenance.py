"""Store upkeep: read every record back (``vidsleuth store verify``) and drop unused versions
(``vidsleuth store gc``).

*Verify* is the user's check for the corruption Chroma's embedded mode shows under concurrent use
(ids whose embedding can no longer be read): every record is fetched with its embedding, text and
metadata, and each one that cannot be read or is malformed is reported by id.

*GC* removes what nobody uses any more:

* collections of videos that are no longer in the store's index (``vidsleuth store rm``);
* for a (memory kind, video), collections of an embedding space superseded by a newer one;
* inside a collection, for each producer, every version but the most recently written one (a new
  model or prompt wrote its records beside the old ones; the old ones are now dead weight),
  unless the version is listed in ``keep``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vidsleuth.memory.records import _NAME_OK, CORE_KEYS, parse_collection_name

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from vidsleuth.memory.chroma import ChromaStore

PAGE = 1000


@dataclass
class BrokenRecord:
    collection: str
    id: str
    problem: str


@dataclass
class VerifyReport:
    collections: int = 0
    records: int = 0
    broken: list[BrokenRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def as_dict(self) -> dict[str, Any]:
        return {
            "collections": self.collections,
            "records": self.records,
            "broken": [b.__dict__ for b in self.broken],
            "ok": self.ok,
        }


def _all_ids(col: Collection) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        got = col.get(include=[], limit=PAGE, offset=offset)
        ids.extend(got["ids"])
        if len(got["ids"]) < PAGE:
            return ids
        offset += PAGE


def _check(rid: str, emb: Any, doc: Any, meta: Any, dim: int | None) -> str | None:
    if emb is None:
        return "no embedding"
    vec = list(emb)
    if dim is not None and len(vec) != dim:
        return f"embedding has {len(vec)} dims, collection says {dim}"
    if not all(math.isfinite(float(x)) for x in vec):
        return "embedding has NaN/inf"
    if not isinstance(meta, dict):
        return "no metadata"
    missing = [k for k in CORE_KEYS if k not in meta]
    if missing:
        return f"metadata lacks {', '.join(missing)}"
    if float(meta["t_end"]) < float(meta["t_start"]):
        return "t_end before t_start"
    if doc is None:
        return "no document"
    return None


def verify_collection(col: Collection, report: VerifyReport, batch: int = 500) -> None:
    """Read back every record of one collection with its embedding; add problems to ``report``."""
    dim = (col.metadata or {}).get("dim")
    ids = _all_ids(col)
    report.collections += 1
    report.records += len(ids)
    for s in range(0, len(ids), batch):
        part = ids[s : s + batch]
        try:
            got = col.get(ids=part, include=["embeddings", "documents", "metadatas"])
            rows = dict(zip(got["ids"], zip(*_included(got), strict=True), strict=True))
        except Exception:
            rows = {}
            for rid in part:  # find which ids of the batch are unreadable
                try:
                    one = col.get(ids=[rid], include=["embeddings", "documents", "metadatas"])
                    emb, docs, metas = _included(one)
                    rows[rid] = (emb[0], docs[0], metas[0])
                except Exception as err:
                    report.broken.append(BrokenRecord(col.name, rid, f"unreadable: {err}"))
        for rid in part:
            if rid not in rows:
                if not any(b.id == rid for b in report.broken):
                    report.broken.append(BrokenRecord(col.name, rid, "listed but not returned"))
                continue
            problem = _check(rid, *rows[rid], dim)
            if problem:
                report.broken.append(BrokenRecord(col.name, rid, problem))


def _included(got: Any) -> tuple[Any, Any, Any]:
    """Embeddings, documents and metadatas of a ``get`` that asked for them (Chroma types them
    optional); an absent one is an unreadable batch."""
    emb, docs, metas = got["embeddings"], got["documents"], got["metadatas"]
    if emb is None or docs is None or metas is None:
        raise ValueError("the read returned no embeddings, documents or metadatas")
    return emb, docs, metas


def verify(store: ChromaStore, progress: Callable[[str], None] | None = None) -> VerifyReport:
    """Read every record of every collection back; see :class:`VerifyReport`."""
    report = VerifyReport()
    for name in store.collection_names():
        if progress:
            progress(name)
        with store.access():  # one collection per take of the lock: builds go on in between
            col = store.existing(name)
            if col is None:
                continue
            try:
                verify_collection(col, report)
            except Exception as err:
                report.broken.append(BrokenRecord(name, "*", f"collection unreadable: {err}"))
    return report


@dataclass
class GcReport:
    dropped_collections: list[str] = field(default_factory=list)
    dropped_versions: list[tuple[str, str, str, int]] = field(default_factory=list)
    records_removed: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "dropped_collections": self.dropped_collections,
            "dropped_versions": [
                {"collection": c, "producer": p, "version": v, "records": n}
                for c, p, v, n in self.dropped_versions
            ],
            "records_removed": self.records_removed,
        }


def _metas(col: Collection) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    offset = 0
    while True:
        got = col.get(include=["metadatas"], limit=PAGE, offset=offset)
        out.extend(
            (i, dict(m or {})) for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
        )
        if len(got["ids"]) < PAGE:
            return out
        offset += PAGE


def _newest(metas: Iterable[tuple[str, dict[str, Any]]]) -> float:
    return max((float(m.get("written_at", 0.0)) for _, m in metas), default=0.0)


def gc(
    store: ChromaStore,
    *,
    known_videos: Iterable[str] | None = None,
    keep: Iterable[tuple[str, str]] = (),
    dry_run: bool = False,
) -> GcReport:
    """Remove record versions and collections nobody uses (see the module docstring).

    ``known_videos``: the video ids still in the store's index (None: keep every video).
    ``keep``: ``(producer, version)`` pairs never removed.  Runs under one take of the store
    lock: what it removes is decided on a snapshot no other process changes meanwhile.
    """
    with store.access():
        return _gc(store, known_videos=known_videos, keep=keep, dry_run=dry_run)


def _gc(
    store: ChromaStore,
    *,
    known_videos: Iterable[str] | None,
    keep: Iterable[tuple[str, str]],
    dry_run: bool,
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    keep_set = set(keep)
    known = None if known_videos is None else {_NAME_OK.sub("_", v) for v in known_videos}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name in store.collection_names():
        parsed = parse_collection_name(name)
        if parsed is None:
            continue
        kind, vid, _ = parsed
        if known is not None and vid not in known:
            report.dropped_collections.append(name)
            if not dry_run:
                store.drop(name)
            continue
        groups[(kind, vid)].append(name)

    for names in groups.values():
        metas = {}
        for name in names:
            col = store.existing(name)
            if col is not None:
                metas[name] = _metas(col)
        if len(metas) > 1:  # several embedding spaces: keep the one written last
            newest = max(metas, key=lambda n: _newest(metas[n]))
            for name in list(metas):
                pairs = {(m.get("producer"), m.get("version")) for _, m in metas[name]}
                kept = bool(pairs & keep_set)
                if name != newest and not kept:
                    report.dropped_collections.append(name)
                    report.records_removed += len(metas.pop(name))
                    if not dry_run:
                        store.drop(name)
        for name, rows in metas.items():
            by_prod: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(
                lambda: defaultdict(list)
            )
            for rid, m in rows:
                by_prod[str(m.get("producer"))][str(m.get("version"))].append(
                    (rid, float(m.get("written_at", 0.0)))
                )
            col = store.existing(name)
            for producer, versions in by_prod.items():
                if len(versions) < 2:
                    continue
                newest_v = max(versions, key=lambda v: max(t for _, t in versions[v]))
                for v, items in versions.items():
                    if v == newest_v or (producer, v) in keep_set:
                        continue
                    report.dropped_versions.append((name, producer, v, len(items)))
                    report.records_removed += len(items)
                    if not dry_run and col is not None:
                        ids = [rid for rid, _ in items]
                        for s in range(0, len(ids), PAGE):
                            col.delete(ids=ids[s : s + PAGE])
    return report
