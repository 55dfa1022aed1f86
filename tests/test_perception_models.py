"""The default perceivers on real content: real weights from their packages, real clips.

Each model loads once per process (a few seconds); the checks after loading take well under
5 s each on this 2-core machine, so they stay in the default suite.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.evals.bench_perception import mux_on_grey


def frames_at(path: Path, times: list[float]):  # type: ignore[no-untyped-def]
    from vidsleuth.tools.video import sample_frames

    return sample_frames(path, times)


def test_ocr_reads_the_burnt_in_timecode(shared_videos: Path) -> None:
    from vidsleuth.tools.perception.ocr import RapidOcrPerceiver

    ocr = RapidOcrPerceiver()
    f2, f8 = frames_at(shared_videos / "timecode_pattern.mp4", [2.0, 8.0])
    texts8 = [o.text for o in ocr.perceive_frames([f8])]
    assert "00:00:08:00" in texts8
    assert any("25 fps" in t for t in texts8)
    assert "00:00:02:00" in [o.text for o in ocr.perceive_frames([f2])]
    box = next(o.box for o in ocr.perceive_frames([f8]) if o.text == "00:00:08:00")
    assert box is not None and 150 < box[0] < box[2] < 500 and 180 < box[1] < box[3] < 300


def test_ocr_black_frame_and_huge_frame() -> None:
    import cv2

    from vidsleuth.tools.perception.ocr import RapidOcrPerceiver
    from vidsleuth.tools.video import Frame

    ocr = RapidOcrPerceiver()
    assert (
        ocr.perceive_frames([Frame(t=0.0, image=np.zeros((480, 640, 3), np.uint8), key=True)]) == []
    )
    huge = np.full((1200, 8000, 3), 255, np.uint8)
    cv2.putText(huge, "WAREHOUSE 17", (3000, 700), cv2.FONT_HERSHEY_SIMPLEX, 12, (0, 0, 0), 30)
    obs = ocr.perceive_frames([Frame(t=1.0, image=huge, key=True)])
    assert "".join(o.text for o in obs).replace(" ", "") == "WAREHOUSE17"
    boxes = np.array([o.box for o in obs])
    x0, y0 = boxes[:, :2].min(0)
    x1, y1 = boxes[:, 2:].max(0)
    assert 2800 < x0 < 3200 and x1 > 5500 and 150 < y0 < y1 < 950  # boxes in source pixels


def test_detector_finds_car_and_person(shared_videos: Path) -> None:
    from vidsleuth.tools.perception.objects import ObjectPerceiver

    det = ObjectPerceiver()
    bikes = det.perceive_frames(frames_at(shared_videos / "bikes.mp4", [1.4, 6.2]))
    assert any(o.label == "car" and o.score and o.score >= 0.3 for o in bikes)
    chaplin = det.perceive_frames(frames_at(shared_videos / "chaplin.mp4", [4.3]))
    people = [o for o in chaplin if o.label == "person"]
    assert people and people[0].score and people[0].score > 0.6
    x0, y0, x1, y1 = people[0].box  # type: ignore[misc]
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
    black = det.perceive_frames(frames_at(shared_videos / "chaplin.mp4", [0.0])[:0])
    assert black == []


def test_tags_and_visual_features() -> None:
    import skimage.data

    from vidsleuth.tools.perception.tags import EfficientNetEmbedder, TagPerceiver, chunk_feature
    from vidsleuth.tools.video import Frame

    cat, coffee = skimage.data.chelsea(), skimage.data.coffee()
    tags = TagPerceiver(top_k=3)
    obs, feats = tags.perceive_frames_with_features(
        [Frame(0.0, cat, True), Frame(1.0, coffee, True)]
    )
    first = {o.t_start: o.label for o in sorted(obs, key=lambda o: -(o.score or 0))[::-1]}
    assert "cat" in first[0.0]
    assert first[1.0] in {"espresso", "cup", "coffee mug"}
    assert feats.shape == (2, 1280)
    emb = EfficientNetEmbedder()
    vecs = emb.embed_images([cat, cat[:, ::-1].copy(), coffee])
    assert vecs.shape == (3, 1280) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]  # a mirrored cat is nearer the cat than coffee
    c = chunk_feature(feats)
    assert c.shape == (1280,) and np.isclose(np.linalg.norm(c), 1)
    from vidsleuth.tools.models.base import Embedder, UnsupportedModality

    assert isinstance(emb, Embedder) and emb.dim == 1280
    with pytest.raises(UnsupportedModality):
        emb.embed_texts(["a cat"])


SENTENCE = "Seven purple elephants danced in the library at midnight."
VIDEO_S = 18


def _mux_speech(tmp_path: Path, wav: Path, offset: float) -> Path:
    """A grey video of VIDEO_S seconds whose audio is ``wav`` starting ``offset`` s in."""
    return mux_on_grey(wav, tmp_path / "speech.mp4", offset=offset, seconds=VIDEO_S)


def _packaged_speech_video(tmp_path: Path, offset: float) -> tuple[Path, float, list[str]]:
    """Real recorded speech (the generator's packaged Beckett clips, 10 s) muxed at ``offset``;
    returns the video, the speech's length and its words."""
    import wave

    from vidsleuth.evals.synth import speech as synth_speech

    if not synth_speech.packaged_available():
        pytest.skip(f"{synth_speech.SPEECH_PACKAGE} (packaged real speech) is not installed")
    rate = 16000
    clips = [c for c in synth_speech.PACKAGED_CLIPS if c.asset == "beckett.wav"]
    audio = np.concatenate([synth_speech.clip_audio(c, rate) for c in clips])
    wav = tmp_path / "beckett.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    words = " ".join(c.text for c in clips).split()
    return _mux_speech(tmp_path, wav, offset), len(audio) / rate, words


def test_packaged_speech_words_at_the_right_times(tmp_path: Path) -> None:
    from vidsleuth.tools.perception.speech import SpeechPerceiver

    video, length, words = _packaged_speech_video(tmp_path, offset=5.0)
    obs = SpeechPerceiver().perceive_audio(video)
    speech = [o for o in obs if o.kind == "speech"]
    assert speech and all(o.kind == "speech" for o in obs)
    text = " ".join(o.text for o in speech).lower()
    for word in ("tried", "failed", "matter", "again", "better"):
        assert word in text and word in words
    assert 4.8 <= speech[0].t_start <= 5.8  # the speech starts 5 s into the video
    assert 5.0 + length - 1.5 <= speech[-1].t_end <= 5.0 + length + 0.5
    # Only the second half: times stay in video time, nothing before the interval.
    late = SpeechPerceiver().perceive_audio(video, start=10.0, end=VIDEO_S)
    assert late and all(o.t_start >= 9.5 for o in late)
    assert "better" in " ".join(o.text for o in late).lower()
    assert not [o for o in SpeechPerceiver().perceive_audio(video, 0.0, 4.5) if o.kind == "speech"]


def test_espeak_speech_words_at_the_right_times(tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (the packaged-speech test covers this)")
    from vidsleuth.tools.perception.speech import SpeechPerceiver

    wav = tmp_path / "speech.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "140", "-w", str(wav), SENTENCE], check=True)
    video = _mux_speech(tmp_path, wav, offset=5.0)
    obs = SpeechPerceiver().perceive_audio(video)
    speech = [o for o in obs if o.kind == "speech"]
    text = " ".join(o.text for o in speech).lower().replace("-", "")
    for word in ("purple", "library", "midnight"):
        assert word in text
    assert 4.5 <= speech[0].t_start <= 5.8  # the speech starts 5 s into the video
    assert 7.0 <= speech[-1].t_end <= 10.0
    # Only the second half of the interval: times stay in video time.
    late = SpeechPerceiver().perceive_audio(video, start=4.0, end=14.0)
    assert abs(late[0].t_start - speech[0].t_start) < 0.3


def test_audio_without_speech_and_video_without_audio(tmp_path: Path, shared_videos: Path) -> None:
    import av

    from vidsleuth.tools.perception.speech import NO_AUDIO, SpeechPerceiver

    tone = tmp_path / "tone.wav"
    rate = 16000
    t = np.arange(rate * 4) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    with av.open(str(tone), "w") as out:
        st = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for pkt in st.encode(frame):
            out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    assert SpeechPerceiver().perceive_audio(tone) == []
    obs = SpeechPerceiver().perceive_audio(shared_videos / "bikes.mp4")
    assert [(o.kind, o.text) for o in obs] == [("problem", NO_AUDIO)]


def test_look_and_listen_cli(
    shared_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert (
        main(
            [
                "look",
                str(shared_videos / "timecode_pattern.mp4"),
                "--at",
                "8",
                "--perceivers",
                "ocr",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["t"] == 8.0 and "00:00:08:00" in [o["text"] for o in out["observations"]]
    assert main(["look", str(shared_videos / "bikes.mp4"), "--at", "99"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["listen", str(shared_videos / "bikes.mp4")]) == 2
    assert "no audio stream and no subtitles" in capsys.readouterr().err
    assert (
        main(
            [
                "listen",
                str(shared_videos / "bikes.mp4"),
                "--json",
                "--subtitles",
                str(shared_videos / "subtitles.srt"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [s["text"] for s in out["segments"]][:2] == ["Red!", "More Red!"]
    assert {s["source"] for s in out["segments"]} == {"subtitles"}
    assert any("no audio stream" in p for p in out["problems"])
    assert any("00:00:5,000" in p for p in out["problems"])


def test_perceive_video_stores_and_reuses(shared_videos: Path, tmp_path: Path) -> None:
    from vidsleuth.memory.store import Store
    from vidsleuth.settings import Settings
    from vidsleuth.tools.perception.cache import perceive_video
    from vidsleuth.tools.video import plan_chunks

    cfg = Settings(store=tmp_path / "store")
    with Store.open(cfg.store) as store:
        rec = store.register(shared_videos / "chaplin.mp4")
        plan = plan_chunks(
            rec.probe.duration_s, chunk_seconds=4.0, sample_fps=1.0, segment_seconds=60.0
        )
        calls: list[tuple[str, int, int]] = []
        first = perceive_video(
            store,
            rec,
            plan,
            ["objects", "tags", "speech"],
            lambda n, d, t: calls.append((n, d, t)),
            settings=cfg,
        )
        objs = first["perceivers"]["objects"]
        assert objs["units_computed"] == len(plan.chunks) and objs["observations"] > 0
        assert first["perceivers"]["speech"]["units_computed"] == 1
        assert calls[-1][1] == calls[-1][2]
        again = perceive_video(store, rec, plan, ["objects", "tags", "speech"], settings=cfg)
        for name in ("objects", "tags", "speech"):
            assert again["perceivers"][name]["units_computed"] == 0
            assert (
                again["perceivers"][name]["observations"]
                == first["perceivers"][name]["observations"]
            )
        tags_version = first["perceivers"]["tags"]["version"]
        feats = store.get_array(rec.video_id, "tags", tags_version, f"features/{plan.chunks[0].id}")
        assert feats is not None and feats.shape == (1, 1280)


def test_the_silence_gate_keeps_speech_and_skips_silence(tmp_path: Path) -> None:
    """Only audio louder than the gate goes to the VAD; the speech found is the same."""
    from vidsleuth.tools.perception.speech import SAMPLE_RATE, SpeechPerceiver, loud_regions

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(SAMPLE_RATE * 20) * 10 ** (-56 / 20)).astype(np.float32)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    audio[SAMPLE_RATE * 8 : SAMPLE_RATE * 10] += (0.1 * np.sin(2 * np.pi * 440 * t)).astype(
        np.float32
    )
    assert loud_regions(audio, -50.0) == [(7.5, 10.5)]
    assert loud_regions(audio, -70.0) == [(0.0, 20.0)]
    video, _, _ = _packaged_speech_video(tmp_path, offset=5.0)
    gated = SpeechPerceiver().perceive_audio(video)
    plain = SpeechPerceiver(gate_db=None).perceive_audio(video)
    assert [o.text for o in gated] == [o.text for o in plain]
    assert [round(o.t_start, 1) for o in gated] == [round(o.t_start, 1) for o in plain]
