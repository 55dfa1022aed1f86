"""Embedder backends: sentence-transformers (default text: MiniLM), transformers CLIP/SigLIP, and
open_clip.

All load their weights on first use and return L2-normalised ``float32`` rows.  transformers'
``*ImageProcessorPil`` classes are used for images because the default (fast) processors import
torchvision, which does not import beside the CPU torch build vidsleuth installs.  open_clip
needs torchvision, so it lives in the optional ``clip`` extra and is imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import UnsupportedModality


def _normalise(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


def _pil_images(images: Sequence[np.ndarray]) -> list[Any]:
    from PIL import Image

    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
            raise ModelError(
                f"expected an HxWx3 uint8 RGB image, got shape {arr.shape} {arr.dtype}"
            )
        out.append(Image.fromarray(arr))
    return out


def quiet_transformers() -> None:
    """transformers draws a "Loading weights" bar on every load; keep stderr for real progress."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _features(out: Any) -> Any:
    """``get_*_features`` returns a tensor in older transformers and an output object in newer."""
    if hasattr(out, "pooler_output") and not hasattr(out, "shape"):
        return out.pooler_output
    return out


#: at most this many texts are embedded by the numpy encoder when sentence-transformers is not
#: loaded yet (a query, a few facts); bulk writes load sentence-transformers, which is ~5x faster
#: per text on a batch (both give the same vectors, see :mod:`.bert_numpy`)
SMALL_BATCH = 8


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder (text only).

    A few texts from a plain mean-pooled BERT (the default MiniLM) are embedded with numpy alone
    (:class:`~vidsleuth.tools.models.bert_numpy.NumpyBertEncoder`), so a memory query does not
    import torch, transformers and sentence-transformers (seconds) to embed one sentence.
    """

    modalities = frozenset({"text"})

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        dim: int | None = None,
        device: str = "cpu",
        batch_size: int = 32,
    ) -> None:
        self.path = Path(path)
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise ModelError(f"{self.path}: not a sentence-transformers model folder")
        self.id = f"st:{name or self.path.name}"
        self.device = device
        self.batch_size = batch_size
        self._dim = dim
        self._model: Any = None
        self._light: Any = None  # NumpyBertEncoder, or False when the folder is not plain BERT

    def _light_encoder(self) -> Any:
        """The numpy encoder of this folder, or None when it cannot compute it exactly."""
        if self._light is None:
            from vidsleuth.tools.models.bert_numpy import NumpyBertEncoder, plain_bert_folder

            self._light = NumpyBertEncoder(self.path) if plain_bert_folder(self.path) else False
        return self._light or None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            quiet_transformers()
            try:
                self._model = SentenceTransformer(str(self.path), device=self.device)
            except Exception as err:
                raise ModelError(
                    f"{self.path}: cannot load sentence-transformers model: {err}"
                ) from err
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None and self._model is None and self._light_encoder() is not None:
            self._dim = int(self._light_encoder().dim)
        if self._dim is None:
            getter = (
                getattr(self._load(), "get_embedding_dimension", None)
                or self._load().get_sentence_embedding_dimension
            )
            self._dim = int(getter())
        return self._dim

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._model is None and len(texts) <= SMALL_BATCH:
            light = self._light_encoder()
            if light is not None:
                return _normalise(light.encode(list(texts)))
        vecs = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vecs)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        raise UnsupportedModality(f"{self.id} embeds text only")


_PIL_PROCESSORS = {
    "clip": "CLIPImageProcessorPil",
    "siglip": "SiglipImageProcessorPil",
    "siglip2": "Siglip2ImageProcessorPil",
    "chinese_clip": "ChineseCLIPImageProcessorPil",
}


class HFClipEmbedder:
    """A transformers CLIP / SigLIP dual encoder: texts and images in one space."""

    modalities = frozenset({"text", "image"})

    def __init__(self, model: str | Path, *, device: str = "auto") -> None:
        from transformers import AutoConfig

        self.model_ref = str(model)
        try:
            self._config = AutoConfig.from_pretrained(self.model_ref)
        except (OSError, ValueError) as err:
            raise ModelError(
                f"{self.model_ref}: not a local CLIP/SigLIP folder, "
                "and not a hub id available offline"
            ) from err
        if self._config.model_type not in _PIL_PROCESSORS:
            raise ModelError(
                f"{self.model_ref}: model type {self._config.model_type!r} is not a CLIP-like "
                f"dual encoder (supported: {', '.join(_PIL_PROCESSORS)})"
            )
        name = Path(self.model_ref).name if Path(self.model_ref).exists() else self.model_ref
        self.id = f"hfclip:{name}"
        self.device_pref = device
        proj = getattr(self._config, "projection_dim", None)
        self.dim = int(proj or self._config.text_config.hidden_size)
        self._model: Any = None

    def _load(self) -> tuple[Any, Any, Any]:
        if self._model is None:
            import transformers
            from transformers import AutoModel, AutoTokenizer

            from vidsleuth.tools.models.hf_chat import resolve_device

            quiet_transformers()
            self.device = resolve_device(self.device_pref)
            proc_cls = getattr(transformers, _PIL_PROCESSORS[self._config.model_type])
            try:
                self._model = AutoModel.from_pretrained(self.model_ref).to(self.device).eval()
                self._tok = AutoTokenizer.from_pretrained(self.model_ref)
                self._proc = proc_cls.from_pretrained(self.model_ref)
            except (OSError, ValueError) as err:
                raise ModelError(f"{self.model_ref}: cannot load: {err}") from err
        return self._model, self._tok, self._proc

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model, tok, _ = self._load()
        # SigLIP was trained on max-length padded text; CLIP pools at EOS so either works.
        padding = "max_length" if self._config.model_type.startswith("siglip") else True
        batch = tok(list(texts), padding=padding, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            feats = _features(model.get_text_features(**batch.to(self.device)))
        return _normalise(feats.float().cpu().numpy())

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        model, _, proc = self._load()
        pixels = proc(images=_pil_images(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            feats = _features(model.get_image_features(pixel_values=pixels.to(self.device)))
        return _normalise(feats.float().cpu().numpy())


class OpenClipEmbedder:
    """An open_clip model by architecture name, with weights from a local checkpoint, a pretrained
    tag (needs a reachable hub), or none (random weights: tests and CI).

    Install with ``pip install 'vidsleuth[clip]'``; open_clip imports torchvision, which needs
    the matching torch (see the notes), so the default install leaves it out.
    """

    modalities = frozenset({"text", "image"})

    def __init__(self, arch: str, pretrained: str | None = None, *, device: str = "cpu") -> None:
        self.arch = arch
        self.pretrained = pretrained or None
        self.device = device
        tag = Path(pretrained).name if pretrained else "random"
        self.id = f"open_clip:{arch}:{tag}"
        self._model: Any = None
        self._dim: int | None = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                import open_clip
            except ImportError as err:
                raise ModelError(
                    "the open_clip embedder needs the clip extra: pip install 'vidsleuth[clip]' "
                    f"(open_clip_torch and torchvision) ({err})"
                ) from err
            try:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    self.arch, pretrained=self.pretrained, device=self.device
                )
            except Exception as err:
                raise ModelError(
                    f"open_clip cannot build {self.arch} ({self.pretrained}): {err}"
                ) from err
            self._model, self._preprocess = model.eval(), preprocess
            self._tokenizer = open_clip.get_tokenizer(self.arch)
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            import torch

            model = self._load()
            with torch.inference_mode():
                self._dim = int(model.encode_text(self._tokenizer(["x"]).to(self.device)).shape[-1])
        return self._dim

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        with torch.inference_mode():
            feats = model.encode_text(self._tokenizer(list(texts)).to(self.device))
        return _normalise(feats.float().cpu().numpy())

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        batch = torch.stack([self._preprocess(im) for im in _pil_images(images)]).to(self.device)
        with torch.inference_mode():
            feats = model.encode_image(batch)
        return _normalise(feats.float().cpu().numpy())
