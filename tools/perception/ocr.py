"""On-screen text: RapidOCR (PP-OCR ONNX models inside the ``rapidocr`` wheel), or Tesseract.

RapidOCR is exact on rendered text but costs ~1 s per frame on one core; Tesseract is ~5x faster
and weaker on dense or stylised text, so it is an option, used only when its binary exists.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.errors import ModelError
from vidsleuth.memory.store import version_of
from vidsleuth.tools.perception.assets import Asset, fit_image
from vidsleuth.tools.perception.types import Observation

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


class RapidOcrPerceiver:
    """Text lines with their boxes, read by PP-OCR (detector + recogniser, no angle classifier:
    video text is upright, and the classifier costs ~20%)."""

    name = "ocr"
    modality = "frames"

    def __init__(
        self,
        *,
        max_side: int = 1280,
        min_score: float = 0.5,
        assets: dict[str, Asset] | None = None,
    ) -> None:
        self.max_side = max_side
        self.min_score = min_score
        self.assets = assets or RAPIDOCR_ASSETS

    @cached_property
    def version(self) -> str:
        return version_of(
            engine="rapidocr",
            models={k: a.sha256 for k, a in sorted(self.assets.items())},
            max_side=self.max_side,
            min_score=self.min_score,
        )

    def _engine(self) -> Any:
        paths = {k: str(a.verified_path()) for k, a in self.assets.items()}
        key = (paths["det"], paths["rec"])
        with _engine_lock:
            if key not in _engines:
                from rapidocr import RapidOCR

                _engines[key] = RapidOCR(
                    params={
                        "Global.log_level": "critical",
                        "Global.use_cls": False,
                        "Det.model_path": paths["det"],
                        "Rec.model_path": paths["rec"],
                    }
                )
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

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        out = []
        for f in frames:
            for text, score, box in self.read(f.image):
                out.append(
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
                )
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
            engine="tesseract", tesseract=self._tesseract_version(), max_side=self.max_side
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
