"""Question/observation match signals: word overlap weighted by rarity, best single observation,
and a scorer that learns to use them where the visual features carry nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsleuth.tools.retrieval.base import ChunkSpan, FeatureError, VideoFeatures
from vidsleuth.tools.retrieval.embedding import LexicalRetriever
from vidsleuth.tools.retrieval.match import (
    MATCH_FEATURES,
    LexicalIndex,
    content_tokens,
    match_features,
    maxsim,
)


def _chunks(n: int) -> list[ChunkSpan]:
    return [ChunkSpan(f"c{i}", i, 4.0 * i, 4.0 * i + 4, (4.0 * i + 2,)) for i in range(n)]


def _video(texts: list[str], **kw: object) -> VideoFeatures:
    n = len(texts)
    vis = np.random.default_rng(0).normal(size=(n, 6)).astype(np.float32)
    return VideoFeatures("v", _chunks(n), vis, "toy", chunk_texts=texts, **kw)  # type: ignore[arg-type]


def test_question_scaffolding_is_dropped_and_codes_are_split() -> None:
    assert content_tokens("When does the text 'CODE M3-94' appear on screen?") == [
        "code",
        "m3",
        "94",
    ]
    assert content_tokens("When does someone say 'my password is purple elephant'?") == [
        "password",
        "purple",
        "elephant",
    ]


def test_rare_words_outweigh_words_on_every_chunk() -> None:
    texts = ["gravel, code", "gravel, code", "gravel, code m3 94", "gravel", "gravel, m3"]
    s = LexicalIndex(texts).scores("When does 'CODE M3-94' appear on the gravel?")
    assert int(np.argmax(s)) == 2 and s[2] == pytest.approx(1.0)
    assert s[4] > s[0]  # "m3" is rarer than "code"
    assert s[3] < s[0]  # "gravel" is on every chunk: nearly worthless
    assert LexicalIndex(texts).scores("when?").sum() == 0.0


def test_words_merged_by_ocr_still_match() -> None:
    s = LexicalIndex(["gravel, CODEZ9-63", "gravel, CODE Q1-63", "sky"]).scores(
        "When does the text 'CODE Z9-63' appear on screen?"
    )
    assert s[0] == pytest.approx(1.0) and 0 < s[1] < 0.6 and s[2] == 0


def test_maxsim_takes_the_best_single_observation() -> None:
    obs = np.eye(4, dtype=np.float32)
    pairs = np.array([[0, 0], [0, 1], [1, 2], [1, 3], [1, 0]])
    v = _video(["a b", "c d a", ""], obs_vectors=obs, obs_pairs=pairs)
    q = np.array([0.0, 0.0, 1.0, 0.2], np.float32)
    ms = maxsim(q, v)
    assert ms[1] == pytest.approx(1 / np.sqrt(1.04), rel=1e-5)
    assert ms[0] == pytest.approx(0.0) and ms[2] == -1.0  # no observation at all
    m = match_features("c", q, v)
    assert m.shape == (3, len(MATCH_FEATURES))
    assert m[1, 1] == 0.0 and m[0, 1] < 0  # relative to the best chunk of the video


def test_observation_memberships_follow_a_window_and_are_validated() -> None:
    obs = np.eye(3, dtype=np.float32)
    pairs = np.array([[0, 0], [2, 1], [3, 2]])
    v = _video(["x", "y", "z", "w"], obs_vectors=obs, obs_pairs=pairs)
    w = v.window(2, 4)
    assert w.obs_pairs.tolist() == [[0, 1], [1, 2]]
    assert maxsim(np.array([0, 0, 1.0], np.float32), w).tolist() == [0.0, 1.0]
    with pytest.raises(FeatureError, match="out of range"):
        _video(["x", "y"], obs_vectors=obs, obs_pairs=np.array([[5, 0]]))
    with pytest.raises(FeatureError, match="observation embeddings: 1 NaN"):
        _video(["x"], obs_vectors=np.array([[np.nan, 0.0]]), obs_pairs=np.zeros((0, 2)))


def test_lexical_retriever_finds_the_caption() -> None:
    v = _video(["cat, sky", "sky", "sky, hangar 10 opens at four", "sky, dock 54"])
    top = LexicalRetriever().rank("When can the words HANGAR 10 OPENS AT FOUR be read?", v, 2)
    assert [c.index for c in top] == [2, 0] or top[0].index == 2


torch = pytest.importorskip("torch")


def _text_only_set(
    n_videos: int, seed: int, n: int = 30
) -> tuple[list[VideoFeatures], list[object], np.ndarray]:
    """Videos whose needles are findable only by their text memory (visual: pure noise)."""
    from vidsleuth.tools.retrieval.train import Example

    rng = np.random.default_rng(seed)
    words = ["gravel", "sky", "tile", "grass", "wood", "lamp", "door"]
    videos, examples, qvecs = [], [], []
    for vi in range(n_videos):
        texts = [", ".join(rng.choice(words, 2, replace=False)) for _ in range(n)]
        for slot in rng.choice(np.arange(n), 3, replace=False):
            code = f"code {rng.integers(10, 99)}-{rng.integers(10, 99)}"
            texts[slot] += ", " + code
            q = f"When does the text '{code.upper()}' appear on screen?"
            t0 = 4.0 * slot + 1
            examples.append(Example(video=vi, question=q, spans=[(t0, t0 + 2)], kind="text"))
            qvecs.append(rng.normal(size=8))
        vis = rng.normal(size=(n, 6)).astype(np.float32)
        videos.append(VideoFeatures(f"t{seed}-{vi}", _chunks(n), vis, "toy", chunk_texts=texts))
    return videos, examples, np.asarray(qvecs, np.float32)


def test_scorer_learns_to_use_the_match_signals(tmp_path: Path) -> None:
    from vidsleuth.tools.retrieval.model import load_checkpoint, save_checkpoint
    from vidsleuth.tools.retrieval.train import Example, TrainConfig, recall_at, score_videos, train

    tv, te, tq = _text_only_set(12, seed=1)
    vv, ve, vq = _text_only_set(5, seed=2)
    videos = tv + vv
    ve = [Example(e.video + len(tv), e.question, e.spans, e.kind) for e in ve]  # type: ignore[attr-defined]
    results = {}
    for use_match in (True, False):
        cfg = TrainConfig(
            loss="soft",
            epochs=30,
            batch_size=16,
            hidden=16,
            lr=5e-3,
            threads=1,
            use_match=use_match,
        )
        res = train(
            videos, te, tq, question_encoder="toy-q", cfg=cfg, val_examples=ve, val_qvecs=vq
        )
        results[use_match] = recall_at(score_videos(res.model, videos, ve, vq), videos, ve, 1)
        if use_match:
            assert res.config.match_features == list(MATCH_FEATURES)
            path = save_checkpoint(tmp_path / "m.pt", res.model, res.config)
            model, cfg2, _ = load_checkpoint(path)
            assert cfg2.match_features == list(MATCH_FEATURES)
            again = recall_at(score_videos(model, videos, ve, vq), videos, ve, 1)
            assert again == pytest.approx(results[True], abs=0.07)  # float16 weights
    assert results[True] >= 0.9
    assert results[False] <= 0.3  # chance is 1/30: without the signals the text is invisible


def test_checkpoint_with_unknown_match_signals_is_refused(tmp_path: Path) -> None:
    from vidsleuth.tools.retrieval.model import (
        RVLMConfig,
        build_scorer,
        load_checkpoint,
        save_checkpoint,
    )

    cfg = RVLMConfig("toy", 6, "toy-q", 8, match_features=["maxsim", "bm25"])
    path = save_checkpoint(tmp_path / "x.pt", build_scorer(cfg), cfg)
    with pytest.raises(FeatureError, match="match signals"):
        load_checkpoint(path)


def test_checkpoint_older_than_the_features_says_retrain() -> None:
    from vidsleuth.tools.retrieval.model import RVLMConfig

    cfg = RVLMConfig("effnet+meanmax", 2560, "q", 8)
    with pytest.raises(FeatureError, match=r"older than this version's .*retrain it"):
        cfg.check_features("effnet+meanmax+hsv15", 2590, None, None, "video v")
    with pytest.raises(FeatureError, match="re-index with that extractor"):
        cfg.check_features("clip-vit", 512, None, None, "video v")
