"""The quick first pass of ``ask``: keyframes (and gap fillers) perceived first, stored under
the keys a full index uses, so a later full index computes only the rest; progress lines that
say nothing for cached work and give an ETA for real work."""

from __future__ import annotations

import io

import pytest
from conftest import counter_index, write_counter_video

from vidsleuth.agent.indexing import prepare_line, prepare_video, quick_pick
from vidsleuth.agent.progress import ProgressReporter, format_seconds
from vidsleuth.memory.indexer import chunk_plan_for, is_fully_indexed, plan_key
from vidsleuth.memory.store import Store
from vidsleuth.settings import Settings
from vidsleuth.tools.perception.registry import make_perceiver

FPS = 10


@pytest.fixture
def minute_video(tmp_path):
    # one keyframe every 4 s (GOP 40 at 10 fps): one per 4 s chunk
    return write_counter_video(tmp_path / "minute.mp4", 60.0, FPS, gop=40)


def test_quick_pick_spreads_keyframes_and_fills_long_gaps(tmp_path, minute_video):
    s = Settings(store=tmp_path / "store", quick_max_frames=4, quick_max_gap_s=12.0)
    with Store.open(s.store) as st:
        rec = st.register(minute_video)
        plan = chunk_plan_for(rec, s)
        pick = quick_pick(st, rec, plan, s)
        times = dict(pick._times)
        keyframes = {c for c in pick.chunk_ids if c in pick._keyframes}
        assert len(keyframes) == 4  # 15 keyframes thinned to an even spread of 4
        ordered = sorted(times.values())
        assert ordered[0] == 0.0 and ordered[-1] >= 48.0  # first and last keyframe kept
        gaps = [b - a for a, b in zip([0.0, *ordered], [*ordered, 60.0], strict=True)]
        assert max(gaps) <= 12.0 + 4.0  # fillers split every gap longer than 12 s
        assert len(pick.chunk_ids) > 4
        # frames come in chunk order, each the frame shown at its chosen time
        chunks = [c for c in plan.chunks if c.id in pick.chunk_ids]
        first, second = pick(chunks[:3]), pick(chunks[3:])
        got = {**first, **second}
        assert set(got) == set(pick.chunk_ids)
        for cid, frame in got.items():
            assert abs(frame.t - times[cid]) < 1e-6
            assert counter_index(frame.image) == round(frame.t * FPS)
        again = pick(chunks[:1])  # an earlier chunk again (a second perceiver) restarts
        assert set(again) == {chunks[0].id}


def test_quick_pass_then_full_index_computes_only_the_rest(tmp_path, minute_video):
    s = Settings(store=tmp_path / "store", perceivers="tags", quick_max_frames=5)
    with Store.open(s.store) as st:
        quick = prepare_video(st, minute_video, s, None, mode="quick")
        assert quick["mode"] == "quick" and quick["frames_computed"] == 0
        n_quick = quick["chunks_perceived"]
        assert 5 <= n_quick < quick["chunks"] == 15
        assert quick["units_computed"]["tags"] == n_quick
        rec = st.video(quick["video_id"])
        plan = chunk_plan_for(rec, s)
        assert not is_fully_indexed(st, rec.video_id, plan, plan_key(plan, s))
        tags = make_perceiver("tags", s)
        stored = {k for k in st.keys(rec.video_id, tags.name, tags.version) if "/" not in k}
        assert len(stored) == n_quick
        # a second quick pass finds everything it needs stored
        again = prepare_video(st, minute_video, s, None, mode="quick")
        assert again["units_computed"]["tags"] == 0
        assert prepare_line(again) == "index: 15 chunks, all cached"
        full = prepare_video(st, minute_video, s, None, mode="full")
        assert full["mode"] == "full" and full["frames_computed"] == 15
        assert full["units_computed"]["tags"] == 15 - n_quick
        assert is_fully_indexed(st, rec.video_id, plan, plan_key(plan, s))
        # once fully indexed, a quick request is the full index, all cached
        after = prepare_video(st, minute_video, s, None, mode="quick")
        assert after["mode"] == "full" and sum(after["units_computed"].values()) == 0
    assert "quick pass over" in prepare_line(quick)


