"""Fitting the stop rule on labelled runs, cross-validated by video, and its bad input."""

from __future__ import annotations

import json
import random

import pytest

from vidsleuth.errors import ConfigError
from vidsleuth.evals.fit_stop import fit, load_rows, main


def _run(tmp_path, name, n=40, seed=0):
    """A run folder whose right answers rest on exact text and wrong ones on labels."""
    rng = random.Random(seed)
    d = tmp_path / name
    d.mkdir()
    rows = []
    for i in range(n):
        right = rng.random() < 0.6
        feats = {
            "agreement": 1.0,
            "stated": 0.9,
            "margin": rng.uniform(0, 0.3),
            "exact": 1.0 if right and rng.random() < 0.9 else 0.0,
            "label": 0.0 if right else 1.0,
        }
        rows.append(
            {
                "uid": f"{name}:{i}",
                "video_key": f"v{i % 3}",  # both runs ask about the same three videos
                "answer": "A",
                "correct": right,
                "answered_by": "model",
                "trace": [{"features": feats}],
            }
        )
    rows.append({"uid": "x", "video_key": "v0", "answer": None, "correct": False, "trace": []})
    (d / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_fitted_weights_separate_exact_from_label_evidence_held_out(tmp_path):
    runs = [_run(tmp_path, "needles", seed=1), _run(tmp_path, "real", seed=2)]
    assert len(load_rows(runs)) == 80  # the unanswered question is left out
    res = fit(runs, (-3.0, 2.5, 2.0, 4.0, 0.0, 0.0), 0.75)
    w = dict(zip(res["features"], res["weights"], strict=True))
    assert w["exact"] > 0 > w["label"]
    held = res["fitted_leave_one_video_out"]
    assert held["n"] == 80 and held["ece"] < res["current_weights_in_sample"]["ece"]
    assert sorted(held["by_video"]) == ["v0", "v1", "v2"]
    assert sum(v["n"] for v in held["by_video"].values()) == 80
    # runs over the same videos share folds: a video is held out of every run at once
    assert res["data"]["questions"] == 80 and res["data"]["videos"] == ["v0", "v1", "v2"]


def test_bad_run_folders_are_one_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"no results\.jsonl"):
        load_rows([tmp_path])
    (tmp_path / "results.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigError, match=":1: not JSON"):
        load_rows([tmp_path])
    assert main([str(tmp_path)]) == 2
    assert "fit_stop:" in capsys.readouterr().err


def test_shipped_weights_are_the_fitted_ones_with_their_data_note(monkeypatch):
    """The default stop weights are the ones in the fit card, which says what they came from."""
    from pathlib import Path

    from vidsleuth.settings import Settings

    monkeypatch.delenv("VIDSLEUTH_AGENT_STOP_WEIGHTS", raising=False)
    card = json.loads(
        (Path(__file__).resolve().parents[1] / "evals/fitted/stop_weights.json").read_text()
    )
    assert tuple(card["weights"]) == Settings().agent_stop_weights
    assert card["data"]["questions"] >= 10 and "needle" in card["note"]
    assert card["fitted_leave_one_video_out"]["n"] == card["data"]["questions"]
