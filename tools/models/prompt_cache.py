"""Persist a chat backend's prompt (KV) cache per video, so a new process starts warm.

llama.cpp reuses the longest shared prompt prefix between calls *inside one process*: the same
observations with a reworded question cost ~2 s instead of ~34 s.  A new ``vidsleuth ask`` starts
with an empty cache.  This module saves the backend's cache state to
``<store>/llm-cache/<video_id>/<model-hash>.bin`` after a session's calls and restores it before the
next session's first call, so that first call only evaluates what changed.

The session needs only :func:`persistent_prompt_cache` and :func:`prompt_cache_path`::

    with persistent_prompt_cache(chat, prompt_cache_path(store.root, video_id, chat)):
        ...  # the model calls of one question

Backends that cannot persist their cache (anything but llama.cpp today) make it a no-op.

A cache file is one self-describing blob, written to a temporary file and renamed into place::

    b"VSPCACHE" | u32 little-endian header length | header (JSON) | payload (backend bytes)

The header holds the backend's *identity* (model id and sha256, context size, runtime version),
the payload's size and sha256, and the number of cached tokens.  A file that is missing,
truncated, corrupt, or written for another model or context size is ignored (with the reason
logged) and replaced by the next save; reading a cache never raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

MAGIC = b"VSPCACHE"
FORMAT = 1
_HEAD = struct.Struct("<8sI")
_MAX_HEADER = 1 << 20
_CHUNK = 8 << 20
CACHE_DIR = "llm-cache"


@runtime_checkable
class PromptCacheBackend(Protocol):
    """What a backend provides to have its prompt cache persisted.

    ``prompt_cache_identity`` is everything that must be equal for a saved state to be valid
    (JSON-serialisable).  ``prompt_cache_export`` writes the backend's raw state to ``dest`` and
    returns the number of tokens in it (0: nothing worth saving).  ``prompt_cache_import`` loads
    a raw state from ``src`` and returns the number of tokens restored; it raises
    :class:`~vidsleuth.errors.ModelError` when the backend refuses it.
    """

    def prompt_cache_identity(self) -> dict[str, Any]: ...

    def prompt_cache_export(self, dest: Path) -> int: ...

    def prompt_cache_import(self, src: Path) -> int: ...


class CacheFileError(Exception):
    """A cache file that cannot be used (the message is the reason, for the log)."""


# --------------------------------------------------------------------------------------------
# The file format
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_cache_file(
    path: Path, payload: Path, identity: dict[str, Any], *, tokens: int = 0
) -> None:
    """Write ``payload`` (the backend's raw state) under a header to ``path``, atomically.

    The file is written beside ``path`` under a unique temporary name, flushed to disk, then
    renamed over ``path``: a reader sees the old file or the new one, never half of one, and an
    interrupted save leaves no partial file.  Raises ``OSError`` when it cannot write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "identity": identity,
        "tokens": int(tokens),
        "payload_size": payload.stat().st_size,
        "payload_sha256": _sha256(payload),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    head = json.dumps(header, sort_keys=True).encode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEAD.pack(MAGIC, len(head)))
            out.write(head)
            with open(payload, "rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_cache_header(path: Path) -> dict[str, Any]:
    """The header of the cache file at ``path``, after checking its framing and size.

    Raises :class:`CacheFileError` (missing, not a cache file, truncated, unknown format).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(_HEAD.size)
            if len(raw) < _HEAD.size:
                raise CacheFileError(f"truncated ({size} bytes)")
            magic, hlen = _HEAD.unpack(raw)
            if magic != MAGIC:
                raise CacheFileError("not a vidsleuth prompt-cache file")
            if hlen > _MAX_HEADER or _HEAD.size + hlen > size:
                raise CacheFileError("truncated or corrupt header")
            header = json.loads(fh.read(hlen))
    except FileNotFoundError:
        raise CacheFileError("no cache file") from None
    except (OSError, ValueError) as err:  # ValueError: bad JSON / UTF-8
        raise CacheFileError(f"unreadable: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise CacheFileError(f"unknown format {fmt!r}")
    want = _HEAD.size + hlen + int(header.get("payload_size", -1))
    if size != want:
        raise CacheFileError(f"size {size} bytes, the header says {want} (truncated?)")
    header["_offset"] = _HEAD.size + hlen
    return header


def identity_mismatch(saved: Any, current: dict[str, Any]) -> str | None:
    """Why a cache saved with identity ``saved`` is invalid now (None: it is valid)."""
    if not isinstance(saved, dict):
        return "the file has no model identity"
    keys = sorted(set(saved) | set(current))
    diff = [k for k in keys if saved.get(k) != current.get(k)]
    if not diff:
        return None
    shown = ", ".join(f"{k}: {saved.get(k)!r} != {current.get(k)!r}" for k in diff[:4])
    return f"saved for another model or setting ({shown})"


def extract_payload(path: Path, identity: dict[str, Any], dest: Path) -> dict[str, Any]:
    """Check the cache file at ``path`` against ``identity`` and copy its payload to ``dest``.

    Returns the header.  Raises :class:`CacheFileError` with the reason when the file is
    missing, corrupt, truncated or for another identity (``dest`` is then removed).
    """
    header = read_cache_header(path)
    problem = identity_mismatch(header.get("identity"), identity)
    if problem:
        raise CacheFileError(problem)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as src, open(dest, "wb") as out:
            src.seek(header["_offset"])
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
    except OSError as err:
        Path(dest).unlink(missing_ok=True)
        raise CacheFileError(f"unreadable: {err}") from err
    if h.hexdigest() != header.get("payload_sha256"):
        Path(dest).unlink(missing_ok=True)
        raise CacheFileError("payload checksum mismatch (corrupt file)")
    return header


# --------------------------------------------------------------------------------------------
# Saving and restoring a backend's cache
# --------------------------------------------------------------------------------------------


def load_prompt_cache(backend: PromptCacheBackend, path: Path) -> int:
    """Restore ``backend``'s prompt cache from ``path``; the number of tokens restored.

    0 when there is nothing usable (no file, a corrupt one, another model or context size, or a
    backend that refuses it): the reason is logged and the backend simply starts cold.
    """
    path = Path(path)
    if not path.exists():
        log.debug("prompt cache %s: no cache file yet", path)
        return 0
    with tempfile.TemporaryDirectory(prefix="vidsleuth-pc-") as tmp:
        payload = Path(tmp) / "state.bin"
        try:
            identity = backend.prompt_cache_identity()
            header = extract_payload(path, identity, payload)
            tokens = int(backend.prompt_cache_import(payload))
        except CacheFileError as err:
            log.warning("prompt cache %s ignored: %s", path, err)
            return 0
        except Exception as err:  # a backend refusing the state must not stop the question
            log.warning("prompt cache %s ignored: the backend refused it: %s", path, err)
            return 0
    log.info("prompt cache %s: restored %d tokens (saved %s)", path, tokens, header["saved_at"])
    return tokens


def save_prompt_cache(backend: PromptCacheBackend, path: Path) -> bool:
    """Save ``backend``'s prompt cache to ``path`` (atomically); whether a file was written.

    Never raises: a failed save is logged and the previous file (if any) stays as it was.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="vidsleuth-pc-") as tmp:
        payload = Path(tmp) / "state.bin"
        try:
            identity = backend.prompt_cache_identity()
            tokens = int(backend.prompt_cache_export(payload))
            if tokens <= 0 or not payload.is_file():
                log.debug("prompt cache %s: nothing to save", path)
                return False
            write_cache_file(path, payload, identity, tokens=tokens)
        except Exception as err:
            log.warning("prompt cache %s not saved: %s", path, err)
            return False
    log.info("prompt cache %s: saved %d tokens", path, tokens)
    return True


