"""The speed work of coarse perception: frame-change reuse in OCR, batched tags, the
``index --perceive`` CLI and the end-to-end benchmark on a small generated video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.agent.cli.main import main


def _frame(t: float, text: str | None = None, shift: int = 0):  # type: ignore[no-untyped-def]
    import cv2

    from vidsleuth.tools.video import Frame

    img = np.full((360, 640, 3), 90, np.uint8)
    cv2.rectangle(img, (40 + shift, 250), (200 + shift, 330), (30, 160, 60), -1)
    if text:
        cv2.putText(img, text, (60, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4)
    return Frame(t=t, image=img, key=True)


def test_frame_change_sees_a_small_caption_but_not_noise() -> None:
    from vidsleuth.tools.perception.ocr import frame_change, frame_signature

    rng = np.random.default_rng(0)
    plain = _frame(0.0).image
    noisy = np.clip(plain.astype(int) + rng.integers(-3, 4, plain.shape), 0, 255).astype(np.uint8)
    caption = _frame(0.0, "EXIT 3").image
    base = frame_signature(plain)
    assert base.shape == (36, 64)
    assert frame_change(base, frame_signature(noisy)) < 1.0
    # The caption covers ~3% of the frame: the mean barely moves, its tiles do.
    assert float(np.abs(base - frame_signature(caption)).mean()) < 4.0
    assert frame_change(base, frame_signature(caption)) > 10.0


def test_ocr_sequence_reads_changed_frames_and_copies_unchanged_ones() -> None:
    from vidsleuth.tools.perception.ocr import OcrMemo, RapidOcrPerceiver

    ocr = RapidOcrPerceiver()
    memo = OcrMemo()
    frames = [_frame(0.0, "EXIT 3"), _frame(4.0, "EXIT 3"), _frame(8.0, "DOCK 12")]
    out = ocr.perceive_sequence(frames, memo)
    assert [r for _, r in out] == [None, 0.0, None]
    assert [o.text for o in out[0][0]] == ["EXIT 3"]
    assert [(o.text, o.t_start, o.t_end) for o in out[1][0]] == [("EXIT 3", 4.0, 4.0)]
    assert out[1][0][0].box == out[0][0][0].box
    assert [o.text for o in out[2][0]] == ["DOCK 12"]
    # The memo carries across calls; turning reuse off reads every frame.
    again = ocr.perceive_sequence([_frame(12.0, "DOCK 12")], memo)
    assert again[0][1] == 8.0
    off = RapidOcrPerceiver(reuse_diff=0.0)
    assert [r for _, r in off.perceive_sequence(frames[:2])] == [None, None]
    assert off.version != ocr.version != RapidOcrPerceiver(det_side=None).version


def test_ocr_text_vanishing_is_not_copied() -> None:
    from vidsleuth.tools.perception.ocr import RapidOcrPerceiver

    out = RapidOcrPerceiver().perceive_sequence([_frame(0.0, "EXIT 3"), _frame(4.0)])
    assert [o.text for o in out[0][0]] == ["EXIT 3"]
    assert out[1] == ([], None)


@pytest.fixture(scope="module")
def text_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vidsleuth.evals.synth import generate

    out = tmp_path_factory.mktemp("gen") / "text.mp4"
    generate(out, minutes=0.75, seed=5, needles=4, kinds="text", fps=5, progress=False)
    return out


def test_index_perceive_cli_stores_and_reuses(
    text_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    args = ["index", str(text_video), "--store", str(store), "--perceive", "ocr,tags", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    chunks = first["chunks_total"]
    ocr, tags = first["perception"]["ocr"], first["perception"]["tags"]
    assert ocr["units_computed"] == tags["units_computed"] == chunks
    assert ocr["units_reused"] == 0 and ocr["observations"] > 0 and tags["observations"] > 0
    assert 0 <= ocr["units_similar"] < chunks and ocr["seconds"] > 0
    assert set(first["perception"]) == {"ocr", "tags"}

    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    for name in ("ocr", "tags"):
        p = again["perception"][name]
        assert p["units_computed"] == 0 and p["units_reused"] == chunks
        assert p["observations"] == first["perception"][name]["observations"]

    from vidsleuth.memory.store import Store
    from vidsleuth.tools.perception.cache import reuse_producer

    with Store.open(store) as st:
        vid = first["video_id"]
        copied = st.keys(vid, reuse_producer("ocr"), ocr["version"])
        assert len(copied) == ocr["units_similar"]
        feats = st.keys(vid, "tags", tags["version"])
        assert sum(k.startswith("features/") for k in feats) == chunks
        one = st.get_array(vid, "tags", tags["version"], next(k for k in feats if "/" in k))
        assert one is not None and one.shape == (1, 1280)

    assert main(["index", str(text_video), "--store", str(store), "--perceive", "sight"]) == 2
    assert "unknown perceiver sight" in capsys.readouterr().err


def test_bench_perception_cli_reads_the_text_needles(
    text_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "perception", str(text_video), "--perceivers", "ocr", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["chunks"] > 0 and res["index_s"] > 0 and res["baseline"] is False
    ocr = res["perceivers"]["ocr"]
    assert ocr["frames_per_s"] > 0 and ocr["units"] == res["chunks"]
    assert res["estimate_60min_s"] > res["perception_s"] > 0
    recall = res["ocr_text_needles"]
    assert recall["text_needles"] == 4 and recall["visible_at_coarse_frames"] >= 1
    assert recall["recall"] >= 0.5, recall["missed"]
    assert main(["bench", "perception", str(text_video.with_suffix(".nope"))]) == 2
