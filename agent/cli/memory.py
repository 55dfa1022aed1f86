"""``vidsleuth memory`` (search, entities, serve) and ``vidsleuth store gc|verify``.

``store gc`` and ``store verify`` are attached to the ``store`` sub-app of :mod:`.index` so users
find every store-maintenance command in one place.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidsleuth.agent.cli.common import JsonOpt, StoreOpt, print_json, settings

if TYPE_CHECKING:
    from vidsleuth.memory.chroma import ChromaStore
    from vidsleuth.settings import Settings

memory_app = typer.Typer(help="Search and inspect the long-term memory.", no_args_is_help=True)

UrlOpt = Annotated[
    str | None,
    typer.Option("--chroma-url", help="Chroma server URL (default: $VIDSLEUTH_CHROMA_URL)"),
]
VideoArg = Annotated[str, typer.Argument(help="video file, video id or unique id prefix")]


_VIDEO_ID = re.compile(r"^[vf][0-9a-f]{20}$")


def _video_id_or_memory_only(cfg: Any, video: str) -> str | None:
    """The store's id for ``video``; None for a well-formed id that only the memory may know
    (its frames were removed).  Never creates a memory: without one that error is raised."""
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.chroma import chroma_dir

    try:
        return _video_id(cfg, video)
    except StoreError:
        if not _VIDEO_ID.match(video) or (
            cfg.chroma_url is None and not chroma_dir(cfg.store).is_dir()
        ):
            raise
        return None


def _video_id(cfg: Settings, ref: str, memory: ChromaStore | None = None) -> str:
    """A path or (prefix of a) registered id -> the video id; an id only memory knows is kept.

    A path is checked (regular file, a video) before the store is opened; an id is looked up
    without creating a store that does not exist.
    """
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.records import parse_collection_name
    from vidsleuth.memory.store import Store, check_id_prefix, check_video, store_exists

    check_id_prefix(ref)
    if os.path.lexists(ref):
        check_video(ref)
        with Store.open(cfg.store) as st:
            return st.resolve(ref).video_id
    matches: list[str] = []
    if store_exists(cfg.store):
        with Store.open(cfg.store, create=False) as st:
            matches = [r.video_id for r in st.videos() if r.video_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise StoreError(f"{ref}: ambiguous video id prefix ({len(matches)} matches)")
    if memory is not None:
        known = {p[1] for p in map(parse_collection_name, memory.collection_names()) if p}
        if ref in known:
            return ref
    raise StoreError(f"{ref}: neither a video file nor a video id known to {cfg.store}")


def _fmt(t: float) -> str:
    m, s = divmod(t, 60.0)
    return f"{int(m):02d}:{s:05.2f}"


@memory_app.command("search")
def search_cmd(
    video: VideoArg,
    text: Annotated[str, typer.Argument(help="what to look for")],
    level: Annotated[
        list[str] | None, typer.Option("--level", help="chunk, segment or video (repeatable)")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="episodic, semantic, session or visual")
    ] = "episodic",
    t_from: Annotated[float | None, typer.Option("--from", help="window start (s)")] = None,
    t_to: Annotated[float | None, typer.Option("--to", help="window end (s)")] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="number of hits")] = 10,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rank a video's memory records by similarity to TEXT."""
    from vidsleuth.errors import ConfigError
    from vidsleuth.memory.chroma import open_memory_store
    from vidsleuth.memory.episodic import EpisodicMemory
    from vidsleuth.memory.records import VectorMemory, check_time_range
    from vidsleuth.memory.semantic import SemanticMemory
    from vidsleuth.memory.session import SessionMemory
    from vidsleuth.memory.visual import VisualMemory
    from vidsleuth.tools.models.factory import load_image_embedder, load_text_embedder

    check_time_range(t_from, t_to)  # refuse an inverted window before loading any model
    kinds: dict[str, type[VectorMemory]] = {
        "episodic": EpisodicMemory,
        "semantic": SemanticMemory,
        "session": SessionMemory,
        "visual": VisualMemory,
    }
    if kind not in kinds:
        raise ConfigError(f"--kind {kind!r}: expected one of {', '.join(kinds)}")
    if k < 1:
        raise ConfigError(f"-k {k}: ask for at least one hit")
    if not text.strip():
        raise ConfigError("the search text is empty")
    cfg = settings(store=store, chroma_url=chroma_url)
    # The video is checked before the memory is opened (nothing is locked or written for a bad
    # one); only a well-formed id the index does not know is looked up in the memory itself.
    vid = _video_id_or_memory_only(cfg, video)
    embedder = load_image_embedder(cfg) if kind == "visual" else load_text_embedder(cfg)
    with open_memory_store(cfg) as cs:
        if vid is None:
            vid = _video_id(cfg, video, cs)
        mem = (
            SemanticMemory.for_store(cs, embedder, cfg.store)
            if kind == "semantic"
            else kinds[kind](cs, embedder)
        )
        hits = mem.search(vid, text, level=level or None, t_start=t_from, t_end=t_to, k=k)
    rows: list[dict[str, Any]] = [
        {
            "rank": i + 1,
            "t_start": h.t_start,
            "t_end": h.t_end,
            "level": h.level,
            "text": h.text,
            "score": round(float(h.score or 0.0), 4),
            "producer": h.producer,
            "version": h.version,
            "id": h.id,
        }
        for i, h in enumerate(hits)
    ]
    if json_out:
        print_json({"video_id": vid, "query": text, "kind": kind, "hits": rows})
        return
    if not rows:
        typer.echo(f"no {kind} memory matches for {vid}")
    for r in rows:
        one_line = " ".join(r["text"].split())
        typer.echo(
            f"{r['rank']:>3}. {_fmt(r['t_start'])}-{_fmt(r['t_end'])}  {r['level']:<7} "
            f"{r['score']:.3f}  {one_line[:100]}"
        )


