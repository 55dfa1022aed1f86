"""Finding and checking the model files that arrive inside registry packages.

Weight packages are located through ``importlib.metadata`` (their data files), never by
importing their Python code, and every file is checked against a pinned sha256 before it is
loaded: a mismatch means a different or damaged model, and results cached under the pinned
version would silently be wrong.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsleuth.errors import ModelError

_verified: dict[tuple[str, str], Path] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Asset:
    """A file shipped inside a pip package: ``package`` (pip name), ``relpath`` inside its
    installed files, and the ``sha256`` the file must have."""

    package: str
    relpath: str
    sha256: str

    def locate(self) -> Path:
        """Path of the installed file; :class:`ModelError` naming the package to install."""
        try:
            dist = metadata.distribution(self.package)
        except metadata.PackageNotFoundError:
            raise ModelError(
                f"model package {self.package!r} is not installed "
                f"(pip install {self.package}); it provides {Path(self.relpath).name}"
            ) from None
        path = Path(str(dist.locate_file(self.relpath)))
        if not path.is_file():
            raise ModelError(
                f"{path}: missing from the installed package {self.package!r} "
                f"(reinstall it: pip install --force-reinstall {self.package})"
            )
        return path

    def verified_path(self) -> Path:
        """:meth:`locate`, then check the sha256 once per process."""
        return verify_file(self.locate(), self.sha256, self.package)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, sha256: str, package: str = "") -> Path:
    """Return ``path`` if its sha256 is ``sha256``; raise :class:`ModelError` otherwise."""
    key = (str(path), sha256)
    with _lock:
        if key in _verified:
            return _verified[key]
    actual = sha256_of(path)
    if actual != sha256:
        hint = f" (reinstall: pip install --force-reinstall {package})" if package else ""
        raise ModelError(
            f"{path}: sha256 {actual[:16]}... does not match the pinned {sha256[:16]}...; "
            f"refusing to load it{hint}"
        )
    with _lock:
        _verified[key] = path
    return path


def fit_image(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale ``image`` so its longest side is at most ``max_side``.

    Returns the image and the factor to multiply its pixel coordinates by to get back to the
    source frame (1.0 when it was small enough).  An 8000-px frame would otherwise cost the OCR
    detector minutes and gigabytes.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return image, 1.0
    import cv2

    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), longest / max_side
