"""Writer process for the memory concurrency tests (run as a script, not collected by pytest).

    python tests/memory_writer.py STORE URL|- NAME N BATCH [--hold SECONDS]

Writes N chunk records named ``NAME-<i>`` for video ``vid-shared`` in batches of BATCH, each batch
one ``add`` call.  In embedded mode (URL ``-``) the store is opened and closed around every batch,
so two writers interleave through the lock instead of one waiting for the other to finish.
``--hold`` opens the store and sleeps holding its lock (to test a waiting or refused process).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from vidsleuth.memory.chroma import ChromaStore
from vidsleuth.memory.records import MemoryRecord, VectorMemory
from vidsleuth.memory.testing import HashingEmbedder

VIDEO = "vid-shared"
DIM = 64


def make_record(name: str, i: int) -> MemoryRecord:
    return MemoryRecord(
        id=f"{name}-{i}",
        kind="episodic",
        video_id=VIDEO,
        level="chunk",
        t_start=4.0 * i,
        t_end=4.0 * i + 4.0,
        text=f"writer {name} record {i} saw a red car and the sign warehouse {i % 17}",
        producer=f"writer.{name}",
        version="v1",
        meta={"writer": name, "index": i},
    )


def main(argv: list[str]) -> int:
    store, url, name, n, batch = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    emb = HashingEmbedder(DIM)
    if "--hold" in argv:
        with ChromaStore.open_embedded(Path(store), timeout=30) as cs, cs.access():
            print("holding", flush=True)
            time.sleep(float(argv[argv.index("--hold") + 1]))
        return 0
    server = None if url == "-" else ChromaStore.open_server(url)
    for s in range(0, n, batch):
        recs = [make_record(name, i) for i in range(s, min(n, s + batch))]
        if server is not None:
            VectorMemory(server, emb).add(recs)
        else:
            with ChromaStore.open_embedded(Path(store), timeout=120) as cs:
                VectorMemory(cs, emb).add(recs)
        print(f"wrote {s + len(recs)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
