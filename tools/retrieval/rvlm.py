"""The learned R-VLM retriever: a trained scorer over frozen features, top-K or adaptive K, and
question-conditioned frame ranking inside the chosen chunks (XComp's idea, without its LLM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.tools.retrieval.base import ScoredChunk, VideoFeatures, adaptive_k, ranked
from vidsleuth.tools.retrieval.embedding import QuestionEncoder

DEFAULT_CHECKPOINT = Path(__file__).with_name("checkpoints") / "rvlm-synth.pt"


@dataclass(frozen=True)
class Selection:
    """What a retriever hands to perception: chunks, and the frames to look at in each."""

    chunks: list[ScoredChunk]
    frames: dict[str, list[float]]  # chunk id -> frame times, best first

    @property
    def frame_count(self) -> int:
        return sum(len(v) for v in self.frames.values())


class RVLMRetriever:
    """Scores every chunk with the trained MLP; see :mod:`vidsleuth.tools.retrieval.model`."""

    name = "rvlm"

    def __init__(self, model: Any, config: Any, encoder: QuestionEncoder) -> None:
        if encoder.id != config.question_encoder:
            from vidsleuth.tools.retrieval.base import FeatureError

            raise FeatureError(
                f"the retriever checkpoint embeds questions with {config.question_encoder}, "
                f"but the configured text embedder is {encoder.id}"
            )
        self.model = model
        self.config = config
        self.encoder = encoder

    @classmethod
    def load(cls, path: str | Path | None, encoder: QuestionEncoder) -> RVLMRetriever:
        """From a checkpoint file (default: the one shipped with the package)."""
        from vidsleuth.tools.retrieval.model import load_checkpoint

        model, cfg, _ = load_checkpoint(path or DEFAULT_CHECKPOINT)
        return cls(model, cfg, encoder)

    def _check(self, video: VideoFeatures) -> None:
        self.config.check_features(
            video.visual_extractor,
            int(video.visual.shape[1]),
            video.text_extractor,
            None if video.text is None else int(video.text.shape[1]),
            f"video {video.video_id}",
        )

    def _match(self, question: str, qvec: np.ndarray, video: VideoFeatures) -> np.ndarray | None:
        """The match signals the checkpoint was trained with, ``(n_chunks, F)``, or None."""
        if not self.config.match_features:
            return None
        from vidsleuth.tools.retrieval.match import match_features

        return match_features(question, qvec, video)

    def scores(self, question: str, video: VideoFeatures) -> np.ndarray:
        import torch

        self._check(video)
        qvec = self.encoder(question)
        q = torch.from_numpy(qvec[None])
        m = self._match(question, qvec, video)
        with torch.no_grad():
            hv = self.model.chunk_terms(torch.from_numpy(video.visual))[None]
            text = None if video.text is None else torch.from_numpy(video.text)[None]
            mask = torch.ones(1, len(video), dtype=torch.bool)
            match = None if m is None else torch.from_numpy(m)[None]
            return self.model(hv, q, mask, text, match=match)[0].double().numpy()

    def rank(self, question: str, video: VideoFeatures, k: int | None = None) -> list[ScoredChunk]:
        return ranked(video, self.scores(question, video), k)

    def _frame_scores(
        self, question: str, video: VideoFeatures, chunks: list[int]
    ) -> dict[int, np.ndarray]:
        """Scores of the frames of each chunk of ``chunks`` (indices into ``video.chunks``).

        Each frame is scored as if it were a chunk of its own, in the context of the whole video,
        so the frame that shows the needle wins over its neighbours in the same 4-s window.  The
        question, its match signals and the video's projected chunks (the context) are computed
        once for all the chunks."""
        import torch

        self._check(video)
        qvec = self.encoder(question)
        q = torch.from_numpy(qvec[None])
        m = self._match(question, qvec, video)
        out: dict[int, np.ndarray] = {}
        with torch.no_grad():
            g = self.model.chunk_terms(torch.from_numpy(video.visual)).mean(0)[None, None]
            for chunk in chunks:
                frames = video.frame_visual.get(chunk)
                if frames is None or len(frames) == 0:
                    out[chunk] = np.zeros(0)
                    continue
                n = len(frames)
                hv = self.model.chunk_terms(torch.from_numpy(frames))[None]
                text = None
                if video.text is not None:
                    text = torch.from_numpy(video.text[chunk])[None, None].expand(1, n, -1)
                mask = torch.ones(1, n, dtype=torch.bool)
                match = None
                if m is not None:  # a frame inherits its chunk's text memory
                    match = torch.from_numpy(m[chunk])[None, None].expand(1, n, -1)
                s = self.model(hv, q, mask, text, global_ctx=g, match=match)
                out[chunk] = s[0].double().numpy()
        return out

    def select(
        self,
        question: str,
        video: VideoFeatures,
        *,
        k: int | None = None,
        mass: float = 0.8,
        budget: int = 16,
        frames_per_chunk: int = 2,
    ) -> Selection:
        """Top ``k`` chunks, or (``k=None``) the adaptive K reaching softmax ``mass`` within
        ``budget`` chunks; in each, the ``frames_per_chunk`` frames that best match the question."""
        s = self.scores(question, video)
        if k is None:
            tau = self.config.tau_select or self.config.tau  # calibrated when validated
            k = adaptive_k(s, mass=mass, tau=tau, k_max=budget)
        chunks = ranked(video, s, k)
        pos = {c.chunk_id: i for i, c in enumerate(video.chunks)}
        per_chunk = self._frame_scores(question, video, [pos[c.chunk_id] for c in chunks])
        frames: dict[str, list[float]] = {}
        for c in chunks:
            i = pos[c.chunk_id]
            times = list(video.chunks[i].frame_times)
            fs = per_chunk[i]
            if len(fs) == len(times) and len(times):
                order = np.lexsort((np.arange(len(fs)), -fs))
                times = [times[j] for j in order]
            frames[c.chunk_id] = times[:frames_per_chunk]
        return Selection(chunks, frames)