@memory_app.command("entities")
def entities_cmd(
    video: VideoArg,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="only this kind: object, tag, on-screen text, person... (repeatable)"
        ),
    ] = None,
    match: Annotated[
        str | None, typer.Option("--match", help="only names (or aliases) containing this text")
    ] = None,
    min_count: Annotated[
        int, typer.Option("--min-count", help="only entities seen at least this often")
    ] = 1,
    facts: Annotated[bool, typer.Option("--facts", help="list the facts about each one")] = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List what is known about a video: each entity's kind, how often and when it was seen
    (first and last time), filtered by kind, text or count; ``--json`` adds spans and facts."""
    from vidsleuth.errors import ConfigError
    from vidsleuth.memory.semantic import EntityGraph, graph_file
    from vidsleuth.memory.store import check_id_prefix

    if min_count < 1:
        raise ConfigError(f"--min-count {min_count}: must be 1 or more")
    if match is not None and not match.strip():
        raise ConfigError("--match is empty")
    cfg = settings(store=store)
    check_id_prefix(video)
    try:
        vid = _video_id(cfg, video)
    except Exception:
        # a graph file is enough: entities need no Chroma, so do not take its lock
        if not graph_file(cfg.store / "graph", video).exists():
            raise
        vid = video
    g = EntityGraph.load(graph_file(cfg.store / "graph", vid), vid)
    kinds = {k.strip().lower() for k in kind or []}
    needle = match.strip().casefold() if match else None
    rows: list[dict[str, Any]] = []
    for e in g.entities():
        if kinds and e.category.lower() not in kinds:
            continue
        if needle and not any(needle in n.casefold() for n in [e.name, *e.aliases]):
            continue
        if e.count < min_count:
            continue
        about = g.facts_about(e.key)
        rows.append(
            {
                "name": e.name,
                "kind": e.category,
                "count": e.count,
                "first_seen": e.first_seen,
                "last_seen": e.last_seen,
                "best_score": e.best,
                "aliases": e.aliases,
                "spans": [list(s) for s in e.spans],
                "facts": [
                    {
                        "text": f.text,
                        "spans": [list(s) for s in f.spans],
                        "source": f.source,
                        "question": f.question,
                    }
                    for f in about
                ],
            }
        )
    if json_out:
        print_json({"video_id": vid, "entities": rows})
        return
    total = len(g.entities())
    if not rows:
        typer.echo(f"no entities of {vid} match" if total else f"no entities known for {vid}")
        return
    typer.echo(_entity_table(rows, facts))
    if len(rows) < total:
        typer.echo(f"({len(rows)} of {total} entities shown)")


def _when(t: float | None) -> str:
    return "-" if t is None else _fmt(t)


def _entity_table(rows: list[dict[str, Any]], with_facts: bool) -> str:
    """Entities as an aligned text table (name, kind, count, first, last, facts)."""
    head = ("name", "kind", "count", "first", "last", "facts")
    cells = [
        (
            " ".join(str(r["name"]).split())[:48],
            str(r["kind"]),
            str(r["count"]),
            _when(r["first_seen"]),
            _when(r["last_seen"]),
            str(len(r["facts"])),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    right = {2, 5}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(head)]
    for r, c in zip(rows, cells, strict=True):
        out.append(line(c))
        if with_facts:
            out.extend(f"    - {' '.join(f['text'].split())}" for f in r["facts"])
    return "\n".join(out)


@memory_app.command("summary")
def summary_cmd(
    video: VideoArg,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the stored summary of a video (written by ``memory build``): what it was built
    from, the whole-video paragraph and each segment's caption."""
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.chroma import chroma_dir, open_memory_store
    from vidsleuth.memory.episodic import SEGMENT_PRODUCER, VIDEO_PRODUCER, EpisodicMemory
    from vidsleuth.tools.models.factory import load_text_embedder

    cfg = settings(store=store, chroma_url=chroma_url)
    no_memory = cfg.chroma_url is None and not chroma_dir(cfg.store).is_dir()
    vid: str | None
    try:
        vid = _video_id(cfg, video)
    except StoreError:
        if not _VIDEO_ID.match(video) or no_memory:  # an id only the memory may know
            raise
        vid = None
    if no_memory:
        raise StoreError(f"{vid}: no memory built yet (run vidsleuth memory build)")
    with open_memory_store(cfg) as cs:
        if vid is None:
            vid = _video_id(cfg, video, cs)
        ep = EpisodicMemory(cs, load_text_embedder(cfg))  # lists records: nothing is embedded
        version = ep.latest_version(vid, VIDEO_PRODUCER)
        if version is None:
            raise StoreError(f"{vid}: no summary yet (run vidsleuth memory build)")
        latest = ep.list(vid, where={"$and": [{"producer": VIDEO_PRODUCER}, {"version": version}]})[
            0
        ]
        segments = ep.list(
            vid, where={"$and": [{"producer": SEGMENT_PRODUCER}, {"version": version}]}
        )
    doc = {
        "video_id": vid,
        "built_from": [b for b in str(latest.meta.get("built_from", "")).split(", ") if b],
        "model": latest.meta.get("model"),
        "summary": latest.text,
        "segments": [{"t_start": r.t_start, "t_end": r.t_end, "text": r.text} for r in segments],
    }
    if json_out:
        print_json(doc)
        return
    built = ", ".join(doc["built_from"]) or "unknown (built before this was recorded)"
    typer.echo(f"video {vid}, built from: {built}")
    typer.echo(doc["summary"])
    for r in segments:
        typer.echo(f"  {_fmt(r.t_start)}-{_fmt(r.t_end)}  {' '.join(r.text.split())}")


