"""On-screen text: RapidOCR (PP-OCR ONNX models inside the ``rapidocr`` wheel), or Tesseract.

RapidOCR is exact on rendered text; at the detector's native size it reads ~3 frames/s of a
640x360 video on 2 busy cores (1.4 s per frame with RapidOCR's upscaling default).  Tesseract is
an option for dense pages, used only when its binary exists.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import ModelError
from vidsleuth.tools.perception.assets import Asset, fit_image
from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

RAPIDOCR_ASSETS = {
    "det": Asset(
        "rapidocr",
        "rapidocr/models/PP-OCRv6_det_small.onnx",
        "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    ),
    "rec": Asset(
        "rapidocr",
        "rapidocr/models/PP-OCRv6_rec_small.onnx",
        "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    ),
}

_engines: dict[tuple[str, ...], Any] = {}
_engine_lock = threading.Lock()
SIGNATURE_SIZE = (64, 36)
TILES = 8


@dataclass
class OcrMemo:
    """The last frame OCR actually read: its signature, time and observations."""

    signature: np.ndarray | None = None
    t: float = 0.0
    obs: list[Observation] = field(default_factory=list)


def frame_signature(image: np.ndarray) -> np.ndarray:
    """A tiny grey thumbnail (64 px wide, aspect kept) that frame changes are measured on."""
    import cv2

    h, w = image.shape[:2]
    sw = SIGNATURE_SIZE[0]
    sh = max(TILES, round(sw * h / max(w, 1)))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean absolute grey-level difference over a TILES x TILES grid.

    The maximum over tiles, not the frame mean: a caption covering 3% of the frame barely
    moves the mean but changes its tiles by tens of grey levels.
    """
    d = np.abs(a - b)
    h, w = d.shape
    ys = np.linspace(0, h, TILES + 1).astype(int)
    xs = np.linspace(0, w, TILES + 1).astype(int)
    return float(
        max(
            d[ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean()
            for i in range(TILES)
            for j in range(TILES)
        )
    )


class RapidOcrPerceiver:
    """Text lines with their boxes, read by PP-OCR (detector + recogniser, no angle classifier:
    video text is upright, and the classifier costs ~20%).

    The recogniser only ever runs on the detector's boxes, so a frame without text costs one
    detector pass.  That pass is sized by ``det_side`` (longest side, never upscaled): RapidOCR's
    own default scales the *shortest* side up to 736 px, which turns a 640x360 thumbnail into
    1308x736 and made OCR ~5x slower with the same recall of rendered video text.  960 leaves
    the index's 640-px thumbnails and the agent's 960-px zoom frames at their own size.
    :meth:`perceive_sequence` also skips frames that barely changed since the last frame read.
    """

    name = "ocr"
    modality = "frames"

    def __init__(
        self,
        *,
        max_side: int = 1280,
        min_score: float = 0.5,
        det_side: int | None = 960,
        reuse_diff: float = 4.0,
        assets: dict[str, Asset] | None = None,
    ) -> None:
        self.max_side = max_side
        self.min_score = min_score
        self.det_side = det_side
        self.reuse_diff = reuse_diff
        self.assets = assets or RAPIDOCR_ASSETS

    @cached_property
    def version(self) -> str:
        return version_of(
            engine="rapidocr",
            models={k: a.sha256 for k, a in sorted(self.assets.items())},
            max_side=self.max_side,
            min_score=self.min_score,
            det=f"max{self.det_side}" if self.det_side else "rapidocr-default",
            reuse_diff=self.reuse_diff,
        )

    def _engine(self) -> Any:
        paths = {k: str(a.verified_path()) for k, a in self.assets.items()}
        key = (paths["det"], paths["rec"], str(self.det_side))
        with _engine_lock:
            if key not in _engines:
                from rapidocr import RapidOCR

                params: dict[str, Any] = {
                    "Global.log_level": "critical",
                    "Global.use_cls": False,
                    "Det.model_path": paths["det"],
                    "Rec.model_path": paths["rec"],
                }
                if self.det_side:
                    params |= {"Det.limit_type": "max", "Det.limit_side_len": self.det_side}
                _engines[key] = RapidOCR(params=params)
            return _engines[key]

    def load(self) -> None:
        """Load the model now (``models check`` and benchmarks time loading apart)."""
        self._engine()

    def read(self, image: np.ndarray) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """``(text, score, box)`` per text line of one RGB image, box in its own pixels."""
        small, scale = fit_image(image, self.max_side)
        result = self._engine()(small, use_cls=False)
        if result.txts is None or result.boxes is None:
            return []
        lines = []
        for text, score, quad in zip(result.txts, result.scores, result.boxes, strict=True):
            if not text.strip() or float(score) < self.min_score:
                continue
            q = np.asarray(quad, dtype=float) * scale
            box = (
                float(q[:, 0].min()),
                float(q[:, 1].min()),
                float(q[:, 0].max()),
                float(q[:, 1].max()),
            )
            lines.append((text.strip(), float(score), box))
        return lines

    def _observations(self, f: Frame) -> list[Observation]:
        return [
            Observation(
                t_start=f.t,
                t_end=f.t,
                kind="ocr",
                text=text,
                score=score,
                box=box,
                producer=self.name,
                version=self.version,
            )
            for text, score, box in self.read(f.image)
        ]

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        return [o for f in frames for o in self._observations(f)]

    def perceive_sequence(
        self, frames: Sequence[Frame], memo: OcrMemo | None = None
    ) -> list[tuple[list[Observation], float | None]]:
        """Per frame (in time order): its observations and, when they were copied from an
        earlier frame instead of read, that frame's time.

        A frame is read only when some region of it changed by more than ``reuse_diff`` grey
        levels since the last frame actually read (:func:`frame_change`); otherwise that
        frame's lines are copied with the new time, since on-screen text cannot have appeared
        or gone without changing its region.  ``memo`` carries the last read frame across calls.
        """
        memo = memo if memo is not None else OcrMemo()
        out: list[tuple[list[Observation], float | None]] = []
        for f in frames:
            sig = frame_signature(f.image)
            if (
                self.reuse_diff > 0
                and memo.signature is not None
                and memo.signature.shape == sig.shape
                and frame_change(memo.signature, sig) <= self.reuse_diff
            ):
                copied = [o.model_copy(update={"t_start": f.t, "t_end": f.t}) for o in memo.obs]
                out.append((copied, memo.t))
                continue
            obs = self._observations(f)
            memo.signature, memo.obs, memo.t = sig, obs, f.t
            out.append((obs, None))
        return out

    def perceive_audio(
        self, path: str | Path, start: float = 0.0, end: float | None = None
    ) -> list[Observation]:
        raise TypeError("ocr perceives frames, not audio")


class TesseractPerceiver(RapidOcrPerceiver):
    """The ``tesseract`` binary, one call per frame (whole-frame text, no boxes)."""

    def __init__(
        self, *, max_side: int = 1280, min_score: float = 0.5, binary: str = "tesseract"
    ) -> None:
        super().__init__(max_side=max_side, min_score=min_score)
        self.binary = binary

    @cached_property
    def version(self) -> str:
        return version_of(
            engine="tesseract",
            tesseract=self._tesseract_version(),
            max_side=self.max_side,
            reuse_diff=self.reuse_diff,
        )

    def _tesseract_version(self) -> str:
        exe = shutil.which(self.binary)
        if exe is None:
            raise ModelError(
                f"OCR engine 'tesseract' needs the {self.binary!r} binary "
                "(apt-get install tesseract-ocr); "
                "use the default engine 'rapidocr' instead"
            )
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        return (
            (out.stdout or out.stderr).splitlines()[0].strip()
            if (out.stdout or out.stderr)
            else "?"
        )

    def load(self) -> None:
        self._tesseract_version()

    def read(self, image: np.ndarray) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        import cv2

        self.load()
        small, _ = fit_image(image, self.max_side)
        ok, png = cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("could not encode the frame for tesseract")
        res = subprocess.run(
            [self.binary, "stdin", "stdout"], input=png.tobytes(), capture_output=True, check=False
        )
        if res.returncode != 0:
            raise ModelError(
                f"tesseract failed: {res.stderr.decode(errors='replace').strip()[:200]}"
            )
        h, w = image.shape[:2]
        text = res.stdout.decode(errors="replace")
        return [
            (ln.strip(), 1.0, (0.0, 0.0, float(w), float(h)))
            for ln in text.splitlines()
            if ln.strip()
        ]
