"""The R-VLM scorer: a small MLP over frozen features, and its checkpoint format.

Per chunk ``i`` of a video, for question embedding ``q``:

* ``v_i`` the chunk's pooled visual feature (L2-normalised, projected to ``h``);
* ``g``   the video's global context, the mean of the projected chunks of the same video
  (LongVLM adds global semantics to each local segment; here ``v_i − g`` also tells the MLP
  how unusual a chunk is within its own video, which is what a needle is);
* ``t_i`` the embedding of the chunk's observation text (OCR, transcript, tags), projected,
  plus ``cos(q, t_i)`` in the raw text space, the zero-shot signal, so the learned scorer starts
  from what the embedding baseline already knows;
* the question enters through its projection and through element-wise products with the chunk
  terms (a cheap bilinear interaction);
* ``m_i`` the question-conditioned match signals of :mod:`vidsleuth.tools.retrieval.match`
  (best cosine with one observation, IDF-weighted word overlap, each also relative to the
  video's best chunk), appended after the input dropout so the head can always rely on them.

The encoders stay frozen; only this module (a few hundred thousand parameters) is trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsleuth.tools.retrieval.base import FeatureError

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = "vidsleuth-rvlm"
CHECKPOINT_VERSION = 2  # 2: optional match signals (v1 files load unchanged)


@dataclass
class RVLMConfig:
    """What a checkpoint was trained on; features of any other kind are refused."""

    visual_extractor: str
    visual_dim: int
    question_encoder: str
    question_dim: int
    text_extractor: str | None = None
    text_dim: int = 0
    hidden: int = 128
    use_text: bool = True
    use_global: bool = True
    dropout: float = 0.1
    tau: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    match_features: list[str] = field(default_factory=list)
    colour_dim: int = 0  # the last colour_dim visual dims are a colour histogram (not normalised)
    tau_select: float | None = None  # softmax temperature calibrated on validation (adaptive K)

    def check_features(
        self,
        visual_extractor: str,
        visual_dim: int,
        text_extractor: str | None,
        text_dim: int | None,
        where: str,
    ) -> None:
        """Raise :class:`FeatureError` unless the features are of the kind trained on."""
        if visual_extractor != self.visual_extractor or visual_dim != self.visual_dim:
            if visual_extractor.startswith(self.visual_extractor + "+"):
                raise FeatureError(
                    f"{where}: the retriever checkpoint was trained on {self.visual_extractor} "
                    f"features, older than this version's {visual_extractor}; retrain it "
                    "(`vidsleuth retriever train`) or use the shipped checkpoint"
                )
            raise FeatureError(
                f"{where}: visual features are {visual_extractor} ({visual_dim}-d) but the "
                f"retriever checkpoint was trained on {self.visual_extractor} "
                f"({self.visual_dim}-d); "
                "re-index with that extractor or train a checkpoint for these features"
            )
        if (
            self.use_text
            and text_extractor is not None
            and (text_extractor != self.text_extractor or text_dim != self.text_dim)
        ):
            raise FeatureError(
                f"{where}: text features are {text_extractor} ({text_dim}-d) but the retriever "
                f"checkpoint was trained on {self.text_extractor} ({self.text_dim}-d)"
            )


def build_scorer(cfg: RVLMConfig) -> torch.nn.Module:
    """The scorer module for ``cfg`` (random weights; seed torch first for determinism)."""
    import torch
    from torch import nn

    class RVLMScorer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            h = cfg.hidden
            self.cfg = cfg
            self.v_proj = nn.Sequential(nn.Linear(cfg.visual_dim, h), nn.LayerNorm(h))
            self.q_proj = nn.Linear(cfg.question_dim, h)
            use_t = cfg.use_text and cfg.text_dim > 0
            self.t_proj = nn.Linear(cfg.text_dim, h) if use_t else None
            n_terms = 2 + (2 if cfg.use_global else 0) + (2 if use_t else 0)
            self.n_match = len(cfg.match_features)
            self.head = nn.Sequential(
                nn.Dropout(cfg.dropout),
                nn.Linear(n_terms * h + (2 if use_t else 0) + self.n_match, h),
                nn.GELU(),
                nn.Linear(h, 1),
            )

        def chunk_terms(self, visual: torch.Tensor) -> torch.Tensor:
            """Projected chunk features ``(..., N, h)``; computed once per video."""
            if not cfg.colour_dim:
                return self.v_proj(torch.nn.functional.normalize(visual, dim=-1))
            # CNN features are L2-normalised on their own so the colour histogram (a few dims,
            # already in [0, 1]) is not drowned by the thousands of CNN dims
            cnn, colour = visual[..., : -cfg.colour_dim], visual[..., -cfg.colour_dim :]
            x = torch.cat([torch.nn.functional.normalize(cnn, dim=-1), colour], dim=-1)
            return self.v_proj(x)

        def forward(
            self,
            hv: torch.Tensor,
            question: torch.Tensor,
            mask: torch.Tensor,
            text: torch.Tensor | None = None,
            global_ctx: torch.Tensor | None = None,
            match: torch.Tensor | None = None,
        ) -> torch.Tensor:
            """Scores ``(B, N)`` for projected chunks ``hv (B, N, h)``, questions ``(B, d_q)``,
            window ``mask (B, N)``, raw text embeddings ``(B, N, d_t)`` and match signals
            ``(B, N, len(cfg.match_features))``; masked chunks get -inf."""
            q = torch.nn.functional.normalize(question, dim=-1)
            hq = self.q_proj(q)[:, None, :].expand_as(hv)
            terms = [hv, hq * hv]
            if cfg.use_global:
                if global_ctx is None:
                    m = mask.to(hv.dtype)[..., None]
                    g = (hv * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
                else:  # scoring frames: the context is the video's chunks, not the frames
                    g = global_ctx
                local = hv - g
                terms += [local, hq * local]
            if self.t_proj is not None:
                if text is None:
                    text = hv.new_zeros(*hv.shape[:2], cfg.text_dim)
                t = torch.nn.functional.normalize(text, dim=-1)
                ht = self.t_proj(t)
                cos = (t * q[:, None, :]).sum(-1, keepdim=True)
                has = (text.abs().sum(-1, keepdim=True) > 0).to(hv.dtype)
                terms += [ht, hq * ht, cos, has]
            x = self.head[0](torch.cat(terms, dim=-1))
            if self.n_match:
                if match is None:
                    raise ValueError("this scorer needs the match signals of each chunk")
                x = torch.cat([x, match.to(x.dtype)], dim=-1)
            s = self.head[1:](x).squeeze(-1)
            return s.masked_fill(~mask, float("-inf"))

    return RVLMScorer()


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, cfg: RVLMConfig, info: dict[str, Any] | None = None
) -> Path:
    """Write ``path`` (state dict + metadata) and ``path.json`` (the metadata, for people)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": asdict(cfg),
        "info": info or {},
    }
    state = {
        k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).cpu()
        for k, v in model.state_dict().items()
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"meta": meta, "state_dict": state}, tmp)
    tmp.replace(path)
    path.with_name(path.name + ".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return path


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, RVLMConfig, dict[str, Any]]:
    """``(model in eval mode, config, info)``; :class:`FeatureError` on a foreign or broken file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: no such retriever checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = blob["meta"]
    except Exception as err:  # torch raises many types for a corrupt file
        raise FeatureError(f"{path}: not a readable retriever checkpoint ({err})") from err
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise FeatureError(
            f"{path}: not a vidsleuth R-VLM checkpoint (format {meta.get('format')!r})"
        )
    if int(meta.get("version", 0)) > CHECKPOINT_VERSION:
        raise FeatureError(f"{path}: checkpoint version {meta['version']} is newer than supported")
    cfg = RVLMConfig(**meta["config"])
    from vidsleuth.tools.retrieval.match import MATCH_FEATURES

    if cfg.match_features and tuple(cfg.match_features) != MATCH_FEATURES:
        raise FeatureError(
            f"{path}: trained on match signals {cfg.match_features}, this version computes "
            f"{list(MATCH_FEATURES)}; retrain the checkpoint"
        )
    model = build_scorer(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise FeatureError(f"{path}: checkpoint does not match its own config ({err})") from err
    model.eval()
    return model, cfg, meta.get("info", {})