@memory_app.command("forget")
def forget_cmd(
    video: VideoArg,
    everything: Annotated[
        bool, typer.Option("--all", help="every fact learned about this video")
    ] = False,
    question: Annotated[
        str | None,
        typer.Option("--question", help="the facts learned from this question (or a part of it)"),
    ] = None,
    fact_id: Annotated[
        str | None, typer.Option("--id", help="one fact, by id or a unique id prefix")
    ] = None,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete session facts (what ``remember_fact`` and earlier answers wrote) of a video: all,
    those of one question, or one by id.  Prints what it deleted."""
    from vidsleuth.memory.chroma import chroma_dir, open_memory_store
    from vidsleuth.memory.records import InvalidQuery
    from vidsleuth.memory.semantic import SemanticMemory
    from vidsleuth.memory.session import SessionMemory, select_facts
    from vidsleuth.tools.models.factory import load_text_embedder

    if sum([everything, question is not None, fact_id is not None]) != 1:
        raise InvalidQuery("say what to forget: --all, --question TEXT or --id ID (one)")
    cfg = settings(store=store, chroma_url=chroma_url)
    vid = _video_id_or_memory_only(cfg, video)
    if cfg.chroma_url is None and not chroma_dir(cfg.store).is_dir():
        gone: list[Any] = []  # no memory yet: nothing to forget, nothing created
        if not everything:
            raise InvalidQuery(f"{vid}: no remembered facts (no memory built yet)")
    else:
        with open_memory_store(cfg) as cs:
            if vid is None:
                vid = _video_id(cfg, video, cs)
            # facts written under any text embedder: each space is read and deleted by id
            spaces = SessionMemory.stored_spaces(cs, vid)
            facts = [f for space in spaces for f in space.facts(vid)]
            gone = select_facts(
                facts, vid, everything=everything, question=question, fact_id=fact_id
            )
            for space in spaces:
                space.forget(vid, gone)
            if gone:  # their copies in the entity graph (re-mirrored with the text embedder)
                sem = SemanticMemory.for_store(cs, load_text_embedder(cfg), cfg.store)
                SessionMemory(cs, sem.embedder).forget(vid, gone, semantic=sem)
    rows = [
        {
            "id": r.id,
            "fact": r.text,
            "question": r.meta.get("question"),
            "t_start": r.t_start,
            "t_end": r.t_end,
        }
        for r in gone
    ]
    if json_out:
        print_json({"video_id": vid, "forgotten": rows})
        return
    for r in rows:
        typer.echo(
            f"forgot {r['id']}  {_fmt(r['t_start'])}-{_fmt(r['t_end'])}  "
            f"{' '.join(str(r['fact']).split())}  (question: {r['question']})"
        )
    typer.echo(f"forgot {len(rows)} session fact{'s' if len(rows) != 1 else ''} of {vid}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@memory_app.command("serve")
def serve_cmd(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option("--host", help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free one)")] = 8000,
) -> None:
    """Run a Chroma server over the store's memory, so many processes can share it.

    Point the other processes at it with VIDSLEUTH_CHROMA_URL=http://HOST:PORT.  Runs until
    interrupted.
    """
    from vidsleuth.memory.chroma import ChromaServer

    cfg = settings(store=store)
    # SIGTERM (a service manager, `kill`) stops the server as Ctrl-C does; even a SIGKILL of
    # this process takes the child down with it (see ChromaServer.start).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    server = ChromaServer(cfg.store, host=host, port=port)
    try:
        server.start()
        sys.stderr.write(
            f"serving {cfg.store / 'chroma'} at {server.url} (pid {os.getpid()}, "
            f"chroma run pid {server.proc.pid if server.proc else '?'})\n"
            f"use: export VIDSLEUTH_CHROMA_URL={server.url}\n"
        )
        sys.stderr.flush()
        code = server.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    if code:
        raise typer.Exit(code)


def store_gc_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, delete nothing")] = False,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove memory record versions nobody uses (superseded versions, removed videos)."""
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.chroma import chroma_dir, open_memory_store
    from vidsleuth.memory.maintenance import GcReport, gc
    from vidsleuth.memory.store import Store

    cfg = settings(store=store, chroma_url=chroma_url)
    if not cfg.store.is_dir():  # a mistyped --store is refused, not created
        raise StoreError(f"{cfg.store}: no store here (nothing was indexed into it yet)")
    with Store.open(cfg.store) as st:
        known = [v.video_id for v in st.videos()]
    if cfg.chroma_url is None and not chroma_dir(cfg.store).is_dir():
        report = GcReport(dry_run=dry_run)  # no memory yet: nothing to collect, nothing created
    else:
        with open_memory_store(cfg) as cs:
            report = gc(cs, known_videos=known, dry_run=dry_run)
    if json_out:
        print_json(report.as_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for name in report.dropped_collections:
        typer.echo(f"{verb} collection {name}")
    for col, producer, version, n in report.dropped_versions:
        typer.echo(f"{verb} {producer}@{version} from {col} ({n} records)")
    typer.echo(f"{verb} {report.records_removed} records")


def store_verify_cmd(
    store: StoreOpt = None, chroma_url: UrlOpt = None, json_out: JsonOpt = False
) -> None:
    """Read every memory record back with its embedding; report broken ids (exit 1 if any)."""
    from vidsleuth.errors import StoreError
    from vidsleuth.memory.chroma import chroma_dir, open_memory_store
    from vidsleuth.memory.maintenance import VerifyReport, verify

    cfg = settings(store=store, chroma_url=chroma_url)
    if cfg.chroma_url is None and not chroma_dir(cfg.store).is_dir():
        if not cfg.store.is_dir():
            raise StoreError(f"{cfg.store}: no store here (nothing was indexed into it yet)")
        report = VerifyReport()  # indexed, no memory built yet: nothing to verify or create
    else:
        with open_memory_store(cfg) as cs:
            report = verify(cs)
    if json_out:
        print_json(report.as_dict())
    else:
        typer.echo(
            f"{report.records} records in {report.collections} collections, "
            f"{len(report.broken)} broken"
        )
        for b in report.broken[:50]:
            typer.echo(f"  {b.collection} {b.id}: {b.problem}")
    if not report.ok:
        raise typer.Exit(1)


@memory_app.command("build")
def build_cmd(
    video: Annotated[Path, typer.Argument(help="video file")],
    summaries: Annotated[
        bool, typer.Option("--summaries/--no-summaries", help="segment and video summaries (LLM)")
    ] = True,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build a video's memory: frame index, coarse perception, episodic chunks, entities,
    visual vectors and (with the configured chat model) segment and video summaries.

    Every layer is cached: a second run computes nothing.
    """
    from vidsleuth.agent.indexing import prepare_video
    from vidsleuth.agent.progress import ProgressReporter
    from vidsleuth.memory.episodic import CHUNK_PRODUCER
    from vidsleuth.memory.store import Store, check_video
    from vidsleuth.tools.builtin import open_memory

    t0 = time.perf_counter()
    cfg = settings(store=store)
    check_video(video)  # before the store and the memory are opened, locked or created
    progress = ProgressReporter(prefix="memory build", quiet=json_out)

    with Store.open(cfg.store) as st:
        memory = open_memory(cfg)
        try:
            info = prepare_video(st, video, cfg, memory, progress)
            vid = info["video_id"]
            if summaries:
                from vidsleuth.tools.models.factory import load_chat_model

                # the chunk version this build wrote (older versions stay until `store gc`)
                version = memory["episodic"].latest_version(vid, CHUNK_PRODUCER)
                if version is not None:
                    run = memory["episodic"].summarize(
                        vid,
                        load_chat_model(cfg),
                        chunk_version=version,
                        segment_seconds=cfg.segment_seconds,
                    )
                    info["summaries"] = {
                        "segments": len(run.segments),
                        "cached": run.cached,
                        "model_calls": run.model_calls,
                        "failures": run.failures,
                        "built_from": run.built_from,
                        "video": run.video.text if run.video is not None else None,
                    }
        finally:
            memory["chroma"].close()
            progress.close()
    # every duration reported is wall time of the whole command; indexing is one part of it
    info["index_seconds"] = info.pop("seconds")
    info["seconds"] = round(time.perf_counter() - t0, 3)
    if json_out:
        print_json(info)
        return
    made: dict[str, Any] | None = info.pop("summaries", None)
    for k, v in info.items():
        typer.echo(f"{k:24} {_plain(v)}")
    if made is not None:
        how = "cached" if made["cached"] else f"{made['model_calls']} model calls"
        typer.echo(f"{'summary segments':24} {made['segments']} ({how})")
        typer.echo(f"{'summary built from':24} {', '.join(made['built_from']) or 'nothing'}")
        for failure in made["failures"]:
            typer.echo(f"{'summary problem':24} {failure}")
        if made["video"]:
            typer.echo(f"{'summary':24} {' '.join(made['video'].split())}")


def _plain(v: Any) -> str:
    """A value as text a person reads (never a Python repr of a dict or list)."""
    if isinstance(v, dict):
        return ", ".join(f"{k} {_plain(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(_plain(x) for x in v) or "-"
    return "-" if v is None else str(v)


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")
    from vidsleuth.agent.cli.index import store_app

    store_app.command("gc")(store_gc_cmd)
    store_app.command("verify")(store_verify_cmd)
