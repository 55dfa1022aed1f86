"""`vidsleuth retriever train/eval` end to end on tiny generated needle videos (real video files,
real store, real features; two epochs, so this checks the plumbing, not the accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from vidsleuth.agent.cli.main import main


@pytest.fixture(scope="module")
def needle_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from vidsleuth.evals.synth.generator import generate

    root = tmp_path_factory.mktemp("needles")
    out = []
    for name, seeds, bg in (("train", (1, 2, 3), "train"), ("test", (101,), "test")):
        d = root / name
        d.mkdir()
        for s in seeds:
            generate(
                d / f"v{s}.mp4",
                minutes=0.4,
                seed=s,
                needles=2,
                kinds="text,flash",
                fps=5,
                width=160,
                height=96,
                backgrounds=bg,
                progress=False,
            )
        out.append(d)
    return out[0], out[1]


def test_train_then_eval_from_the_command_line(
    tmp_path: Path, needle_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train_dir, test_dir = needle_dirs
    store = str(tmp_path / "store")
    ckpt = tmp_path / "r.pt"
    common = ["--store", store, "--json", "--quiet", "--perceive", "none"]
    rc = main(
        [
            "retriever",
            "train",
            "--data",
            str(train_dir),
            "--out",
            str(ckpt),
            "--epochs",
            "2",
            *common,
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_questions"] > 0 and summary["val_questions"] > 0
    assert ckpt.is_file() and ckpt.with_suffix(".png").is_file()
    meta = json.loads(ckpt.with_name(ckpt.name + ".json").read_text())
    assert meta["config"]["match_features"] and meta["config"]["colour_dim"] == 30
    assert not set(meta["info"]["train_videos"]) & set(meta["info"]["val_videos"])

    rc = main(
        [
            "retriever",
            "eval",
            "--data",
            str(test_dir),
            "--data",
            str(train_dir),
            "--ckpt",
            str(ckpt),
            *common,
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"uniform", "embedding", "lexical", "rvlm"}
    for r in report.values():
        assert 0.0 <= r["recall@1"] <= r["recall@5"] <= r["recall@10"] <= 1.0
        assert r["questions"] == report["uniform"]["questions"] > 0
    assert "k_adaptive" in report["rvlm"]


def test_bad_training_data_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    store = ["--store", str(tmp_path / "store"), "--quiet"]
    rc = main(["retriever", "train", "--data", str(empty), "--out", str(tmp_path / "x.pt"), *store])
    assert rc != 0
    err = capsys.readouterr().err
    assert "no needle videos" in err and "Traceback" not in err
    rc = main(
        [
            "retriever",
            "eval",
            "--task",
            "lvbench",
            "--data",
            str(empty),
            "--data",
            str(empty),
            *store,
        ]
    )
    assert rc != 0
    assert "takes one --data" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
