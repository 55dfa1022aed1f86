"""Retrieval protocol pieces: feature validation, adaptive K, the uniform baseline, the metrics,
and the store loader's error for a video without features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import VidsleuthError
from vidsleuth.tools.retrieval.base import (
    ChunkRetriever,
    ChunkSpan,
    FeatureError,
    VideoFeatures,
    adaptive_k,
    ranked,
)
from vidsleuth.tools.retrieval.uniform import UniformRetriever, spread_order


def _video(n: int = 10, d: int = 4, **kw: object) -> VideoFeatures:
    chunks = [ChunkSpan(f"c{i}", i, 4.0 * i, 4.0 * i + 4, (4.0 * i, 4.0 * i + 1)) for i in range(n)]
    visual = kw.pop("visual", np.random.default_rng(0).normal(size=(n, d)).astype(np.float32))
    return VideoFeatures("vid", chunks, visual, "toy", **kw)  # type: ignore[arg-type]


def test_nan_features_are_refused_with_a_clear_error() -> None:
    bad = np.ones((10, 4), np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(
        FeatureError, match=r"video vid: visual features: 1 NaN/inf values \(rows \[3\]"
    ):
        _video(visual=bad)
    text = np.zeros((10, 3), np.float32)
    text[7] = np.inf
    with pytest.raises(FeatureError, match="text features: 3 NaN/inf"):
        _video(text=text, text_extractor="t")
    assert issubclass(FeatureError, VidsleuthError)


def test_shape_mismatches_are_refused() -> None:
    with pytest.raises(FeatureError, match="9 rows for 10 chunks"):
        _video(visual=np.ones((9, 4), np.float32))
    with pytest.raises(FeatureError, match="2-d"):
        _video(visual=np.ones(10, np.float32))
    with pytest.raises(FeatureError, match="without an extractor"):
        _video(text=np.ones((10, 3), np.float32))
    with pytest.raises(FeatureError, match="frame features of chunk 2: dimension 5"):
        _video(frame_visual={2: np.ones((2, 5), np.float32)})


def test_ranked_orders_by_score_then_time() -> None:
    v = _video(5)
    r = ranked(v, np.array([0.1, 0.9, 0.9, -1.0, 0.5]), k=3)
    assert [c.chunk_id for c in r] == ["c1", "c2", "c4"]
    assert [c.rank for c in r] == [1, 2, 3]
    assert r[0].t_start == 4.0 and r[0].t_end == 8.0


def test_adaptive_k_follows_confidence() -> None:
    sharp = np.array([10.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert adaptive_k(sharp, mass=0.9) == 1
    flat = np.zeros(20)
    assert adaptive_k(flat, mass=0.5, k_max=50) == 10  # half the mass of 20 equal chunks
    assert adaptive_k(flat, mass=0.5, k_max=4) == 4  # the budget caps it
    two = np.array([5.0, 5.0, -5.0, -5.0])
    assert adaptive_k(two, mass=0.9) == 2
    assert adaptive_k(sharp, mass=0.9, k_min=3) == 3
    # a higher temperature flattens the distribution: more chunks for the same mass
    s = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
    assert adaptive_k(s, mass=0.9, tau=5.0) > adaptive_k(s, mass=0.9, tau=0.5)
    assert adaptive_k([], mass=0.9) == 0
    with pytest.raises(ValueError):
        adaptive_k(s, mass=0.0)


def test_uniform_is_evenly_spaced_and_a_permutation() -> None:
    u = UniformRetriever()
    assert isinstance(u, ChunkRetriever)
    v = _video(100)
    top5 = u.rank("anything", v, k=5)
    assert [c.index for c in top5] == [10, 30, 50, 70, 90]
    full = u.rank("anything", v)
    assert sorted(c.index for c in full) == list(range(100))
    assert u.rank("q", _video(3), k=10)[0].index in (0, 1, 2)
    for n in (1, 2, 7, 64, 100):
        assert sorted(spread_order(n)) == list(range(n))


def test_metrics_by_hand() -> None:
    from vidsleuth.evals.retrieval_eval import evaluate, first_correct_rank, summarise
    from vidsleuth.tools.retrieval.train import Example

    assert first_correct_rank([4, 2, 7], np.array([0, 0, 1.0, 0, 0, 0, 0, 0.5])) == 2
    assert first_correct_rank([0, 1], np.zeros(3)) == 3
    v = _video(100)
    # evidence at chunk 50 (t=200..204): uniform's first pick at k=1 is chunk 50
    ex = [
        Example(0, "q", [(200.5, 203.0)], kind="text", needles=1),
        Example(0, "q", [(0.0, 1.0)], kind="flash", needles=3),
    ]
    rep = evaluate({"uniform": UniformRetriever()}, [v], ex, k=5)["uniform"]
    assert rep["by_kind"]["text"]["recall@1"] == 1.0
    assert rep["by_kind"]["flash"]["recall@10"] == 0.0
    assert rep["recall@1"] == 0.5 and rep["single_needle"]["questions"] == 1
    assert rep["frames@5"] == 10.0  # 5 chunks x 2 frames
    assert rep["covered@5"] == 0.5
    assert summarise([]) == {"questions": 0}


def test_missing_features_error_names_video_and_command(tmp_path: Path, counter_video) -> None:  # type: ignore[no-untyped-def]
    from vidsleuth.memory.indexer import chunk_plan_for, index_video, plan_key
    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings
    from vidsleuth.tools.retrieval.features import load_video_features

    s = Settings(store=tmp_path / "store", workers=1)
    with Store.open(s.store) as st:
        summary = index_video(st, counter_video(seconds=9.0), s)
        rec = st.video(summary.video_id)
        assert rec is not None
        key = plan_key(chunk_plan_for(rec, s), s)
        with pytest.raises(
            FeatureError,
            match=rf"video {rec.video_id} has no features for extractor "
            r"efficientnet-lite0.*run `vidsleuth index --perceive tags",
        ):
            load_video_features(st, rec.video_id, key, s, with_text=False)
        with pytest.raises(FeatureError, match="not in the store"):
            load_video_features(st, "v0000", key, s)
