"""Benchmark of the memory store: insert throughput and query latency at 1k / 10k / 100k records.

Two layouts over the same random unit vectors (384-d, chunk records spread over ~100 videos with
realistic metadata), both in embedded Chroma, measured in the same run against exact numpy search:

* ``per-video``: the product layout (``vidsleuth.memory.records``: one collection per video,
  written and queried through :class:`VectorMemory`);
* ``single``: one collection for everything, the video selected by a ``where`` filter (the
  layout measured at 60 ms p95 in ``notes/environment.md``).

Queries (k=10): unfiltered (single only), by video, by video + a 10-minute time window; recall@10
of each Chroma answer against numpy's exact top 10 over the same candidates.

    python -m vidsleuth.evals.bench_memory --sizes 1000,10000,100000 --out bench.json
"""

# The timed lambdas run inside the loop iteration that defines them, so late binding is moot.
# ruff: noqa: B023

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 4.0


class PrecomputedSpace:
    """An ``Embedder`` stand-in for records whose vectors are given (nothing is embedded here)."""

    modalities = frozenset({"text"})

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.id = f"bench-random-{dim}"

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("the benchmark passes vectors explicitly")

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        raise RuntimeError("the benchmark passes vectors explicitly")


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_records(total: int, videos: int, dim: int, seed: int = 0) -> dict[str, Any]:
    """``total`` chunk records assigned round-robin to ``videos`` videos (so every size covers
    every video), consecutive 4-second chunks within each video."""
    rng = np.random.default_rng(seed)
    vid_idx = np.arange(total) % videos
    chunk_idx = np.arange(total) // videos
    return {
        "vectors": _unit(rng, total, dim),
        "video": vid_idx,
        "t_start": chunk_idx * CHUNK,
        "t_end": chunk_idx * CHUNK + CHUNK,
    }


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
    }


def _time(fn: Callable[[], Any], n: int) -> tuple[list[float], list[Any]]:
    times, outs = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        outs.append(fn())
        times.append(time.perf_counter() - t0)
    return times, outs


