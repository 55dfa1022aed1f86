"""``vidsleuth memory search|entities`` and ``vidsleuth store gc|verify`` end to end, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.memory.chroma import ChromaStore
from vidsleuth.memory.episodic import EpisodicMemory, chunk_spans
from vidsleuth.memory.semantic import SemanticMemory
from vidsleuth.tools.perception.types import Observation

VID = "vcli0001"


def _obs() -> list[Observation]:
    def o(t: float, kind: str, text: str = "", label: str | None = None) -> Observation:
        return Observation(
            t_start=t,
            t_end=t + 0.5,
            kind=kind,
            text=text,
            label=label,
            producer=f"t.{kind}",
            version="1",
        )

    return [
        o(2.0, "speech", "the chef slices onions on a wooden board"),
        o(45.0, "ocr", "HARBOUR MUSEUM OPENS AT NINE"),
        o(46.0, "object", label="boat"),
        o(90.0, "speech", "a dog runs across the park chasing a ball"),
        o(91.0, "object", label="dog"),
    ]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_inverted_range_is_a_clear_cli_error(tmp_path: Path, capsys) -> None:
    code, out, err = _run(
        capsys,
        "memory",
        "search",
        VID,
        "dog",
        "--from",
        "50",
        "--to",
        "10",
        "--store",
        str(tmp_path),
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        "vidsleuth: error: time range is inverted: t_start=50 s is after t_end=10 s"
    )


def test_entities_and_maintenance_commands(tmp_path: Path, capsys) -> None:
    from vidsleuth.memory.testing import HashingEmbedder

    emb = HashingEmbedder(32)
    with ChromaStore.open_embedded(tmp_path) as cs:
        EpisodicMemory(cs, emb).write_chunks(VID, _obs(), chunk_spans(120.0))
        SemanticMemory.for_store(cs, emb, tmp_path).add_observations(VID, _obs())

    code, out, _ = _run(capsys, "memory", "entities", VID, "--json", "--store", str(tmp_path))
    assert code == 0
    doc = json.loads(out)
    names = {e["name"]: e for e in doc["entities"]}
    assert set(names) == {"HARBOUR MUSEUM OPENS AT NINE", "boat", "dog"}
    assert names["dog"]["spans"] == [[91.0, 91.5]] and names["dog"]["kind"] == "object"

    code, out, _ = _run(capsys, "store", "verify", "--json", "--store", str(tmp_path))
    assert code == 0
    rep = json.loads(out)
    assert rep["ok"] and rep["records"] == 3 + 3 and rep["collections"] == 2

    # the video is not in the store's index, so gc treats its memory as orphaned
    code, out, _ = _run(capsys, "store", "gc", "--dry-run", "--json", "--store", str(tmp_path))
    assert code == 0 and json.loads(out)["records_removed"] == 0
    assert len(json.loads(out)["dropped_collections"]) == 2
    code, out, _ = _run(capsys, "store", "gc", "--store", str(tmp_path))
    assert code == 0 and "removed collection" in out
    code, out, _ = _run(capsys, "store", "verify", "--json", "--store", str(tmp_path))
    assert json.loads(out)["records"] == 0

    code, _, err = _run(capsys, "memory", "entities", "nope", "--store", str(tmp_path))
    assert code == 2 and "nope: neither a video file nor a video id" in err


@pytest.mark.slow
def test_search_with_the_default_text_embedder(tmp_path: Path, capsys) -> None:
    """Real MiniLM: a paraphrased query finds the right chunk by meaning."""
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import load_text_embedder

    emb = load_text_embedder(Settings(store=tmp_path))
    with ChromaStore.open_embedded(tmp_path) as cs:
        EpisodicMemory(cs, emb).write_chunks(VID, _obs(), chunk_spans(120.0))
    code, out, _ = _run(
        capsys, "memory", "search", VID, "a puppy playing fetch", "--json", "--store", str(tmp_path)
    )
    assert code == 0
    hits = json.loads(out)["hits"]
    assert hits[0]["t_start"] == 88.0 and hits[0]["level"] == "chunk"
    assert set(hits[0]) >= {"t_start", "t_end", "level", "text", "score"}
    assert hits[0]["score"] > hits[1]["score"]
    code, out, _ = _run(
        capsys,
        "memory",
        "search",
        VID,
        "cooking",
        "--from",
        "0",
        "--to",
        "30",
        "--store",
        str(tmp_path),
    )
    assert code == 0 and "chef slices onions" in out and "dog" not in out


def test_memory_build_reports_wall_time_of_the_whole_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``seconds`` is the whole command; indexing is ``index_seconds``, a part of it."""
    from agent_world import make_tiny_video

    monkeypatch.setenv("VIDSLEUTH_PERCEIVERS", "subtitles")  # no perception models to load
    video = make_tiny_video(tmp_path / "tiny.mp4")
    store = str(tmp_path / "store")
    code, out, err = _run(
        capsys, "memory", "build", str(video), "--store", store, "--no-summaries", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["seconds"] >= doc["index_seconds"] > 0
    code, out, err = _run(capsys, "memory", "build", str(video), "--store", store, "--no-summaries")
    assert code == 0, err
    assert "{" not in out and out.splitlines()[0].startswith("video_id")
    assert "index_seconds" in out and err.strip() == ""
