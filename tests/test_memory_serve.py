"""``vidsleuth memory serve``: its ``chroma run`` child never outlives it, and the store lock is
held for as long as that child still serves the folder (issue 15)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vidsleuth.errors import StoreError
from vidsleuth.memory.chroma import (
    ChromaStore,
    InheritableStoreLock,
    acquire_store_lock,
    chroma_executable,
    free_port,
)


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone: it serves nothing, holds no fd)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def test_the_lock_outlives_the_parent_while_a_child_holds_it(tmp_path: Path) -> None:
    lock = InheritableStoreLock(tmp_path, timeout=1)
    assert lock.fd is not None
    child = subprocess.Popen(["sleep", "60"], pass_fds=(lock.fd,))
    try:
        lock.close()  # the parent lets go (as a killed parent would)
        with pytest.raises(StoreError, match="in use"):
            acquire_store_lock(tmp_path, 0.2).release()
    finally:
        child.kill()
        child.wait()
    acquire_store_lock(tmp_path, 2).release()  # the last holder gone: the lock is free


def test_a_second_server_lock_is_refused(tmp_path: Path) -> None:
    first = InheritableStoreLock(tmp_path, timeout=1)
    try:
        with pytest.raises(StoreError, match="in use"):
            InheritableStoreLock(tmp_path, timeout=0.2)
        with pytest.raises(StoreError, match="in use"):
            ChromaStore.open_embedded(tmp_path, timeout=0.2)
    finally:
        first.close()


@pytest.mark.skipif(chroma_executable() is None, reason="the `chroma` CLI is not installed")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "term"])
def test_chroma_run_dies_with_memory_serve(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "vidsleuth", "memory", "serve", "--store", str(tmp_path)]
    parent = subprocess.Popen(
        [*argv, "--port", str(free_port())],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert parent.stderr is not None
    stream = parent.stderr
    threading.Thread(target=lambda: [lines.put(x) for x in stream], daemon=True).start()
    child = None
    try:
        deadline = time.monotonic() + 120
        while child is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert parent.poll() is None, "memory serve exited before serving"
                continue
            m = re.search(r"chroma run pid (\d+)", line)
            child = int(m.group(1)) if m else None
        assert child is not None and _alive(child)
        with pytest.raises(StoreError, match="in use"):
            ChromaStore.open_embedded(tmp_path, timeout=0.2)
        parent.send_signal(sig)
        parent.wait(timeout=30)
        assert _wait_gone(child, 30), f"chroma run (pid {child}) outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
    # the child gone, the folder opens embedded again
    with ChromaStore.open_embedded(tmp_path, timeout=5) as cs:
        assert cs.embedded
