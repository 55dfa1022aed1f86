"""``vidsleuth index``: reuse, content ids, resume after kill -9, two processes, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import counter_index

from vidsleuth.agent.cli.main import main
from vidsleuth.memory.store import Store

CLI = [sys.executable, "-m", "vidsleuth"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def index_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["index", *args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_index_then_reuse_and_rename(
    tmp_path: Path, counter_video: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    video = counter_video(seconds=12.0, fps=10)
    store = str(tmp_path / "store")
    first = index_json(capsys, str(video), "--store", store, "--workers", "1")
    assert {
        "video_id",
        "duration_s",
        "chunks_total",
        "chunks_computed",
        "chunks_reused",
        "seconds",
    } <= set(first)
    assert (
        first["chunks_total"] == 3 and first["chunks_computed"] == 3 and first["chunks_reused"] == 0
    )
    assert first["duration_s"] == pytest.approx(12.0, abs=0.15)

    again = index_json(capsys, str(video), "--store", store)
    assert again["video_id"] == first["video_id"]
    assert (again["chunks_computed"], again["chunks_reused"]) == (0, 3)

    moved = video.rename(tmp_path / "renamed.mp4")
    renamed = index_json(capsys, str(moved), "--store", store)
    assert renamed["video_id"] == first["video_id"] and renamed["chunks_computed"] == 0

    # A different sampling rate is a different artifact beside the old one.
    faster = index_json(capsys, str(moved), "--store", store, "--fps", "2")
    assert faster["chunks_computed"] == 3

    with Store.open(store) as st:
        frames = st.frames(first["video_id"], first["plan"])
        assert [round(f.t, 2) for f in frames] == [float(t) for t in range(12)]
        # Frame-exact: the cached frame at t is frame index t * fps of the counter video.
        assert [counter_index(f.image, 120) for f in frames] == [t * 10 for t in range(12)]
        assert len(st.plans(first["video_id"])) == 2


def _chunk_count(store: Path) -> int:
    db = store / "index.sqlite"
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_resume_after_kill_9(tmp_path: Path, counter_video: Callable[..., Path]) -> None:
    video = counter_video(seconds=600.0, fps=10, size=(320, 180), gop=100)
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [*CLI, "index", str(video), "--store", str(store), "--workers", "2", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _chunk_count(store) < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail("indexing finished before it could be killed; make the video longer")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _chunk_count(store)
    assert 0 < done_before < 150

    res = run_cli("index", str(video), "--store", str(store), "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["chunks_total"] == 150
    assert summary["chunks_reused"] >= done_before
    assert summary["chunks_reused"] + summary["chunks_computed"] == 150
    with Store.open(store) as st:
        chunks = st.chunks(summary["video_id"], summary["plan"])
        assert [c.index for c in chunks] == list(range(150))
        frames = st.frames(summary["video_id"], summary["plan"])
        assert len(frames) == 600
        sample = frames[::37]
        assert [counter_index(f.image, 6000) for f in sample] == [round(f.t * 10) for f in sample]
    conn = sqlite3.connect(store / "index.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_two_processes_index_the_same_video(
    tmp_path: Path, counter_video: Callable[..., Path]
) -> None:
    video = counter_video(seconds=120.0, fps=10, size=(320, 180))
    store = tmp_path / "store"
    procs = [
        subprocess.Popen(
            [
                *CLI,
                "index",
                str(video),
                "--store",
                str(store),
                "--json",
                "--quiet",
                "--workers",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    summaries = [json.loads(o[0]) for o in outs]
    assert {s["video_id"] for s in summaries} == {summaries[0]["video_id"]}
    # The lock makes the later process reuse the earlier one's work instead of decoding again.
    assert sorted(s["chunks_computed"] for s in summaries) == [0, 30]
    with Store.open(store) as st:
        assert len(st.frames(summaries[0]["video_id"], summaries[0]["plan"])) == 120


def _bad_inputs(tmp: Path, shared: Path | None) -> dict[str, Path]:
    import av
    import numpy as np

    bad: dict[str, Path] = {"missing": tmp / "nope.mp4"}
    (tmp / "adir.mp4").mkdir()
    bad["directory"] = tmp / "adir.mp4"
    (tmp / "empty.mp4").write_bytes(b"")
    bad["zero-byte"] = tmp / "empty.mp4"
    (tmp / "text.mp4").write_text("this is not a video\n" * 50)
    bad["text"] = tmp / "text.mp4"
    audio = tmp / "audio_only.mp4"
    with av.open(str(audio), "w") as out:
        st = out.add_stream("aac", rate=16000)
        st.layout = "mono"
        for i in range(20):
            fr = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            fr.sample_rate, fr.pts = 16000, i * 1024
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    bad["no video stream"] = audio
    if shared is not None:
        data = (shared / "chaplin.mp4").read_bytes()
        (tmp / "truncated.mp4").write_bytes(data[: len(data) // 3])
        bad["truncated"] = tmp / "truncated.mp4"
    return bad


def test_bad_inputs_give_one_clear_line(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
    bad = _bad_inputs(tmp_path, shared if shared.is_dir() else None)
    store = tmp_path / "store"
    Store.open(store).close()
    snapshot = (store / "index.sqlite").read_bytes()
    for what, path in bad.items():
        for cmd in (["index", str(path), "--store", str(store)], ["info", str(path)]):
            res = run_cli(*cmd)
            assert res.returncode != 0, (what, cmd)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1, (what, res.stderr)
            assert str(path) in lines[0] and "Traceback" not in res.stderr, (what, lines)
    with Store.open(store) as st:
        assert st.videos() == []
    assert (store / "index.sqlite").read_bytes() == snapshot


def test_unusable_store_is_one_clear_line(
    tmp_path: Path, counter_video: Callable[..., Path]
) -> None:
    video = counter_video(seconds=2.0)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    res = run_cli("index", str(video), "--store", str(not_a_dir))
    assert res.returncode != 0 and "not a folder" in res.stderr and "Traceback" not in res.stderr
    assert not_a_dir.read_text() == "x"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges to 'nobody'")
def test_unreadable_store_folder_as_another_user(
    tmp_path: Path, counter_video: Callable[..., Path]
) -> None:
    """Root reads everything, so run the CLI as 'nobody' against a folder only root may use."""
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not available")
    base = Path("/tmp") / f"vidsleuth-perm-{os.getpid()}"
    base.mkdir(mode=0o755, exist_ok=True)
    try:
        video = base / "v.mp4"
        video.write_bytes(counter_video(seconds=2.0).read_bytes())
        video.chmod(0o644)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = {**os.environ, "HOME": str(base)}
        probe = subprocess.run(
            [*as_nobody, sys.executable, "-c", "import vidsleuth.agent.cli.main"],
            capture_output=True, text=True, timeout=60, env=env, cwd=base,
        )  # fmt: skip
        if probe.returncode != 0:
            pytest.skip(f"'nobody' cannot use this checkout's venv: {probe.stderr.strip()[-120:]}")
        store = base / "store"
        store.mkdir(mode=0o700)
        res = subprocess.run(
            [*as_nobody, *CLI, "index", str(video), "--store", str(store)],
            capture_output=True, text=True, timeout=120, env=env, cwd=base,
        )  # fmt: skip
        assert res.returncode != 0
        assert str(store) in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert list(store.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
