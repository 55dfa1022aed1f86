"""Chunk plans: stable ids, full coverage, segments, scene-aware segment boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsleuth.tools.video import Frame, plan_chunks, sample_rate, scene_boundaries

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"


def test_default_plan_covers_video_with_stable_ids() -> None:
    plan = plan_chunks(601.3)
    assert plan.chunks[0].id == "c000000" and plan.chunks[-1].id == f"c{len(plan.chunks) - 1:06d}"
    assert len(plan.chunks) == 151  # 150 full chunks + a 1.3 s tail
    assert plan.chunks[0].sample_times == (0.0, 1.0, 2.0, 3.0)
    assert plan.chunks[-1].t_end == pytest.approx(601.3)
    assert all(a.t_end == b.t_start for a, b in zip(plan.chunks, plan.chunks[1:], strict=False))
    assert plan.sample_times() == [float(t) for t in range(602)]
    # segments of ~1 minute (15 chunks), the short tail folded into the last one
    assert [len(s.chunk_ids) for s in plan.segments] == [15] * 9 + [16]
    assert plan.segments[-1].t_end == pytest.approx(601.3)
    assert plan.chunk_at(61.0).id == "c000015" and plan.chunk_at(61.0).segment == 1
    assert plan.segment_of("c000150").index == 9
    again = plan_chunks(601.3)
    assert again.to_dict() == plan.to_dict() and again.key == plan.key


def test_parameters_change_key_and_sampling() -> None:
    a = plan_chunks(100.0)
    b = plan_chunks(100.0, sample_fps=2.0)
    assert a.key != b.key
    assert b.chunks[0].sample_times == tuple(k / 2 for k in range(8))
    tiny = plan_chunks(4.2)  # a 0.2 s tail joins the chunk before
    assert len(tiny.chunks) == 1 and tiny.chunks[0].t_end == pytest.approx(4.2)
    with pytest.raises(ValueError):
        plan_chunks(0.0)


def test_segments_snap_to_scene_cuts_but_chunks_do_not_move() -> None:
    plain = plan_chunks(300.0)
    snapped = plan_chunks(300.0, boundaries=[66.5, 170.0])
    assert [c.id for c in snapped.chunks] == [c.id for c in plain.chunks]
    assert [c.t_start for c in snapped.chunks] == [c.t_start for c in plain.chunks]
    starts = [s.t_start for s in snapped.segments]
    assert 68.0 in starts and 168.0 in starts  # the cuts' nearest chunk edges
    assert 60.0 not in starts and 180.0 not in starts
    assert 120.0 in starts and 240.0 in starts  # no cut nearby: unchanged
    assert snapped.key != plain.key


def _shot(t: float, colour: tuple[int, int, int], flip: bool = False) -> Frame:
    """A shot: a tinted gradient with an object drifting slowly inside it."""
    ramp = np.linspace(0.3, 1.0, 64)[None, :, None]
    if flip:  # same colours, light from the top instead of the right
        ramp = np.linspace(1.0, 0.3, 36)[:, None, None]
    img = (np.ones((36, 64, 3)) * ramp * np.array(colour)).astype(np.uint8)
    x = 5 + 2 * int(t)
    img[10:20, x : x + 10] = 255
    return Frame(t=t, image=img)


def test_scene_boundaries_on_synthetic_cuts() -> None:
    frames = [_shot(t, (200, 30, 30)) for t in range(5)]
    frames += [_shot(t, (20, 40, 220)) for t in range(5, 9)]
    frames += [_shot(t, (230, 210, 60), flip=True) for t in range(9, 12)]
    assert scene_boundaries(frames) == [5, 9]


@pytest.mark.parametrize(
    "names", [("chaplin.mp4", "airplane.mp4"), ("carphone.mp4", "sintel_snow.mp4")]
)
def test_scene_boundaries_on_real_clips_joined(names: tuple[str, str]) -> None:
    a, b = (VIDEOS / n for n in names)
    if not (a.exists() and b.exists()):
        pytest.skip(f"real clips not present ({VIDEOS})")
    first = list(sample_rate(a, 1.0, max_side=160))
    second = list(sample_rate(b, 1.0, max_side=160))
    offset = len(first)
    joined = first + [Frame(t=f.t + offset, image=f.image) for f in second]
    assert scene_boundaries(joined) == [float(offset)]
