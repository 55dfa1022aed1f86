"""The memory's Chroma store under concurrency and faults: lock, server mode, format, kill -9.

Every test here uses real Chroma (embedded and ``chroma run``), real subprocesses and a
model-free hashing embedder, so it runs offline in seconds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import StoreError
from vidsleuth.memory.chroma import (
    FORMAT_FILE,
    ChromaServer,
    ChromaStore,
    chroma_executable,
    free_port,
)
from vidsleuth.memory.maintenance import verify
from vidsleuth.memory.records import VectorMemory, collection_name
from vidsleuth.memory.testing import HashingEmbedder

WRITER = Path(__file__).with_name("memory_writer.py")
sys.path.insert(0, str(WRITER.parent))
from memory_writer import DIM, VIDEO, make_record  # noqa: E402

EMB = HashingEmbedder(DIM)
COLLECTION = collection_name("episodic", VIDEO, EMB.id)


def _writer(store: Path, url: str, name: str, n: int, batch: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(store), url, name, str(n), str(batch), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_all(cs: ChromaStore) -> dict[str, tuple[np.ndarray, str, dict]]:
    col = cs.existing(COLLECTION)
    assert col is not None
    got = col.get(include=["embeddings", "documents", "metadatas"])
    return {
        rid: (np.asarray(e, dtype=np.float32), d, m)
        for rid, e, d, m in zip(
            got["ids"], got["embeddings"], got["documents"], got["metadatas"], strict=True
        )
    }


def _assert_exact(records: dict[str, tuple[np.ndarray, str, dict]], names: list[str], n: int):
    """Every expected record is there, whole: embedding, text and metadata as written."""
    assert len(records) == len(names) * n
    for name in names:
        for i in range(n):
            emb, doc, meta = records[f"{name}-{i}"]
            want = make_record(name, i)
            assert doc == want.text
            assert meta["t_start"] == want.t_start and meta["writer"] == name
            np.testing.assert_allclose(emb, EMB.embed_texts([want.text])[0], atol=1e-6)


def test_two_processes_embedded_lock(tmp_path: Path) -> None:
    n, batch = 120, 10
    procs = [_writer(tmp_path, "-", name, n, batch) for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with ChromaStore.open_embedded(tmp_path, timeout=10) as cs:
        _assert_exact(_read_all(cs), ["a", "b"], n)
        report = verify(cs)
    assert report.ok, report.broken[:5]
    assert report.records == 2 * n


def test_second_process_refused_naming_holder_pid(tmp_path: Path) -> None:
    holder = _writer(tmp_path, "-", "h", 0, 1, "--hold", "20")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        t0 = time.monotonic()
        with pytest.raises(StoreError) as info:
            ChromaStore.open_embedded(tmp_path, timeout=0.5)
        waited = time.monotonic() - t0
        assert f"pid {holder.pid}" in str(info.value)
        assert "in use" in str(info.value)
        assert 0.4 < waited < 10
    finally:
        holder.kill()
        holder.wait()
    # a killed holder releases the lock at once (flock), so the store opens again
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        assert cs.embedded


def test_same_process_reopen_is_shared_not_deadlocked(tmp_path: Path) -> None:
    a = ChromaStore.open_embedded(tmp_path, timeout=1)
    b = ChromaStore.open_embedded(tmp_path, timeout=1)
    assert a is b
    b.close()
    a.collection("episodic-x-00000000", dim=4, space_id="t")  # still usable after one close
    a.close()
    with pytest.raises(StoreError, match="after it was closed"):
        a.collection("episodic-x-00000000", dim=4, space_id="t")


def test_an_open_store_holds_no_lock_between_batches(tmp_path: Path) -> None:
    """The lock is taken per batch (``ChromaStore.access``), not for as long as a store is open:
    another process takes it at once while this one keeps its store open between writes."""
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        VectorMemory(cs, EMB).add([make_record("a", i) for i in range(5)])
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from vidsleuth.memory.chroma import acquire_store_lock; "
                "acquire_store_lock(sys.argv[1], 1.0).release()",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr
        with cs.access():  # while a batch runs, the lock is held
            refused = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from vidsleuth.memory.chroma import acquire_store_lock; "
                    "acquire_store_lock(sys.argv[1], 0.2)",
                    str(tmp_path),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert refused.returncode != 0 and f"pid {os.getpid()}" in refused.stderr


def test_a_waiting_process_says_once_whom_it_waits_for(tmp_path: Path) -> None:
    holder = _writer(tmp_path, "-", "h", 0, 1, "--hold", "3")
    lines: list[str] = []
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with ChromaStore.open_embedded(tmp_path, timeout=60, on_wait=lines.append) as cs:
            assert cs.collection_names() == []
    finally:
        holder.kill()
        holder.wait()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vidsleuth: waiting for the store lock of ")
    assert f"held by pid {holder.pid} (memory_writer.py " in lines[0]


def test_another_processs_writes_are_read_not_a_stale_cache(tmp_path: Path) -> None:
    """A client kept open while another process wrote answered queries from its old in-memory
    index (30 of 70 records here); the store reopens it when someone else held the lock."""
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        mem = VectorMemory(cs, EMB)
        mem.add([make_record("a", i) for i in range(30)])
        assert len(mem.search(VIDEO, "a red car", k=200)) == 30
        p = _writer(tmp_path, "-", "b", 40, 40)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        hits = mem.search(VIDEO, "a red car", k=200)
        assert len(hits) == 70 and {h.id.split("-")[0] for h in hits} == {"a", "b"}
        assert mem.count(VIDEO) == 70
        # and this process still writes after the reopen, beside the other's records
        assert mem.add([make_record("a", i) for i in range(30, 35)]) == 5
        report = verify(cs)
    assert report.ok and report.records == 75


@pytest.mark.skipif(chroma_executable() is None, reason="the `chroma` CLI is not installed")
def test_two_processes_server_mode(tmp_path: Path) -> None:
    n, batch = 150, 10
    with ChromaServer(tmp_path) as server:
        procs = [_writer(tmp_path, server.url, name, n, batch) for name in ("a", "b")]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        cs = ChromaStore.open_server(server.url)
        try:
            _assert_exact(_read_all(cs), ["a", "b"], n)
            assert verify(cs).ok
        finally:
            cs.close()
        # while the server runs, nobody may open its folder embedded
        with pytest.raises(StoreError, match="in use"):
            ChromaStore.open_embedded(tmp_path, timeout=0.2)
    # after the server stops, the same folder reads back whole in embedded mode
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        _assert_exact(_read_all(cs), ["a", "b"], n)


def test_server_down_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as info:
        ChromaStore.open_server(url)
    assert url in str(info.value)
    assert "not reachable" in str(info.value)
    with pytest.raises(StoreError, match="expected http"):
        ChromaStore.open_server("ftp://nowhere")


def test_newer_format_refused_and_untouched(tmp_path: Path) -> None:
    with ChromaStore.open_embedded(tmp_path) as cs:
        cs.collection("episodic-x-00000000", dim=4, space_id="t")
    marker = tmp_path / "chroma" / FORMAT_FILE
    assert marker.read_text().strip() == "1"
    marker.write_text("7\n")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "chroma").iterdir()}
    with pytest.raises(StoreError, match="format 7 is newer"):
        ChromaStore.open_embedded(tmp_path)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "chroma").iterdir()}
    assert before == after
    assert marker.read_text() == "7\n"
    # the lock was released on the refusal: a second attempt fails the same way, not by timeout
    with pytest.raises(StoreError, match="newer"):
        ChromaStore.open_embedded(tmp_path, timeout=0.1)


def test_foreign_chroma_folder_refused(tmp_path: Path) -> None:
    (tmp_path / "chroma").mkdir()
    (tmp_path / "chroma" / "chroma.sqlite3").write_bytes(b"x")
    with pytest.raises(StoreError, match="no FORMAT marker"):
        ChromaStore.open_embedded(tmp_path)


def test_kill_mid_write_leaves_no_half_record(tmp_path: Path) -> None:
    rng = random.Random(4)
    names = [f"k{i}" for i in range(5)]
    for name in names:
        p = _writer(tmp_path, "-", name, 100_000, 50)
        assert p.stdout is not None
        p.stdout.readline()  # at least one batch written, the next ones in flight
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        records = _read_all(cs)
        report = verify(cs)
    assert report.ok, report.broken[:5]
    assert len(records) >= len(names) * 50
    per_writer: dict[str, list[int]] = {}
    for rid, (emb, doc, meta) in records.items():
        name, i = rid.rsplit("-", 1)
        want = make_record(name, int(i))
        assert doc == want.text and meta["index"] == int(i)
        np.testing.assert_allclose(emb, EMB.embed_texts([want.text])[0], atol=1e-6)
        per_writer.setdefault(name, []).append(int(i))
    for name, idx in per_writer.items():
        # batches are whole: each writer's records are a prefix made of full 50-record batches
        assert sorted(idx) == list(range(len(idx))), name
        assert len(idx) % 50 == 0, (name, len(idx))
