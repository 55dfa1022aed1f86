"""Training the R-VLM scorer on a small synthetic feature set: it learns, deterministically, and
its checkpoint refuses features of another kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidsleuth.tools.retrieval.base import ChunkSpan, FeatureError, VideoFeatures  # noqa: E402
from vidsleuth.tools.retrieval.train import (  # noqa: E402
    EmptyTrainingSetError,
    Example,
    TrainConfig,
    recall_at,
    score_videos,
    split_by_video,
    train,
)

DV, DQ, N_CONCEPTS = 24, 12, 5


def _concepts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N_CONCEPTS, DV)), rng.normal(size=(N_CONCEPTS, DQ))


def synthetic_set(
    n_videos: int, seed: int, n_chunks: int = 40
) -> tuple[list[VideoFeatures], list[Example], np.ndarray]:
    """Videos whose needle chunks carry a concept's visual direction; questions carry its
    question direction (plus noise), so a question names which needle to find."""
    vis, qdir = _concepts()
    rng = np.random.default_rng(seed)
    videos, examples, qvecs = [], [], []
    for vi in range(n_videos):
        base = rng.normal(size=DV)
        feats = base + 0.8 * rng.normal(size=(n_chunks, DV))
        chosen = rng.choice(N_CONCEPTS, size=3, replace=False)
        slots = rng.choice(np.arange(1, n_chunks - 2, 4), size=3, replace=False)
        for c, s in zip(chosen, slots, strict=True):
            feats[s : s + 2] += 2.0 * vis[c]
            t0 = 4.0 * s + 1.0
            examples.append(
                Example(video=vi, question=f"concept {c}", spans=[(t0, t0 + 5.0)], kind=f"k{c % 2}")
            )
            qvecs.append(qdir[c] + 0.3 * rng.normal(size=DQ))
        chunks = [
            ChunkSpan(f"c{i}", i, 4.0 * i, 4.0 * i + 4, (4.0 * i + 0.5,)) for i in range(n_chunks)
        ]
        videos.append(
            VideoFeatures(f"v{seed}-{vi}", chunks, feats.astype(np.float32), "toy-visual")
        )
    return videos, examples, np.asarray(qvecs, np.float32)


def _merge(a, b):  # type: ignore[no-untyped-def]
    va, ea, qa = a
    vb, eb, qb = b
    shifted = [Example(e.video + len(va), e.question, e.spans, e.kind) for e in eb]
    return va + vb, ea, qa, shifted, qb


@pytest.mark.parametrize("loss", ["soft", "bce", "infonce"])
def test_training_learns_and_generalises_to_held_out_videos(loss: str) -> None:
    videos, tr_ex, tr_q, va_ex, va_q = _merge(synthetic_set(16, seed=1), synthetic_set(6, seed=2))
    # the toy needles are purely visual: no modality dropout (it would hide them)
    cfg = TrainConfig(
        loss=loss,  # type: ignore[arg-type]
        epochs=15,
        batch_size=16,
        hidden=32,
        lr=5e-3,
        seed=0,
        threads=1,
        visual_drop=0.0,
    )
    res = train(
        videos, tr_ex, tr_q, question_encoder="toy-q", cfg=cfg, val_examples=va_ex, val_qvecs=va_q
    )
    h = res.history
    assert h["epoch_loss"][-1] < 0.6 * h["epoch_loss"][0]
    chance = 2 / 40
    kept = recall_at(score_videos(res.model, videos, va_ex, va_q), videos, va_ex, 1)
    assert kept == max(
        h["val_recall@1"][i]
        for i, r5 in enumerate(h["val_recall@5"])
        if r5 == max(h["val_recall@5"])
    )  # the best epoch is the one returned
    assert kept >= 0.7 > 10 * chance
    assert max(h["val_recall@5"]) >= 0.9
    assert res.config.visual_extractor == "toy-visual" and res.config.use_text is False


def test_training_is_deterministic() -> None:
    videos, ex, q = synthetic_set(6, seed=3)
    cfg = TrainConfig(epochs=2, batch_size=8, hidden=16, seed=7, threads=1)
    a = train(videos, ex, q, question_encoder="toy-q", cfg=cfg)
    b = train(videos, ex, q, question_encoder="toy-q", cfg=cfg)
    assert a.history["step_loss"] == b.history["step_loss"]
    sa = score_videos(a.model, videos, ex, q)
    sb = score_videos(b.model, videos, ex, q)
    assert all(np.array_equal(x, y) for x, y in zip(sa, sb, strict=True))


def test_untrained_scorer_is_near_chance() -> None:
    """The control for the learning test: without training, recall@1 is low."""
    videos, ex, q = synthetic_set(6, seed=4)
    cfg = TrainConfig(epochs=1, batch_size=8, hidden=16, lr=1e-9, seed=0, threads=1)
    res = train(videos, ex, q, question_encoder="toy-q", cfg=cfg)
    assert recall_at(score_videos(res.model, videos, ex, q), videos, ex, 1) < 0.5


def test_empty_training_set_is_refused() -> None:
    videos, _, q = synthetic_set(2, seed=5)
    with pytest.raises(EmptyTrainingSetError, match="empty training set"):
        train(videos, [], np.zeros((0, DQ), np.float32), question_encoder="toy-q")
    outside = [Example(0, "x", [(10_000.0, 10_010.0)])]  # evidence beyond the video's end
    with pytest.raises(EmptyTrainingSetError):
        train(videos, outside, q[:1], question_encoder="toy-q")


def test_split_is_by_video() -> None:
    ids = [f"v{i}" for i in range(10)] * 3  # three questions per video
    tr, va = split_by_video(ids, 0.3, seed=1)
    assert tr and va and not tr & va and tr | va == set(ids)
    assert split_by_video(ids, 0.3, seed=1) == (tr, va)


def test_checkpoint_round_trip_and_mismatch_refused(tmp_path: Path) -> None:
    from vidsleuth.tools.retrieval.embedding import QuestionEncoder
    from vidsleuth.tools.retrieval.model import load_checkpoint, save_checkpoint
    from vidsleuth.tools.retrieval.rvlm import RVLMRetriever

    videos, ex, q = synthetic_set(4, seed=6)
    res = train(
        videos,
        ex,
        q,
        question_encoder="toy-q",
        cfg=TrainConfig(epochs=1, batch_size=8, hidden=16, threads=1),
    )
    path = save_checkpoint(tmp_path / "r.pt", res.model, res.config, {"note": "test"})
    assert (tmp_path / "r.pt.json").is_file()
    model, cfg, info = load_checkpoint(path)
    assert info == {"note": "test"} and cfg.visual_dim == DV

    class ToyEncoder:
        id = "toy-q"

        def embed_texts(self, texts):  # type: ignore[no-untyped-def]
            return np.stack([q[int(t.split()[-1]) % len(q)] for t in texts])

    r = RVLMRetriever(model, cfg, QuestionEncoder(ToyEncoder()))
    ranking = r.rank("concept 0", videos[0], k=3)
    assert [c.rank for c in ranking] == [1, 2, 3]
    assert ranking[0].score >= ranking[1].score >= ranking[2].score
    # float16 storage changes the scores by rounding only
    full = score_videos(res.model, videos, ex[:1], q[:1])[0]
    np.testing.assert_allclose(r.scores(ex[0].question, videos[0]), full, atol=0.05)

    other = VideoFeatures("w", videos[0].chunks, np.ones((40, DV + 1), np.float32), "other-net")
    with pytest.raises(FeatureError, match=r"other-net.*trained on toy-visual"):
        r.rank("concept 0", other)
    same_dim = VideoFeatures("w", videos[0].chunks, np.ones((40, DV), np.float32), "other-net")
    with pytest.raises(FeatureError, match="trained on toy-visual"):
        r.rank("concept 0", same_dim)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureError, match="not a readable retriever checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_temperature_calibration_follows_the_score_scale() -> None:
    """Temperature scaling is fitted to the held-out evidence: scores three times larger (the
    same ranking, over-confident) get a temperature about three times larger."""
    from vidsleuth.tools.retrieval.train import calibrate_tau

    videos, examples, _ = synthetic_set(6, seed=5)
    rng = np.random.default_rng(0)
    scores = []
    for e in examples:
        v = videos[e.video]
        o = (v.starts < e.spans[0][1]) & (v.ends > e.spans[0][0])
        scores.append(1.5 * o + rng.normal(size=len(v)))  # evidence often, not always, on top
    tau = calibrate_tau(scores, videos, examples)
    tau3 = calibrate_tau([3 * s for s in scores], videos, examples)
    assert 0.05 < tau < 10
    assert 2.0 < tau3 / tau < 4.5
