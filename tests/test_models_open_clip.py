"""open_clip through its own factory with random weights (no download).

open_clip needs torchvision, which does not import beside the CPU torch of the default install,
so these run in the separate ``clip`` CI environment (see ``.ci``/the report) and skip here.
This file imports only light modules at the top so that environment needs no transformers.
"""

from __future__ import annotations

import numpy as np
import pytest

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import Embedder
from vidsleuth.tools.models.embedders import OpenClipEmbedder


def _has_open_clip() -> bool:
    try:
        import open_clip  # noqa: F401
    except Exception:  # ImportError, or torchvision failing to import beside this torch
        return False
    return True


def test_open_clip_without_its_extra_is_a_clear_error() -> None:
    if _has_open_clip():
        pytest.skip("open_clip is installed; see test_open_clip_random_weights")
    with pytest.raises(ModelError, match=r"vidsleuth\[clip\]"):
        OpenClipEmbedder("ViT-S-32").embed_texts(["x"])


@pytest.mark.skipif(not _has_open_clip(), reason="open_clip (the clip extra) is not installed")
def test_open_clip_random_weights() -> None:
    emb = OpenClipEmbedder("ViT-S-32", None, device="cpu")
    assert isinstance(emb, Embedder) and emb.id == "open_clip:ViT-S-32:random"
    texts = emb.embed_texts(["a dog", "a red car", "a dog"])
    rng = np.random.default_rng(0)
    imgs = emb.embed_images(
        [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), np.zeros((30, 500, 3), np.uint8)]
    )
    assert texts.shape == (3, emb.dim) and imgs.shape == (2, emb.dim) and emb.dim > 0
    np.testing.assert_allclose(np.linalg.norm(imgs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(texts[0], texts[2], rtol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    assert emb.embed_texts([]).shape == (0, emb.dim)


@pytest.mark.skipif(not _has_open_clip(), reason="open_clip (the clip extra) is not installed")
def test_open_clip_unknown_architecture_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="open_clip cannot build"):
        OpenClipEmbedder("No-Such-Arch").embed_texts(["x"])
