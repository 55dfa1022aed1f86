"""Tiny random-weight VLMs of both families through the transformers backend: built offline by
``python -m vidsleuth.tools.models.testing tiny-vlm``, loaded from settings, the frames sent
reach the model as the family's image tokens, batches match single requests, and a folder that
is not a VLM is one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsleuth.errors import ConfigError, ModelError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.factory import load_vlm, vlm_identity
from vidsleuth.tools.models.testing import build_tiny_causal_lm, main
from vidsleuth.tools.perception.caption import frame_messages

FRAME = np.full((360, 640, 3), (200, 40, 40), np.uint8)


@pytest.fixture(scope="module", params=["qwen2_vl", "smolvlm"])
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"tiny_{request.param}")
    assert main(["tiny-vlm", str(folder), "--family", request.param]) == 0
    return folder


def vlm_for(folder: Path, **kw: Any) -> Any:
    return load_vlm(
        Settings(vlm_backend="transformers", vlm_model=str(folder), model_device="cpu", **kw)
    )


def recorded_generate(vlm: Any) -> list[dict[str, Any]]:
    """Wrap the loaded model's ``generate`` to keep the inputs it receives."""
    model, _ = vlm._load()
    calls: list[dict[str, Any]] = []
    original = model.generate

    def generate(**inputs: Any) -> Any:
        calls.append(inputs)
        return original(**inputs)

    model.generate = generate
    return calls


def test_the_frames_sent_reach_the_model_as_image_tokens(tiny: Path) -> None:
    vlm = vlm_for(tiny)
    assert vlm.is_vlm and vlm.supports_images and vlm.family in ("qwen2_vl", "smolvlm")
    calls = recorded_generate(vlm)
    for n in (1, 3):
        msgs = frame_messages([FRAME] * n, "what happens?", max_side=256, max_images=8)
        res = vlm.chat(msgs, max_tokens=6)
        assert res.text.strip() and res.usage.prompt_tokens > 0
        ids = calls[-1]["input_ids"][0]
        _, proc = vlm._load()
        tok = proc.tokenizer
        if vlm.family == "qwen2_vl":
            # one <|vision_start|> per frame; <|image_pad|> x (patch grid / merge^2) per frame
            grid = calls[-1]["image_grid_thw"]
            assert grid.shape[0] == n
            assert int((ids == tok.convert_tokens_to_ids("<|vision_start|>")).sum()) == n
            assert vlm.image_tokens(ids) == int(grid.prod(dim=1).sum()) // 4 == 2 * n
        else:
            # one <global-img> per frame; 4 <image> tokens per 32-px tile the frame was split into
            tiles = calls[-1]["pixel_values"].shape[1]
            assert int((ids == tok.convert_tokens_to_ids("<global-img>")).sum()) == n
            assert vlm.image_tokens(ids) == 4 * tiles and tiles % n == 0


def test_batches_go_through_one_generate_and_match_single_requests(tiny: Path) -> None:
    vlm = vlm_for(tiny, vlm_concurrency=4)
    calls = recorded_generate(vlm)
    convs = [
        frame_messages([FRAME] * k, f"clip {k}", max_side=256, max_images=8) for k in (1, 2, 4)
    ]
    batched = vlm.chat_many(convs, max_tokens=6)
    assert len(calls) == 1 and calls[0]["input_ids"].shape[0] == 3
    assert all(r.text.strip() for r in batched)
    assert [r.usage.calls for r in batched] == [1, 1, 1]
    # left padding: the prompt token counts are each request's own
    singles = [vlm.chat(c, max_tokens=6) for c in convs]
    assert [r.usage.prompt_tokens for r in batched] == [r.usage.prompt_tokens for r in singles]
    if vlm.family == "smolvlm":  # no position-dependent rope: padding changes nothing
        assert [r.text for r in batched] == [r.text for r in singles]


def test_identity_names_the_folder_and_changes_with_its_weights(tiny: Path) -> None:
    cfg = Settings(vlm_backend="transformers", vlm_model=str(tiny))
    ident = vlm_identity(cfg)
    assert ident.startswith(f"transformers:{tiny.name}#")
    assert vlm_identity(cfg) == ident


def test_a_text_only_folder_is_not_a_vlm(tmp_path: Path) -> None:
    folder = build_tiny_causal_lm(tmp_path / "lm")
    with pytest.raises(ConfigError, match=r"text-only model \(model_type qwen2\)"):
        vlm_for(folder)


def test_a_folder_that_is_no_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(ModelError) as err:
        vlm_for(tmp_path / "junk")
    assert "\n" not in str(err.value) and "junk" in str(err.value)


def test_cli_rejects_an_unknown_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["tiny-vlm", str(tmp_path / "x"), "--family", "llava"])
    assert ex.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_one_image_the_processor_rejects_fails_alone(tiny: Path) -> None:
    if "qwen" not in tiny.name:
        pytest.skip("only Qwen2-VL's resize refuses extreme aspect ratios")
    vlm = vlm_for(tiny, vlm_concurrency=4)
    sliver = np.zeros((10, 8000, 3), np.uint8)  # 800:1, shrunk to 768x1
    convs = [
        frame_messages([FRAME], "fine", max_side=256, max_images=8),
        frame_messages([sliver], "sliver", max_side=768, max_images=8),
        frame_messages([FRAME, FRAME], "fine too", max_side=256, max_images=8),
    ]
    out = vlm.chat_many(convs, max_tokens=4)
    assert isinstance(out[1], ModelError) and "aspect ratio" in str(out[1])
    assert "\n" not in str(out[1])
    assert not isinstance(out[0], ModelError) and out[0].text.strip()
    assert not isinstance(out[2], ModelError) and out[2].text.strip()