def run(
    sizes: list[int], videos: int, dim: int, queries: int, workdir: Path, layouts: list[str]
) -> dict[str, Any]:
    import chromadb

    from vidsleuth.memory.chroma import ChromaStore, _chroma_settings
    from vidsleuth.memory.records import MemoryRecord, VectorMemory, record_id

    data = make_records(max(sizes), videos, dim)
    vecs = data["vectors"]
    rng = np.random.default_rng(1)
    result: dict[str, Any] = {"dim": dim, "videos": videos, "queries": queries, "sizes": {}}
    space = PrecomputedSpace(dim)

    def rec(i: int) -> MemoryRecord:
        vid = f"vbench{int(data['video'][i]):04d}"
        s, e = float(data["t_start"][i]), float(data["t_end"][i])
        return MemoryRecord(
            id=record_id("episodic", vid, "episodic.chunk", "b1", s, e),
            kind="episodic",
            video_id=vid,
            level="chunk",
            t_start=s,
            t_end=e,
            text=f"speech: words spoken in chunk {i}\nobjects: person, car x2",
            producer="episodic.chunk",
            version="b1",
            meta={"n_obs": 3},
        )

    pv_store = (
        ChromaStore.open_embedded(workdir / "pv", timeout=5) if "per-video" in layouts else None
    )
    single_col = None
    if "single" in layouts:
        client = chromadb.PersistentClient(
            path=str(workdir / "single"), settings=_chroma_settings()
        )
        single_col = client.get_or_create_collection(
            "bench-single", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    done = 0
    insert_s = {"per-video": 0.0, "single": 0.0}
    for size in sizes:
        todo = range(done, size)
        records = [rec(i) for i in todo]
        idx = np.arange(done, size)
        for s in range(0, len(records), 10_000):
            part, pidx = records[s : s + 10_000], idx[s : s + 10_000]
            if pv_store is not None:
                t0 = time.perf_counter()
                VectorMemory(pv_store, space).add(part, vecs[pidx])
                insert_s["per-video"] += time.perf_counter() - t0
            if single_col is not None:
                t0 = time.perf_counter()
                for b in range(0, len(part), 5000):
                    pp = part[b : b + 5000]
                    single_col.add(
                        ids=[r.id for r in pp],
                        embeddings=vecs[pidx[b : b + 5000]],
                        documents=[r.text for r in pp],
                        metadatas=[r.metadata() for r in pp],
                    )  # type: ignore[misc]
                insert_s["single"] += time.perf_counter() - t0
        done = size
        print(f"[bench] inserted {size} records", file=sys.stderr, flush=True)

        qv = _unit(rng, queries, dim)
        qvid = rng.integers(0, videos, size=queries)
        per_video_n = size // videos
        row: dict[str, Any] = {
            "insert_records_per_s": {k: round(size / v, 1) for k, v in insert_s.items() if v > 0}
        }
        # numpy brute force over the same vectors (exact)
        allv = vecs[:size]
        vid_of, ts, te = data["video"][:size], data["t_start"][:size], data["t_end"][:size]

        def np_query(q: np.ndarray, mask: np.ndarray | None) -> list[int]:
            if mask is None:  # no fancy indexing: that would copy the whole matrix per query
                sims = allv @ q
                top = np.argpartition(-sims, 9)[:10] if size > 10 else np.arange(size)
                return top[np.argsort(-sims[top])].tolist()
            cand = np.flatnonzero(mask)
            sims = allv[cand] @ q
            top = np.argsort(-sims)[:10]
            return cand[top].tolist()

        def window(i: int) -> tuple[float, float]:
            t0 = float(rng.integers(0, max(1, per_video_n)) * CHUNK)
            return t0, t0 + 600.0

        wins = [window(i) for i in range(queries)]
        exact_vid = [np_query(qv[i], vid_of == qvid[i]) for i in range(queries)]
        exact_win = [
            np_query(qv[i], (vid_of == qvid[i]) & (ts <= wins[i][1]) & (te >= wins[i][0]))
            for i in range(queries)
        ]
        it = iter(range(queries))
        t_np, _ = _time(lambda: np_query(qv[next(it)], None), queries)
        it = iter(range(queries))
        t_npv, _ = _time(lambda: np_query(qv[(i := next(it))], vid_of == qvid[i]), queries)
        row["numpy"] = {"all": _pct(t_np), "video": _pct(t_npv)}

        def ids_to_idx(ids: list[str]) -> list[int]:
            return [id_index[x] for x in ids]

        id_index = {rec_id: i for i, rec_id in enumerate(rec(j).id for j in range(size))}

        def recall(got: list[list[int]], want: list[list[int]]) -> float:
            hit = sum(len(set(g) & set(w)) for g, w in zip(got, want, strict=True))
            return round(hit / max(1, sum(len(w) for w in want)), 4)

        if pv_store is not None:
            mem = VectorMemory(pv_store, space)
            it = iter(range(queries))
            t_v, out_v = _time(
                lambda: mem.search(f"vbench{int(qvid[(i := next(it))]):04d}", vector=qv[i], k=10),
                queries,
            )
            it = iter(range(queries))
            t_w, out_w = _time(
                lambda: mem.search(
                    f"vbench{int(qvid[(i := next(it))]):04d}",
                    vector=qv[i],
                    k=10,
                    t_start=wins[i][0],
                    t_end=wins[i][1],
                ),
                queries,
            )
            row["per-video"] = {
                "video": _pct(t_v),
                "video+time": _pct(t_w),
                "recall@10_video": recall(
                    [ids_to_idx([r.id for r in o]) for o in out_v], exact_vid
                ),
                "recall@10_video+time": recall(
                    [ids_to_idx([r.id for r in o]) for o in out_w], exact_win
                ),
            }
        if single_col is not None:
            col = single_col
            it = iter(range(queries))
            t_a, _ = _time(
                lambda: col.query(
                    query_embeddings=qv[next(it)][None],
                    n_results=10,
                    include=["metadatas", "distances"],
                ),
                queries,
            )
            it = iter(range(queries))
            t_v, out_v = _time(
                lambda: col.query(
                    query_embeddings=qv[(i := next(it))][None],
                    n_results=10,
                    where={"video_id": f"vbench{int(qvid[i]):04d}"},
                    include=["metadatas", "distances"],
                ),
                queries,
            )
            it = iter(range(queries))
            t_w, out_w = _time(
                lambda: col.query(
                    query_embeddings=qv[(i := next(it))][None],
                    n_results=10,
                    where={
                        "$and": [
                            {"video_id": f"vbench{int(qvid[i]):04d}"},
                            {"t_start": {"$lte": wins[i][1]}},
                            {"t_end": {"$gte": wins[i][0]}},
                        ]
                    },
                    include=["metadatas", "distances"],
                ),
                queries,
            )
            row["single"] = {
                "all": _pct(t_a),
                "video": _pct(t_v),
                "video+time": _pct(t_w),
                "recall@10_video": recall([ids_to_idx(o["ids"][0]) for o in out_v], exact_vid),
                "recall@10_video+time": recall([ids_to_idx(o["ids"][0]) for o in out_w], exact_win),
            }
        result["sizes"][str(size)] = row
        print(f"[bench] {size}: {json.dumps(row)}", file=sys.stderr, flush=True)
    if pv_store is not None:
        pv_store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--layouts",
        default="per-video,single",
        help="comma list of per-video, single (anything else: numpy only)",
    )
    ap.add_argument("--workdir", type=Path, default=None, help="kept if given (else a temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vidsleuth-bench-"))
    try:
        res = run(sizes, args.videos, args.dim, args.queries, work, args.layouts.split(","))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(res, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
