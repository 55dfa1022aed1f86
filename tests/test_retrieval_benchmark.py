"""Retriever data from benchmark annotations: LVBench ``time_reference`` spans as labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.evals.retrieval_data import benchmark_videos
from vidsleuth.tools.retrieval.data import build_examples
from vidsleuth.tools.retrieval.train import EmptyTrainingSetError


def _lvbench(tmp: Path, video: Path) -> tuple[Path, Path]:
    vids = tmp / "videos"
    vids.mkdir()
    video.rename(vids / "clipA.mp4")
    meta = tmp / "video_info.meta.jsonl"
    rows = [
        {
            "key": "clipA",
            "type": "documentary",
            "video_info": {"duration_minutes": 0.3},
            "qa": [
                {
                    "uid": 1,
                    "question": "When is the grey bar darkest?\n(A) a\n(B) b\n(C) c\n(D) d",
                    "answer": "A",
                    "question_type": ["temporal grounding"],
                    "time_reference": "00:04-00:07",
                },
                {
                    "uid": 2,
                    "question": "What is shown?\n(A) a\n(B) b\n(C) c\n(D) d",
                    "answer": "B",
                    "question_type": ["entity recognition", "reasoning"],
                    "time_reference": "00:12",
                },
            ],
        },
        {
            "key": "missing_video",
            "type": "tv",
            "qa": [
                {
                    "uid": 3,
                    "question": "Q?\n(A) a\n(B) b\n(C) c\n(D) d",
                    "answer": "C",
                    "question_type": ["reasoning"],
                    "time_reference": "00:01-00:02",
                }
            ],
        },
    ]
    meta.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return meta, vids


def test_lvbench_time_references_become_grounding_examples(
    tmp_path: Path, counter_video: Callable[..., Path]
) -> None:
    meta, vids = _lvbench(tmp_path, counter_video(seconds=16.0, fps=5))
    nvs = benchmark_videos("lvbench", meta, vids)
    assert [nv.path.name for nv in nvs] == ["clipA.mp4"]  # the question without a video is skipped
    examples = build_examples(nvs, "train")
    assert [(e.question, e.spans, e.kind) for e in examples] == [
        ("When is the grey bar darkest?", [(4.0, 7.0)], "TG"),
        ("What is shown?", [(12.0, 12.0)], "ER"),
    ]


def test_no_usable_question_is_a_clear_error(tmp_path: Path, counter_video) -> None:
    meta, _ = _lvbench(tmp_path, counter_video(seconds=4.0, fps=5))
    with pytest.raises(EmptyTrainingSetError, match="no lvbench question"):
        benchmark_videos("lvbench", meta, tmp_path / "elsewhere")


def test_retriever_eval_on_lvbench_annotations(
    tmp_path: Path, counter_video: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    meta, vids = _lvbench(tmp_path, counter_video(seconds=16.0, fps=5, size=(128, 96)))
    rc = main(
        [
            "retriever",
            "eval",
            "--task",
            "lvbench",
            "--data",
            str(meta),
            "--videos",
            str(vids),
            "--store",
            str(tmp_path / "store"),
            "--json",
            "--quiet",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert {"uniform", "embedding", "rvlm"} <= set(report)
    for name in ("uniform", "embedding", "rvlm"):
        assert 0.0 <= report[name]["recall@1"] <= report[name]["recall@5"] <= 1.0
