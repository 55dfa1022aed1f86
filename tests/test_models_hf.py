"""transformers backends with tiny random-weight models built from configs (no downloads), the
factory's routing, and the import-weight rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from vidsleuth.errors import ConfigError, ModelError
from vidsleuth.settings import Settings
from vidsleuth.tools.models.base import Embedder, StructuredOutputError, UnsupportedModality
from vidsleuth.tools.models.embedders import HFClipEmbedder
from vidsleuth.tools.models.factory import (
    load_chat_model,
    load_embedder,
    load_image_embedder,
    load_text_embedder,
)
from vidsleuth.tools.models.hf_chat import TransformersChatModel
from vidsleuth.tools.models.testing import build_tiny_causal_lm, build_tiny_clip


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


class Pick(BaseModel):
    answer: str


def test_tiny_lm_chats_with_its_template(tiny_lm: Path) -> None:
    from transformers import AutoTokenizer

    model = TransformersChatModel(tiny_lm, device="cpu")
    assert model.supports_images is False and not model.is_vlm
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the quick fox"}]
    res = model.chat(msgs, max_tokens=6)
    expected_prompt = AutoTokenizer.from_pretrained(tiny_lm).apply_chat_template(
        msgs, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert res.usage.prompt_tokens == len(expected_prompt)
    assert 1 <= res.usage.completion_tokens <= 6 and res.usage.calls == 1
    assert res.finish_reason in ("stop", "length")
    again = model.chat(msgs, max_tokens=6)  # greedy decoding is deterministic
    assert again.text == res.text


def test_tiny_lm_random_output_becomes_a_counted_failure(tiny_lm: Path) -> None:
    model = TransformersChatModel(tiny_lm, device="cpu", max_retries=1)
    res = model.chat([{"role": "user", "content": "answer"}], max_tokens=4, schema=Pick)
    assert isinstance(res.failure, StructuredOutputError)
    assert (res.usage.calls, res.usage.retries, res.usage.failures) == (2, 1, 1)


def test_text_only_transformers_model_refuses_images(tiny_lm: Path) -> None:
    model = TransformersChatModel(tiny_lm, device="cpu")
    with pytest.raises(ModelError, match="text-only"):
        model.chat(
            [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": np.zeros((4, 4, 3), np.uint8)}],
                }
            ]
        )


def test_missing_transformers_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a local model folder"):
        TransformersChatModel(tmp_path / "nope", device="cpu")


def test_tiny_clip_embeds_texts_and_images(tiny_clip: Path) -> None:
    emb = HFClipEmbedder(tiny_clip, device="cpu")
    assert isinstance(emb, Embedder) and emb.dim == 16 and emb.modalities == {"text", "image"}
    texts = emb.embed_texts(["a dog", "a red car", "a dog"])
    assert texts.shape == (3, 16) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(texts[0], texts[2], rtol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), np.zeros((8000, 20, 3), np.uint8)]
    vecs = emb.embed_images(imgs)
    assert vecs.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert emb.embed_texts([]).shape == (0, 16)


def test_bad_image_to_embedder_is_a_clear_error(tiny_clip: Path) -> None:
    emb = HFClipEmbedder(tiny_clip, device="cpu")
    with pytest.raises(ModelError, match="HxWx3 uint8"):
        emb.embed_images([np.zeros((10, 10), np.uint8)])


def test_factory_routes_by_configuration(tiny_lm: Path, tiny_clip: Path, tmp_path: Path) -> None:
    s = Settings(
        store=tmp_path,
        chat_backend="transformers",
        chat_model=str(tiny_lm),
        model_device="cpu",
        image_embedder=f"clip:{tiny_clip}",
    )
    chat = load_chat_model(s)
    assert isinstance(chat, TransformersChatModel)
    assert chat.chat([{"role": "user", "content": "hi"}], max_tokens=2).usage.calls == 1
    assert isinstance(load_image_embedder(s), HFClipEmbedder)
    with pytest.raises(ModelError, match="no image embedder configured"):
        load_image_embedder(Settings(store=tmp_path))


def test_factory_rejects_mismatched_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GGUF for the llamacpp backend"):
        load_chat_model(
            Settings(store=tmp_path, chat_backend="transformers", chat_model="qwen2.5-coder-0.5b")
        )
    with pytest.raises(ModelError, match="neither a registered model"):
        load_chat_model(Settings(store=tmp_path, chat_model=str(tmp_path / "missing.gguf")))
    with pytest.raises(ConfigError, match="chat model, not an embedder"):
        load_text_embedder(Settings(store=tmp_path, text_embedder="qwen2.5-coder-0.5b"))
    with pytest.raises(ModelError, match="neither a registered model"):
        load_embedder("no-such-embedder", Settings(store=tmp_path))


def test_sentence_transformers_embedder_is_text_only(tmp_path: Path) -> None:
    emb = load_text_embedder(Settings(store=tmp_path))  # minilm: resolved, not loaded yet
    assert emb.id == "st:minilm" and emb.dim == 384
    with pytest.raises(UnsupportedModality):
        emb.embed_images([np.zeros((4, 4, 3), np.uint8)])


def test_importing_the_model_layer_stays_light() -> None:
    code = (
        "import sys, vidsleuth.tools.models.factory, vidsleuth.tools.models.testing, "
        "vidsleuth.tools.models.registry, vidsleuth.agent.cli.models; "
        "heavy = [m for m in ('torch', 'transformers', 'xllamacpp', 'vllm', 'open_clip', "
        "'sentence_transformers') if m in sys.modules]; print(heavy); assert not heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
