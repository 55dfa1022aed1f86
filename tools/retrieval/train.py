"""Training the R-VLM scorer on cached features (CPU, minutes).

Examples are ``(video, question, evidence spans)``; features are frozen, so the whole training set
lives in a few padded tensors and one step costs a projection of the batch's videos plus a small
MLP.  Each step crops every example to a random window of its video that still contains the
evidence (a cheap way to see many video lengths and many "global contexts" from few videos).
The loss is the soft matching loss (formula in :mod:`vidsleuth.tools.retrieval.losses`), or BCE /
InfoNCE for the ablation.  Split by video, never by question: :func:`split_by_video`.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import VidsleuthError
from vidsleuth.tools.retrieval.base import VideoFeatures
from vidsleuth.tools.retrieval.losses import LOSSES, LossName, Span, chunk_overlap

if TYPE_CHECKING:
    import torch

    from vidsleuth.tools.retrieval.model import RVLMConfig


class EmptyTrainingSetError(VidsleuthError):
    """There is nothing to train on (no videos, no questions, or no question with evidence)."""


@dataclass
class Example:
    """One training or evaluation question about one video."""

    video: int  # index into the list of VideoFeatures
    question: str
    spans: list[Span]
    kind: str = "unknown"
    needles: int = 1  # how many needles the question's video holds (single-needle breakdown)


@dataclass
class TrainConfig:
    loss: LossName = "infonce"  # best on every held-out set (README); "soft" is R-VLM's
    tau: float = 1.0
    sigma: float = 1.0
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    hidden: int = 128
    use_text: bool = True
    use_global: bool = True
    use_match: bool = True  # question-conditioned match signals (tools/retrieval/match.py)
    dropout: float = 0.3
    visual_drop: float = 0.4  # share of examples trained with the visual terms zeroed
    scene_shift: float = 0.5  # share of examples given a shifted "unfamiliar scene" segment
    scene_shift_scale: float = 0.5
    crop_prob: float = 0.7
    min_window: int = 8
    seed: int = 0
    threads: int = 2
    per_video: int = 8  # questions of one video kept together in a batch (speed)


@dataclass
class TrainResult:
    model: Any
    config: RVLMConfig
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    examples: int = 0


def split_by_video(
    video_ids: Sequence[str], val_fraction: float = 0.2, seed: int = 0
) -> tuple[set[str], set[str]]:
    """Disjoint ``(train, val)`` sets of video ids: a question never leaks across the split."""
    ids = sorted(set(video_ids))
    rng = random.Random(seed)
    rng.shuffle(ids)
    n_val = max(1, round(len(ids) * val_fraction)) if len(ids) > 1 else 0
    return set(ids[n_val:]), set(ids[:n_val])


class _Tensors:
    """The training set as padded tensors (built once)."""

    def __init__(
        self,
        videos: Sequence[VideoFeatures],
        examples: Sequence[Example],
        qvecs: np.ndarray,
        sigma: float,
        use_match: bool = False,
    ) -> None:
        import torch

        n_max = max(len(v) for v in videos)
        dv = videos[0].visual.shape[1]
        self.n_max = n_max
        self.V = torch.zeros(len(videos), n_max, dv)
        self.valid = torch.zeros(len(videos), n_max, dtype=torch.bool)
        use_text = all(v.text is not None for v in videos)
        self.T = torch.zeros(len(videos), n_max, videos[0].text.shape[1]) if use_text else None  # type: ignore[union-attr]
        for i, v in enumerate(videos):
            self.V[i, : len(v)] = torch.from_numpy(v.visual)
            self.valid[i, : len(v)] = True
            if self.T is not None:
                self.T[i, : len(v)] = torch.from_numpy(v.text)
        self.vid = torch.tensor([e.video for e in examples])
        self.Q = torch.from_numpy(np.asarray(qvecs, dtype=np.float32))
        self.O = torch.zeros(len(examples), n_max)
        for j, e in enumerate(examples):
            v = videos[e.video]
            self.O[j, : len(v)] = torch.from_numpy(chunk_overlap(v.starts, v.ends, e.spans)).float()
        self.M = match_tensor(videos, examples, qvecs, n_max) if use_match else None
        self.lengths = torch.tensor([len(v) for v in videos])
        idx = torch.arange(n_max, dtype=torch.float32)
        self.K = (
            torch.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2 * sigma**2))
            if sigma > 0
            else torch.eye(n_max)
        )


def match_tensor(
    videos: Sequence[VideoFeatures], examples: Sequence[Example], qvecs: np.ndarray, n_max: int
) -> torch.Tensor:
    """``(len(examples), n_max, F)``: each example's match signals over its video's chunks."""
    import torch

    from vidsleuth.tools.retrieval.match import MATCH_FEATURES, match_features

    out = torch.zeros(len(examples), n_max, len(MATCH_FEATURES))
    for j, e in enumerate(examples):
        v = videos[e.video]
        out[j, : len(v)] = torch.from_numpy(match_features(e.question, qvecs[j], v))
    return out


def _windows(
    t: _Tensors, rows: torch.Tensor, cfg: TrainConfig, gen: torch.Generator
) -> torch.Tensor:
    """Window masks ``(B, N)``: the whole video, or a random crop that keeps the evidence."""
    import torch

    masks = t.valid[t.vid[rows]].clone()
    for b, j in enumerate(rows.tolist()):
        n = int(t.lengths[t.vid[j]])
        if n <= cfg.min_window or torch.rand(1, generator=gen).item() >= cfg.crop_prob:
            continue
        pos = torch.nonzero(t.O[j, :n] > 0).flatten()
        lo_e, hi_e = int(pos.min()), int(pos.max()) + 1
        need = hi_e - lo_e
        length = int(torch.randint(max(cfg.min_window, need), n + 1, (1,), generator=gen))
        lo_min, lo_max = max(0, hi_e - length), min(lo_e, n - length)
        lo = (
            int(torch.randint(lo_min, lo_max + 1, (1,), generator=gen))
            if lo_max >= lo_min
            else lo_e
        )
        masks[b] = False
        masks[b, lo : lo + length] = True
    return masks


def _scene_shifts(hv: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Offsets ``(B, N, h)`` that move a random run of 5-15 chunks of some examples by one random
    direction: an unfamiliar scene.  Labels are unchanged, so the scorer learns that a stretch of
    chunks that merely looks different from the rest of the video is not what was asked for.
    """
    import torch

    b, n, h = hv.shape
    out = hv.new_zeros(b, n, h)
    for i in torch.nonzero(torch.rand(b, generator=gen) < cfg.scene_shift).flatten().tolist():
        length = int(torch.randint(5, 16, (1,), generator=gen))
        start = int(torch.randint(0, max(1, n - length), (1,), generator=gen))
        out[i, start : start + length] = cfg.scene_shift_scale * torch.randn(h, generator=gen)
    return out


