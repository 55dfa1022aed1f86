"""The synthetic video generator: determinism, exact needle spans, valid JSON, clear errors.

Videos here are short and small (1 minute at 10 fps, 320x180) so the whole file runs in seconds;
frames are decoded with PyAV directly so these tests do not depend on the ingestion code.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.errors import ConfigError, VidsleuthError
from vidsleuth.evals.synth import BACKGROUND_SPLITS, generate, load_needles
from vidsleuth.evals.synth import speech as synth_speech
from vidsleuth.evals.synth.assets import COLOURS, OBJECTS
from vidsleuth.evals.synth.generator import GAP_SECONDS

SMALL = {"minutes": 1.0, "fps": 10.0, "width": 320, "height": 180, "progress": False}


def decode_all(path: Path) -> dict[int, np.ndarray]:
    """Every video frame as RGB, keyed by its frame index (pts in 1/fps units)."""
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        for frame in container.decode(stream):
            index = round(float(frame.pts * frame.time_base * rate))
            frames[index] = frame.to_ndarray(format="rgb24").astype(np.int16)
    return frames


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """The mono audio track as float samples (the encoder's priming delay is removed by PyAV)."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            chunks.append(frame.to_ndarray().reshape(-1))
        return np.concatenate(chunks), stream.rate


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[int, np.ndarray]]:
    """One video with one needle of each kind, its JSON and its decoded frames."""
    out = tmp_path_factory.mktemp("full") / "haystack.mp4"
    result = generate(out, seed=11, needles=4, **SMALL)
    return out, result, decode_all(out)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[int, np.ndarray]:
    """The same seed with no needles: the background-only render of ``full``."""
    out = tmp_path_factory.mktemp("plain") / "haystack.mp4"
    generate(out, seed=11, needles=0, **SMALL)
    return decode_all(out)