def test_retriever_is_offered_only_on_a_fully_indexed_video(tmp_path, minute_video):
    from vidsleuth.tools.base import Budget, ToolContext, Usage
    from vidsleuth.tools.builtin import can_retrieve

    s = Settings(store=tmp_path / "store", perceivers="subtitles", quick_max_frames=5)
    with Store.open(s.store) as st:
        info = prepare_video(st, minute_video, s, None, mode="quick")
        rec = st.video(info["video_id"])

        def ctx() -> ToolContext:
            return ToolContext(
                settings=s, store=st, record=rec, chat=None, budget=Budget(), usage=Usage()
            )

        assert not can_retrieve(ctx())
        prepare_video(st, minute_video, s, None, mode="full")
        assert can_retrieve(ctx())


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_is_silent_for_cached_work_and_gives_an_eta_when_piped():
    out, clock = io.StringIO(), Clock()
    p = ProgressReporter(stream=out, clock=clock, tty=False, grace_s=2.0, every_s=10.0)
    for done in range(0, 129, 16):  # a cached stage: read back in no time
        p("ocr", done, 128)
    assert out.getvalue() == ""
    p("tags", 0, 100)
    for done in range(1, 100):
        clock.t += 0.5
        p("tags", done, 100)
    clock.t += 0.5
    p("tags", 100, 100)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6  # one line every 10 s of a 50 s stage, then the final one
    assert lines[0] == "  [index] tags 4/100, about 48s left"
    assert lines[-1] == "  [index] tags: 100/100 in 50s"
    assert p.shown_anything and p.wall_seconds == 50.0


def test_progress_on_a_terminal_rewrites_one_line():
    out, clock = io.StringIO(), Clock()
    p = ProgressReporter(stream=out, clock=clock, tty=True)
    p("frames", 0, 10)
    clock.t = 3.0
    p("frames", 5, 10)
    p.close()
    assert out.getvalue() == "\r\x1b[K  [index] frames 5/10, about 3s left\n"
    quiet = io.StringIO()
    q = ProgressReporter(stream=quiet, clock=clock, quiet=True)
    q("frames", 1, 10)
    clock.t = 100.0
    q("frames", 2, 10)
    assert quiet.getvalue() == ""


def test_stages_running_side_by_side_share_one_line():
    out, clock = io.StringIO(), Clock()
    p = ProgressReporter(stream=out, clock=clock, tty=False, grace_s=1.0, every_s=5.0)
    for k in range(1, 11):
        clock.t += 1.0
        p("ocr", k, 20)
        p("tags", 2 * k, 40)
    assert out.getvalue().splitlines() == [
        "  [index] ocr 2/20, tags 2/40, about 18s left",
        "  [index] ocr 7/20, tags 12/40, about 17s left",
    ]


def test_format_seconds():
    assert [format_seconds(x) for x in (4.2, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_scan_unseen_perceives_what_the_quick_pass_skipped(tmp_path, minute_video):
    from vidsleuth.tools.base import Budget, ToolContext, Usage
    from vidsleuth.tools.builtin import unseen_chunks
    from vidsleuth.tools.registry import default_registry

    s = Settings(store=tmp_path / "store", perceivers="tags", quick_max_frames=5)
    reg = default_registry(plugins=False)
    with Store.open(s.store) as st:
        info = prepare_video(st, minute_video, s, None, mode="quick")
        rec = st.video(info["video_id"])
        tags = make_perceiver("tags", s)

        def ctx(frames: int | None = None) -> ToolContext:
            return ToolContext(
                settings=s, store=st, record=rec, budget=Budget(max_frames=frames), usage=Usage()
            )

        before = len(unseen_chunks(ctx()))
        assert before == 15 - info["chunks_perceived"]
        out = reg.call(ctx(frames=2), "scan_unseen", {"query": "anything", "max_chunks": 10})
        assert out.frames_decoded == 2  # the question's frame budget caps the scan
        assert len(unseen_chunks(ctx())) == before - 2
        c = ctx()
        out = reg.call(c, "scan_unseen", {"query": "anything", "t_start": 0, "t_end": 60})
        assert out.frames_decoded == before - 2 and not unseen_chunks(c)
        assert "0 not perceived yet" in out.note
        new = [
            cid
            for cid in st.keys(rec.video_id, tags.name, tags.version)
            if "/" not in cid
            and st.get_json(rec.video_id, tags.name, tags.version, cid) is not None
        ]
        assert len(new) == 15
        done = reg.call(ctx(), "scan_unseen", {"query": "anything"})
        assert done.frames_decoded == 0 and done.note == "every chunk is already perceived"
