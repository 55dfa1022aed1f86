"""Two ``vidsleuth memory build`` runs on one embedded store interleave instead of refusing.

The embedded Chroma store is locked per batch of reads or writes (``ChromaStore.access``), not
for a whole build, so builds of different videos, and of the same video, both finish and the
store reads back whole.  Real Chroma, real ``vidsleuth`` processes, the default MiniLM text
embedder, and generated videos whose only perceiver is a subtitle sidecar (no vision models).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_counter_video

VIDSLEUTH = str(Path(sys.executable).parent / "vidsleuth")
#: one distinct thing said per cue, so a search can tell the chunks apart
THINGS = (
    "bicycle", "teapot", "volcano", "penguin", "violin", "glacier", "lantern", "tractor",
    "octopus", "cathedral", "umbrella", "giraffe", "telescope", "pineapple", "submarine",
    "windmill", "kangaroo", "chessboard", "waterfall", "helicopter",
)  # fmt: skip


def _srt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _video_with_subtitles(path: Path, seconds: int, topic: str) -> Path:
    """A small counter video and a sidecar ``.srt`` with a cue every 3 s (one per chunk or so)."""
    write_counter_video(path, seconds, fps=5)
    cues = [
        f"{i + 1}\n{_srt_time(3 * i)} --> {_srt_time(3 * i + 2.5)}\n"
        f"near the {topic} someone mentions a {THINGS[i]}\n"
        for i in range(seconds // 3)
    ]
    path.with_suffix(".srt").write_text("\n".join(cues), encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "VIDSLEUTH_PERCEIVERS": "subtitles",
        "HF_HUB_OFFLINE": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        # Well above one batch's write, well below a whole build: under the old whole-build lock
        # the later builds waited out this timeout and failed.
        "VIDSLEUTH_CHROMA_LOCK_TIMEOUT": "10",
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIDSLEUTH, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.slow
def test_concurrent_builds_on_one_embedded_store_both_finish(tmp_path: Path) -> None:
    a = _video_with_subtitles(tmp_path / "a.mp4", 60, "harbour museum")
    b = _video_with_subtitles(tmp_path / "b.mp4", 48, "red lighthouse")
    store = tmp_path / "store"
    env = _env()
    # Two different videos and the same video twice, all at once on one store.
    procs = [
        subprocess.Popen(
            [
                VIDSLEUTH,
                "memory",
                "build",
                str(v),
                "--store",
                str(store),
                "--no-summaries",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for v in (a, b, a)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "Traceback" not in err
        # the only thing a build may say on stderr (not a terminal) is whom it waits for
        for line in err.splitlines():
            assert line.startswith("vidsleuth: waiting for the store lock of "), line
            assert " held by pid " in line and "vidsleuth memory build" in line, line
        results.append(json.loads(out))
    assert results[0]["video_id"] == results[2]["video_id"] != results[1]["video_id"]
    # the same video built twice at once: its records are written once, by one of the two
    assert results[0]["memory_records_written"] + results[2]["memory_records_written"] == 15
    assert results[1]["memory_records_written"] == 12

    done = _run(env, "store", "verify", "--json", "--store", str(store))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["broken"] == []
    assert report["collections"] == 2 and report["records"] == 15 + 12

    # every record is there and searchable: the cue at 27 s (a cathedral) finds its chunk
    hit = _run(
        env, "memory", "search", str(a), "a big church", "--json", "-k", "1", "--store", str(store)
    )
    assert hit.returncode == 0, hit.stderr
    top = json.loads(hit.stdout)["hits"][0]
    assert "cathedral" in top["text"] and top["t_start"] == 28.0
