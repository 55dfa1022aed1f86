"""The persistent store: format checks, atomic artifacts, content-addressed ids."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import StoreError, VideoError
from vidsleuth.memory.store import Store, fingerprint, version_of


def test_new_store_writes_format(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s"):
        pass
    info = json.loads((tmp_path / "s" / "FORMAT").read_text())
    assert info == {"format": "vidsleuth-store", "version": 1}


def test_newer_format_is_refused_and_not_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "FORMAT").write_text(json.dumps({"format": "vidsleuth-store", "version": 99}))
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(StoreError, match="version 99 is newer"):
        Store.open(root)
    assert sorted(p.name for p in root.iterdir()) == before
    assert json.loads((root / "FORMAT").read_text())["version"] == 99


def test_store_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        Store.open(f)


def test_corrupt_index_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "s"
    Store.open(root).close()
    (root / "index.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreError, match=r"index\.sqlite"):
        Store.open(root)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_store_folder(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    root.chmod(0)
    try:
        with pytest.raises(StoreError, match="not readable"):
            Store.open(root)
    finally:
        root.chmod(0o755)


def test_artifacts_roundtrip_and_versions(tmp_path: Path) -> None:
    v1, v2 = version_of(model="a", fps=1.0), version_of(model="a", fps=2.0)
    assert v1 != v2 and v1 == version_of(fps=1.0, model="a")
    with Store.open(tmp_path / "s") as st:
        st.put_json("vid", "ocr", v1, "c000001", [{"text": "hello"}])
        st.put_array("vid", "feat", v1, "c000001", np.arange(6, dtype=np.float32).reshape(2, 3))
        assert st.get_json("vid", "ocr", v1, "c000001") == [{"text": "hello"}]
        assert st.get_json("vid", "ocr", v2, "c000001") is None
        arr = st.get_array("vid", "feat", v1, "c000001")
        assert arr is not None and arr.dtype == np.float32 and arr.shape == (2, 3)
        assert st.keys("vid", "ocr", v1) == ["c000001"]
        with pytest.raises(StoreError, match="not json"):
            st.get_json("vid", "feat", v1, "c000001")
        assert st.delete_version("ocr", v1) == 1
        assert st.get_json("vid", "ocr", v1, "c000001") is None


def test_fingerprint_follows_content_not_path(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(os.urandom(5_000_000))
    fa = fingerprint(a)
    b = tmp_path / "renamed.bin"
    shutil.copy(a, b)
    assert fingerprint(b) == fa
    data = bytearray(a.read_bytes())
    data[0] ^= 0xFF
    b.write_bytes(bytes(data))
    assert fingerprint(b) != fa
    assert fingerprint(a, full=True).startswith("f")


@pytest.mark.parametrize("kind", ["missing", "dir", "empty"])
def test_fingerprint_rejects_non_files(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "v.mp4"
    if kind == "dir":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    with pytest.raises(VideoError, match=str(p)):
        fingerprint(p)


_WRITER = """
import sys
from vidsleuth.memory.store import Store
st = Store.open(sys.argv[1])
for i in range(int(sys.argv[3])):
    st.put_json("vid", "p", "v", f"{sys.argv[2]}-{i:05d}", {"i": i, "pad": "x" * 2000})
"""


def test_two_processes_write_one_store(tmp_path: Path) -> None:
    root = tmp_path / "s"
    Store.open(root).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), name, "300"])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Store.open(root) as st:
        keys = st.keys("vid", "p", "v")
        assert len(keys) == 600
        assert all(st.get_json("vid", "p", "v", k)["pad"] == "x" * 2000 for k in keys)
    conn = sqlite3.connect(root / "index.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_opening_a_new_store_waits_out_a_lost_race_to_wal(tmp_path, monkeypatch):
    """Two processes opening a new store race to switch it to WAL, and SQLite reports the loser
    'database is locked' at once, whatever the timeout: the loser tries again."""
    import sqlite3

    from vidsleuth.memory import store as store_mod

    real_connect = sqlite3.connect
    lost = {"n": 0}

    class Racing:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, sql, *a):
            if sql.startswith("PRAGMA journal_mode") and lost["n"] < 2:
                lost["n"] += 1
                raise sqlite3.OperationalError("database is locked")
            return self._conn.execute(sql, *a)

        def __getattr__(self, name):
            return getattr(self._conn, name)

    monkeypatch.setattr(store_mod.sqlite3, "connect", lambda *a, **k: Racing(real_connect(*a, **k)))
    st = Store.open(tmp_path / "store")
    assert lost["n"] == 2 and st.videos() == []
    st.close()