# --------------------------------------------------------------------------------------------
# What the session calls
# --------------------------------------------------------------------------------------------

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _safe_name(text: str) -> str:
    if _SAFE.match(text) and ".." not in text:
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def prompt_cache_key(chat: Any) -> str:
    """A short, file-name-safe hash of what separates one chat model's caches from another's
    (its id and, when it has one, its context size)."""
    parts = [str(getattr(chat, "id", type(chat).__name__))]
    n_ctx = getattr(chat, "n_ctx", None)
    if n_ctx is not None:
        parts.append(f"ctx{n_ctx}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def prompt_cache_path(store_root: str | Path, video_id: str, chat: Any) -> Path:
    """``<store_root>/llm-cache/<video_id>/<model-hash>.bin`` (a video id that is not a plain
    file name is hashed)."""
    folder = Path(store_root) / CACHE_DIR / _safe_name(str(video_id))
    return folder / f"{prompt_cache_key(chat)}.bin"


def prompt_cache_seed(store_root: str | Path, video_id: str, chat: Any) -> Path:
    """The cache file to start from for ``video_id``: its own, else the newest one this model
    saved for any other video in the store.

    Every prompt starts with the same system text and tool list whatever the video, and
    llama.cpp keeps the longest shared prefix of a restored state, so the first question about
    a video never seen before still starts with that prefix evaluated.  The state is then saved
    under the video's own path.
    """
    own = prompt_cache_path(store_root, video_id, chat)
    if own.exists():
        return own
    name = own.name
    others = []
    for f in (Path(store_root) / CACHE_DIR).glob(f"*/{name}"):
        with contextlib.suppress(OSError):
            others.append((f.stat().st_mtime, f))
    return max(others)[1] if others else own


def supports_prompt_cache(chat: Any) -> bool:
    """Whether ``chat`` can persist its prompt cache (otherwise the helpers here are no-ops)."""
    return callable(getattr(chat, "restore_prompt_cache", None)) and callable(
        getattr(chat, "save_prompt_cache", None)
    )


@dataclass
class PromptCacheUse:
    """What :func:`persistent_prompt_cache` did: ``supported`` (the backend can persist),
    ``restored`` (tokens restored at entry; None when the restore waits for the model to load,
    see ``LlamaCppChatModel.restore_prompt_cache``) and ``saved`` (a file was written at exit)."""

    path: Path
    supported: bool = False
    restored: int | None = 0
    saved: bool = False


@contextlib.contextmanager
def persistent_prompt_cache(
    chat: Any, path: str | Path | None, *, seed: str | Path | None = None
) -> Iterator[PromptCacheUse]:
    """Restore ``chat``'s prompt cache from ``seed`` (default ``path``) on entry and save it to
    ``path`` on exit.

    A no-op for backends without a persistent cache (``chat`` may even be None) and when
    ``path`` is None.  Nothing here raises: a cache problem costs speed, never an answer.  The
    cache is not saved when the block is left by ``KeyboardInterrupt``/``SystemExit``, nor when
    the model made no call inside the block.
    """
    use = PromptCacheUse(path=Path(path) if path is not None else Path())
    if path is None or chat is None or not supports_prompt_cache(chat):
        yield use
        return
    use.supported = True
    try:
        use.restored = chat.restore_prompt_cache(Path(seed) if seed is not None else use.path)
    except Exception as err:  # the backend's own method should not raise; be sure
        log.warning("prompt cache %s ignored: %s", use.path, err)
    ok = False
    try:
        yield use
        ok = True
    except Exception:
        ok = True  # an ordinary error: the calls made so far are still worth keeping
        raise
    finally:
        if use.restored is None:  # a deferred restore happened (or not) at the first call
            use.restored = getattr(chat, "last_restore", None)
        if ok:
            try:
                use.saved = bool(chat.save_prompt_cache(use.path))
            except Exception as err:
                log.warning("prompt cache %s not saved: %s", use.path, err)