def _video_batches(
    vid: torch.Tensor, batch_size: int, per_video: int, gen: torch.Generator
) -> list[torch.Tensor]:
    """Shuffled batches in which questions come ``per_video`` at a time from the same video.

    Projecting a video's chunks is the expensive part of a step, so a batch of 64 questions
    drawn from 8 videos costs far less than one drawn from 64, with the same number of questions.
    """
    import torch

    groups: list[torch.Tensor] = []
    for v in torch.unique(vid).tolist():
        rows = torch.nonzero(vid == v).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        groups += list(torch.split(rows, per_video))
    order = torch.randperm(len(groups), generator=gen).tolist()
    flat = torch.cat([groups[i] for i in order]) if groups else vid.new_zeros(0)
    return list(torch.split(flat, batch_size))


def _loss(
    name: LossName,
    scores: torch.Tensor,
    o: torch.Tensor,
    mask: torch.Tensor,
    K: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    from vidsleuth.tools.retrieval.losses import bce_loss, infonce_loss, soft_matching_loss

    o = o * mask
    if name == "soft":
        q = (o @ K) * mask
        q = q / q.sum(1, keepdim=True).clamp_min(1e-12)
        return soft_matching_loss(scores, q, mask, tau)
    if name == "bce":
        return bce_loss(scores.masked_fill(~mask, 0.0), o, mask)
    return infonce_loss(scores, o, mask, tau)


def score_videos(
    model: Any, videos: Sequence[VideoFeatures], examples: Sequence[Example], qvecs: np.ndarray
) -> list[np.ndarray]:
    """Each example's chunk scores over its whole video (eval mode, no gradients)."""
    import torch

    model.eval()
    out: list[np.ndarray] = [np.empty(0)] * len(examples)
    by_video: dict[int, list[int]] = {}
    for j, e in enumerate(examples):
        by_video.setdefault(e.video, []).append(j)
    with torch.no_grad():
        for vi, rows in by_video.items():
            v = videos[vi]
            hv = model.chunk_terms(torch.from_numpy(v.visual))[None]
            text = None if v.text is None else torch.from_numpy(v.text)[None]
            for s in range(0, len(rows), 256):
                part = rows[s : s + 256]
                b = len(part)
                mask = torch.ones(b, len(v), dtype=torch.bool)
                match = None
                if model.cfg.match_features:
                    sub = [Example(0, examples[j].question, []) for j in part]
                    match = match_tensor([v], sub, qvecs[part], len(v))
                scores = model(
                    hv.expand(b, -1, -1),
                    torch.from_numpy(qvecs[part]),
                    mask,
                    None if text is None else text.expand(b, -1, -1),
                    match=match,
                )
                for r, j in enumerate(part):
                    out[j] = scores[r].numpy().astype(np.float64)
    return out


def recall_at(
    scores: Sequence[np.ndarray],
    videos: Sequence[VideoFeatures],
    examples: Sequence[Example],
    k: int,
) -> float:
    """Fraction of examples with a chunk overlapping the evidence among the top ``k``."""
    hits = 0
    for s, e in zip(scores, examples, strict=True):
        v = videos[e.video]
        o = chunk_overlap(v.starts, v.ends, e.spans)
        top = np.lexsort((np.arange(len(s)), -s))[:k]
        hits += bool((o[top] > 0).any())
    return hits / max(1, len(examples))


def train(
    videos: Sequence[VideoFeatures],
    examples: Sequence[Example],
    qvecs: np.ndarray,
    *,
    question_encoder: str,
    cfg: TrainConfig | None = None,
    val_examples: Sequence[Example] = (),
    val_qvecs: np.ndarray | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train a scorer on ``examples`` (``qvecs[j]`` embeds ``examples[j].question``).

    Validation examples index into the same ``videos`` list (their videos must not appear in
    ``examples``; :func:`split_by_video`).  ``progress(step, total, loss)`` is called every step.
    Raises :class:`EmptyTrainingSetError` when there is nothing to learn from.
    """
    import torch

    from vidsleuth.tools.retrieval.match import MATCH_FEATURES
    from vidsleuth.tools.retrieval.model import RVLMConfig, build_scorer

    cfg = cfg or TrainConfig()
    if cfg.loss not in LOSSES:
        raise VidsleuthError(f"unknown loss {cfg.loss!r}; choose from {', '.join(LOSSES)}")
    qvecs = np.asarray(qvecs, dtype=np.float32)
    if len(qvecs) != len(examples):
        raise VidsleuthError(f"{len(qvecs)} question vectors for {len(examples)} examples")
    keep = [j for j, e in enumerate(examples) if _has_evidence(videos[e.video], e)]
    examples = [examples[j] for j in keep]
    qvecs = qvecs[keep]
    if not videos or not examples:
        raise EmptyTrainingSetError(
            "empty training set: no question has an evidence span inside its video"
            if videos
            else "empty training set: no videos with features"
        )
    train_vids = {e.video for e in examples}
    leaked = train_vids & {e.video for e in val_examples}
    if leaked:
        raise VidsleuthError(f"{len(leaked)} videos are in both the training and validation sets")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    gen = torch.Generator().manual_seed(cfg.seed)
    v0 = videos[examples[0].video]
    use_text = cfg.use_text and all(videos[i].text is not None for i in train_vids)
    mcfg = RVLMConfig(
        visual_extractor=v0.visual_extractor,
        visual_dim=int(v0.visual.shape[1]),
        question_encoder=question_encoder,
        question_dim=int(qvecs.shape[1]),
        text_extractor=v0.text_extractor if use_text else None,
        text_dim=int(v0.text.shape[1]) if use_text and v0.text is not None else 0,
        hidden=cfg.hidden,
        use_text=use_text,
        use_global=cfg.use_global,
        dropout=cfg.dropout,
        tau=cfg.tau,
        extra={"loss": cfg.loss, "sigma": cfg.sigma},
        match_features=list(MATCH_FEATURES) if cfg.use_match else [],
        colour_dim=v0.colour_dim,
    )
    for i in train_vids | {e.video for e in val_examples}:
        v = videos[i]
        mcfg.check_features(
            v.visual_extractor,
            v.visual.shape[1],
            v.text_extractor if use_text else None,
            None if v.text is None else v.text.shape[1],
            f"video {v.video_id}",
        )
    model: Any = build_scorer(mcfg)  # an RVLMScorer: its own methods are called below
    t = _Tensors(videos, examples, qvecs, cfg.sigma, cfg.use_match)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total, pct_start=0.1
    )
    hist: dict[str, list[float]] = {
        "step_loss": [],
        "epoch_loss": [],
        "val_recall@1": [],
        "val_recall@5": [],
        "train_recall@5": [],
    }
    t0 = time.perf_counter()
    step = 0
    best: tuple[tuple[float, float], int, dict[str, Any]] | None = None
    for _epoch in range(cfg.epochs):
        model.train()
        losses = []
        for rows in _video_batches(t.vid, cfg.batch_size, cfg.per_video, gen):
            vids = t.vid[rows]
            nb = int(t.lengths[vids].max())  # pad to this batch's longest video, not the set's
            mask = _windows(t, rows, cfg, gen)[:, :nb]
            uniq, inv = torch.unique(vids, return_inverse=True)
            hv = model.chunk_terms(t.V[uniq, :nb])[inv]
            if cfg.visual_drop > 0:
                # modality dropout: on unseen backgrounds the visual path can be confidently
                # wrong, so some examples must be solved from the text and match signals alone
                kept = torch.rand(len(rows), 1, 1, generator=gen) >= cfg.visual_drop
                hv = hv * kept
            if cfg.scene_shift > 0:
                hv = hv + _scene_shifts(hv, cfg, gen)
            text = None if (t.T is None or not use_text) else t.T[vids, :nb]
            match = None if t.M is None else t.M[rows, :nb]
            scores = model(hv, t.Q[rows], mask, text, match=match)
            loss = _loss(cfg.loss, scores, t.O[rows, :nb], mask, t.K[:nb, :nb], cfg.tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            value = loss.item()
            losses.append(value)
            hist["step_loss"].append(value)
            if progress:
                progress(step, total, value)
        hist["epoch_loss"].append(float(np.mean(losses)))
        if val_examples and val_qvecs is not None:
            vs = score_videos(model, videos, val_examples, val_qvecs)
            hist["val_recall@1"].append(recall_at(vs, videos, val_examples, 1))
            hist["val_recall@5"].append(recall_at(vs, videos, val_examples, 5))
            key = (hist["val_recall@5"][-1], hist["val_recall@1"][-1])
            if best is None or key > best[0]:
                best = (key, _epoch, copy.deepcopy(model.state_dict()))
    if best is not None:
        # the features are frozen and the data small, so the scorer overfits late: keep the
        # epoch that did best on the held-out *training* videos (never the evaluation set)
        model.load_state_dict(best[2])
        hist["best_epoch"] = [float(best[1] + 1)]
    if val_examples and val_qvecs is not None:
        mcfg.tau_select = calibrate_tau(
            score_videos(model, videos, val_examples, val_qvecs), videos, val_examples
        )
        hist["tau_select"] = [mcfg.tau_select]
    sub = examples[: min(len(examples), 1000)]
    hist["train_recall@5"].append(
        recall_at(score_videos(model, videos, sub, qvecs[: len(sub)]), videos, sub, 5)
    )
    model.eval()
    return TrainResult(model, mcfg, hist, time.perf_counter() - t0, len(examples))


def calibrate_tau(
    scores: Sequence[np.ndarray], videos: Sequence[VideoFeatures], examples: Sequence[Example]
) -> float:
    """The softmax temperature under which the held-out evidence is most likely.

    Training sees cropped windows, evaluation whole videos, so softmax(s / τ_train) over a whole
    video is too flat or too sharp to read as a probability; adaptive K keeps chunks until their
    probability mass reaches a target, which only means something once the distribution is
    calibrated.  Temperature scaling (one scalar, fitted on the validation videos) fixes that
    without changing the ranking.  Minimises ``−mean log Σ_{i ∈ evidence} softmax(s / τ)_i``.
    """
    grid = np.logspace(-2, 1.5, 36)
    nll = np.zeros(len(grid))
    for s, e in zip(scores, examples, strict=True):
        v = videos[e.video]
        pos = chunk_overlap(v.starts, v.ends, e.spans) > 0
        if not pos.any():
            continue
        z = s[None, :] / grid[:, None]
        z = z - z.max(axis=1, keepdims=True)
        log_all = np.log(np.exp(z).sum(axis=1))
        zp = z[:, pos]
        top = zp.max(axis=1)
        log_pos = top + np.log(np.exp(zp - top[:, None]).sum(axis=1))  # stable at tiny τ
        nll += log_all - log_pos
    return float(grid[int(np.argmin(nll))])


def _has_evidence(v: VideoFeatures, e: Example) -> bool:
    return bool(len(v) and (chunk_overlap(v.starts, v.ends, e.spans) > 0).any())


def plot_history(hist: dict[str, list[float]], path: str) -> None:
    """Save the loss curve (and validation recall when present) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    loss = np.asarray(hist.get("step_loss", []))
    ax[0].plot(loss, lw=0.6, alpha=0.5, label="step")
    if len(loss) > 20:
        w = max(5, len(loss) // 50)
        ax[0].plot(
            np.arange(w - 1, len(loss)),
            np.convolve(loss, np.ones(w) / w, "valid"),
            label=f"mean of {w}",
        )
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("training loss")
    ax[0].legend()
    for key in ("val_recall@1", "val_recall@5"):
        if hist.get(key):
            ax[1].plot(range(1, len(hist[key]) + 1), hist[key], marker="o", label=key)
    ax[1].set_xlabel("epoch")
    ax[1].set_ylim(0, 1.02)
    ax[1].set_ylabel("held-out recall")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