def needle(result: dict, kind: str) -> dict:
    found = [n for n in result["needles"] if n["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} needle, got {found}"
    return found[0]


def test_json_written_and_valid(full: tuple[Path, dict, dict]) -> None:
    out, result, _ = full
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk == result
    parsed = load_needles(out.with_suffix(".json"))
    assert parsed.seed == 11 and parsed.video == "haystack.mp4"
    assert sorted(n.kind for n in parsed.needles) == ["flash", "object", "speech", "text"]
    assert parsed.has_audio and parsed.speech_source == "packaged"
    for n in parsed.needles:
        # spans are frame-aligned and consistent with the frame indices
        assert n.t_start == pytest.approx(n.frame_start / parsed.fps, abs=1e-6)
        assert n.t_end == pytest.approx(n.frame_end / parsed.fps, abs=1e-6)
        assert parsed.count(n.kind, n.value) == 1
    # backgrounds tile the whole video, in order, with no gap
    spans = parsed.backgrounds
    assert spans[0].t_start == 0 and spans[-1].t_end == pytest.approx(parsed.duration_s)
    assert all(a.t_end == b.t_start for a, b in itertools.pairwise(spans))
    # distractor pools exclude every shown value and are big enough for 4-option questions
    for kind, pool in parsed.distractors.items():
        shown = {n.value for n in parsed.needles if n.kind == kind}
        assert not shown & set(pool)
        assert len(pool) >= 3, kind
    assert set(parsed.distractors["object"]) <= set(OBJECTS)
    assert set(parsed.distractors["flash"]) <= set(COLOURS)


def test_video_duration_and_streams(full: tuple[Path, dict, dict]) -> None:
    out, result, frames = full
    assert result["n_frames"] == 600 and result["duration_s"] == 60.0
    assert sorted(frames) == list(range(600))  # every frame, at the expected times
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (320, 180)
        assert float(video.average_rate) == 10.0
        assert len(container.streams.audio) == 1
    samples, rate = decode_audio(out)
    assert abs(len(samples) / rate - 60.0) < 0.15


def test_needles_do_not_overlap(tmp_path: Path) -> None:
    result = generate(
        tmp_path / "many.mp4",
        seed=3,
        needles=12,
        repeats=3,
        minutes=3.0,
        fps=2.0,
        width=128,
        height=72,
        progress=False,
    )
    needles = sorted(result["needles"], key=lambda n: n["t_start"])
    assert len(needles) == 12
    assert [n["id"] for n in needles] == [f"n{i:02d}" for i in range(1, 13)]
    for a, b in itertools.pairwise(needles):
        assert a["t_end"] + GAP_SECONDS <= b["t_start"] + 1e-9, (a, b)
    assert needles[-1]["t_end"] <= result["duration_s"]
    counts = Counter((n["kind"], n["value"]) for n in needles)
    assert max(counts.values()) <= 3
    assert {n["kind"] for n in needles} == {"text", "object", "flash", "speech"}


def test_flash_span_is_frame_exact(full: tuple[Path, dict, dict[int, np.ndarray]]) -> None:
    _, result, frames = full
    flash = needle(result, "flash")
    colour = np.array(COLOURS[flash["value"]])
    start, end = flash["frame_start"], flash["frame_end"]

    def distance(i: int) -> float:
        return float(np.abs(frames[i] - colour).mean())

    assert all(distance(i) < 8 for i in range(start, end)), flash
    assert distance(start - 1) > 40 and distance(end) > 40


@pytest.mark.parametrize("kind", ["text", "object"])
def test_overlay_span_and_box(
    kind: str, full: tuple[Path, dict, dict[int, np.ndarray]], plain: dict[int, np.ndarray]
) -> None:
    """Inside the span the box differs from the background-only render, outside it does not."""
    _, result, frames = full
    n = needle(result, kind)
    x0, y0, x1, y1 = n["bbox"]
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 180
    box = np.zeros((180, 320), bool)
    box[y0:y1, x0:x1] = True
    start, end = n["frame_start"], n["frame_end"]
    for i in (start, (start + end) // 2, end - 1):
        diff = np.abs(frames[i] - plain[i]).mean(axis=2)
        assert diff[box].mean() > 25, (i, diff[box].mean())
        assert diff[~box].mean() < 4, (i, diff[~box].mean())
    for i in (start - 1, end):
        assert np.abs(frames[i] - plain[i]).mean() < 4, i
    if kind == "text":
        # white/yellow ink on a near-black plate; ink at least 7.5% of the frame height tall
        # (27 px at 640x360, what OCR reads reliably)
        patch = frames[start][y0:y1, x0:x1].mean(axis=2)
        assert (patch < 50).mean() > 0.5 and (patch > 180).mean() > 0.03
        rows = np.flatnonzero((patch > 180).any(axis=1))
        assert rows[-1] - rows[0] + 1 >= 0.075 * 180


def test_speech_is_loud_inside_its_span(full: tuple[Path, dict, dict]) -> None:
    out, result, _ = full
    spoken = needle(result, "speech")
    assert spoken["value"] in {c.text for c in synth_speech.PACKAGED_CLIPS}
    samples, rate = decode_audio(out)

    def rms(t0: float, t1: float) -> float:
        return float(np.sqrt(np.mean(samples[int(t0 * rate) : int(t1 * rate)] ** 2)))

    inside = rms(spoken["t_start"], spoken["t_end"])
    before = rms(max(0.0, spoken["t_start"] - 1.5), spoken["t_start"] - 0.1)
    after = rms(spoken["t_end"] + 0.1, spoken["t_end"] + 1.5)
    assert inside > 10 * max(before, after), (inside, before, after)
    assert 0 < max(before, after) < 0.01  # low noise, not digital silence


def test_deterministic(tmp_path: Path) -> None:
    args = {
        "seed": 7,
        "needles": 3,
        "kinds": "text,flash,object",
        "minutes": 0.5,
        "fps": 5.0,
        "width": 160,
        "height": 90,
        "progress": False,
    }
    a = generate(tmp_path / "a" / "v.mp4", **args)
    b = generate(tmp_path / "b" / "v.mp4", **args)
    c = generate(tmp_path / "c" / "v.mp4", **{**args, "seed": 8})
    assert a == b
    assert (tmp_path / "a" / "v.json").read_bytes() == (tmp_path / "b" / "v.json").read_bytes()
    assert [n["t_start"] for n in a["needles"]] != [n["t_start"] for n in c["needles"]]
    fa, fb = decode_all(tmp_path / "a" / "v.mp4"), decode_all(tmp_path / "b" / "v.mp4")
    assert fa.keys() == fb.keys() and all(np.array_equal(fa[i], fb[i]) for i in fa)
    digest = [hashlib.sha256((tmp_path / d / "v.mp4").read_bytes()).hexdigest() for d in "ab"]
    assert digest[0] == digest[1]
    assert not fa.keys() - set(range(150))


def test_more_needles_keep_the_scenery(tmp_path: Path) -> None:
    """Needle count and scenery use separate random streams (so a background-only render exists)."""
    args = {"seed": 2, "minutes": 0.5, "fps": 2.0, "width": 96, "height": 64, "progress": False}
    a = generate(tmp_path / "a.mp4", needles=0, **args)
    b = generate(tmp_path / "b.mp4", needles=2, kinds="flash", **args)
    assert a["backgrounds"] == b["backgrounds"] and not a["needles"] and len(b["needles"]) == 2


def test_background_splits(tmp_path: Path) -> None:
    assert not set(BACKGROUND_SPLITS["train"]) & set(BACKGROUND_SPLITS["test"])
    result = generate(
        tmp_path / "held_out.mp4",
        seed=1,
        needles=0,
        backgrounds="test",
        minutes=4.0,
        fps=1.0,
        width=96,
        height=64,
        progress=False,
    )
    names = {b["name"] for b in result["backgrounds"]}
    assert names <= set(BACKGROUND_SPLITS["test"]) and len(names) >= 2
    assert result["background_selection"] == list(BACKGROUND_SPLITS["test"])
    # consecutive shots never reuse the same picture
    seq = [b["name"] for b in result["backgrounds"]]
    assert all(x != y for x, y in itertools.pairwise(seq))


def test_missing_speech_source_is_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "mute.mp4"
    with pytest.warns(UserWarning, match="speech needles are skipped"):
        result = generate(
            out,
            seed=4,
            kinds=["speech", "flash"],
            needles=2,
            speech_source="none",
            minutes=0.5,
            fps=2.0,
            width=96,
            height=64,
            progress=False,
        )
    assert [n["kind"] for n in result["needles"]] == ["flash", "flash"]
    assert not result["has_audio"] and result["speech_source"] is None
    with av.open(str(out)) as container:
        assert not container.streams.audio


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minutes": -1}, "--minutes must be a positive number"),
        ({"minutes": 0}, "--minutes must be a positive number"),
        ({"minutes": 1, "kinds": "text,smell"}, "unknown needle kind"),
        ({"minutes": 1, "width": 321}, "--width must be an even number"),
        ({"minutes": 1, "fps": 0}, "--fps must be between"),
        ({"minutes": 1, "needles": -2}, "--needles must be >= 0"),
        ({"minutes": 0.2, "needles": 10}, "too short for 10 needles"),
        ({"minutes": 1, "backgrounds": "moon"}, "unknown background"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(ConfigError, match=message):
        generate(out, seed=0, progress=False, **kwargs)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_load_needles_rejects_bad_files(tmp_path: Path, full: tuple[Path, dict, dict]) -> None:
    _, result, _ = full
    missing = tmp_path / "nope.json"
    with pytest.raises(VidsleuthError, match=r"nope\.json: needles file not found"):
        load_needles(missing)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(VidsleuthError, match=r"garbage\.json: not valid JSON"):
        load_needles(garbage)
    backwards = json.loads(json.dumps(result))
    backwards["needles"][0]["t_end"] = backwards["needles"][0]["t_start"]
    bad = tmp_path / "backwards.json"
    bad.write_text(json.dumps(backwards))
    with pytest.raises(
        VidsleuthError, match=r"backwards\.json: not a valid needles file.*empty span"
    ):
        load_needles(bad)
    no_kind = json.loads(json.dumps(result))
    del no_kind["needles"][1]["kind"]
    bad.write_text(json.dumps(no_kind))
    with pytest.raises(VidsleuthError, match=r"needles\.1\.kind"):
        load_needles(bad)


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mp4"
    code = main(
        [
            "generate",
            str(out),
            "--minutes",
            "0.5",
            "--seed",
            "9",
            "--needles",
            "2",
            "--kinds",
            "flash,text",
            "--fps",
            "4",
            "--width",
            "128",
            "--height",
            "72",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    printed = json.loads(captured.out)  # stdout holds the JSON alone
    assert printed == json.loads(out.with_suffix(".json").read_text())
    assert printed["seed"] == 9 and len(printed["needles"]) == 2
    assert main(["generate", str(tmp_path / "x.mp4"), "--minutes", "-3"]) == 2
    assert "--minutes must be a positive number" in capsys.readouterr().err


@pytest.mark.slow
def test_speech_catalog_transcribes() -> None:
    """Each packaged clip still says its phrase (whisper tiny.en; a few words may be misheard)."""
    results = synth_speech.verify_catalog()
    assert len(results) == len(synth_speech.PACKAGED_CLIPS)
    for clip, said, recall in results:
        assert recall >= 0.6, (clip.text, said)
    assert np.mean([r for _, _, r in results]) >= 0.9
