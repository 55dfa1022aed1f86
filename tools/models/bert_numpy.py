"""A sentence-transformers BERT encoder (mean pooling, normalised) computed with numpy alone.

Why: importing sentence-transformers costs seconds before the first vector (it pulls in torch,
transformers, scikit-learn and SciPy; 5-9 s measured here on 2 busy cores), while a memory query
is one sentence of about ten tokens.  The default text embedder (all-MiniLM-L6-v2) is a plain
BERT: token, position and type embeddings, six post-norm encoder layers with exact GELU, mean
pooling over the attention mask, L2 normalisation.  That is a few matrix products, so this module
computes the same vectors from the same ``model.safetensors`` and ``tokenizer.json`` with numpy,
the ``tokenizers`` library and a 20-line safetensors reader; a text query then loads no deep
learning framework at all.  ``tests/test_models_registry.py`` checks it against
sentence-transformers itself (cosine > 0.99999 on short, long and truncated texts).

:func:`plain_bert_folder` says whether a folder is such a model; anything else (another pooling,
another architecture) keeps using sentence-transformers.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import ModelError

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a float32/int64 numpy array.

    The format is an 8-byte little-endian header length, a JSON header (dtype, shape, byte
    offsets per tensor) and the raw bytes; reading it directly avoids importing a framework.
    """
    data = path.read_bytes()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
    except (struct.error, ValueError) as err:
        raise ModelError(f"{path}: not a safetensors file ({err})") from None
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ModelError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        a, b = info["data_offsets"]
        arr = np.frombuffer(
            data, dtype=dtype, count=(b - a) // np.dtype(dtype).itemsize, offset=base + a
        )
        arr = arr.reshape(info["shape"])
        out[name] = arr.astype(np.float32) if dtype is np.float16 else arr
    return out


def plain_bert_folder(path: Path) -> bool:
    """Whether ``path`` is a sentence-transformers folder this module computes exactly.

    That is: modules Transformer -> Pooling (mean tokens only) -> Normalize, a ``bert`` config
    with GELU and absolute positions, ``tokenizer.json`` and ``model.safetensors``.
    """
    try:
        modules = json.loads((path / "modules.json").read_text())
        config = json.loads((path / "config.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((path / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return False
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return (
        types == ["Transformer", "Pooling", "Normalize"]
        and modes == {"pooling_mode_mean_tokens"}
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and (path / "tokenizer.json").is_file()
        and (path / "model.safetensors").is_file()
    )


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26): below float32 resolution here."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + eps) * w + b).astype(np.float32)


class NumpyBertEncoder:
    """Mean-pooled, L2-normalised sentence vectors of a plain BERT sentence-transformers folder."""

    def __init__(self, path: str | Path) -> None:
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not plain_bert_folder(self.path):
            raise ModelError(f"{self.path}: not a mean-pooled BERT sentence-transformers folder")
        cfg = json.loads((self.path / "config.json").read_text())
        try:
            st_cfg = json.loads((self.path / "sentence_bert_config.json").read_text())
        except (OSError, ValueError):
            st_cfg = {}
        self.max_len = int(st_cfg.get("max_seq_length") or cfg.get("max_position_embeddings", 512))
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.dim = int(cfg["hidden_size"])
        self.tokenizer: Any = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()
        self.w = read_safetensors(self.path / "model.safetensors")
        if "embeddings.word_embeddings.weight" not in self.w:  # saved from BertForX: a prefix
            self.w = {k.removeprefix("bert."): v for k, v in self.w.items()}
        self._wt: dict[str, np.ndarray] = {}

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # one 2-D GEMM on a pre-transposed contiguous weight: numpy runs a 3-D ``x @ W.T``
        # through a slow non-BLAS loop (16x slower than torch on a batch, measured)
        wt = self._wt.get(name)
        if wt is None:
            wt = self._wt[name] = np.ascontiguousarray(self.w[f"{name}.weight"].T)
        flat = x.reshape(-1, x.shape[-1]) @ wt + self.w[f"{name}.bias"]
        out: np.ndarray = flat.reshape(*x.shape[:-1], wt.shape[1])
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states ``(batch, length, dim)`` for padded ids and their 0/1 mask."""
        w, (n, length) = self.w, ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        hd = self.dim // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, length, self.heads, hd).transpose(0, 2, 1, 3)

            q = heads(self._linear(x, f"{p}.attention.self.query"))
            k = heads(self._linear(x, f"{p}.attention.self.key"))
            v = heads(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, self.dim)
            x = _layer_norm(
                self._linear(ctx, f"{p}.attention.output.dense") + x,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = _layer_norm(
                self._linear(h, f"{p}.output.dense") + x,
                w[f"{p}.output.LayerNorm.weight"],
                w[f"{p}.output.LayerNorm.bias"],
                self.eps,
            )
        return x.astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``(len(texts), dim)`` float32 rows, L2-normalised (texts batched by length, as
        sentence-transformers does, so little is padded)."""
        encs = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")
        out = np.zeros((len(texts), self.dim), np.float32)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            length = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), length), np.int64)
            mask = np.zeros((len(idx), length), np.float32)
            for r, i in enumerate(idx):
                ids[r, : len(encs[i].ids)] = encs[i].ids
                mask[r, : len(encs[i].ids)] = 1.0
            states = self._forward(ids, mask)
            pooled = (states * mask[..., None]).sum(1) / np.maximum(
                mask.sum(1, keepdims=True), 1e-9
            )
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
