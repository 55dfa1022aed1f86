"""The persistent, content-addressed index every other layer writes into.

Why SQLite: every write is a transaction, so a process killed at any moment (``kill -9`` included)
leaves either the whole artifact or nothing, and several processes can share one store without
corrupting it (WAL mode; writers serialise on SQLite's own lock).  Indexing one video is
additionally guarded by a per-video file lock so a second process waits and then reuses the
first one's work instead of decoding the same frames twice.

Layout of a store folder::

    FORMAT            {"format": "vidsleuth-store", "version": 1}; a newer version is refused
    index.sqlite      videos, chunks, frames (JPEG) and generic artifacts
    locks/            per-video lock files
    chroma/, graph/   memory stores (issue 4)

Everything is keyed by the video's fingerprint (its bytes, not its path), then by producer name
and a version string that hashes the producer's model id and parameters: change the sampling
rate or a model and new artifacts appear beside the old ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsleuth.errors import StoreError, VideoError
from vidsleuth.versions import version_of as version_of  # re-exported for the store's users

if TYPE_CHECKING:
    import numpy as np

    from vidsleuth.tools.video import Frame, VideoProbe

FORMAT_NAME = "vidsleuth-store"
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    video_id   TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    full_hash  TEXT,
    probe      TEXT NOT NULL,
    paths      TEXT NOT NULL,
    added      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    video_id   TEXT NOT NULL,
    plan       TEXT NOT NULL,
    chunk_id   TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    t_start    REAL NOT NULL,
    t_end      REAL NOT NULL,
    segment    INTEGER NOT NULL,
    frame_ts   TEXT NOT NULL,
    created    REAL NOT NULL,
    PRIMARY KEY (video_id, plan, chunk_id)
);
CREATE TABLE IF NOT EXISTS frames (
    video_id   TEXT NOT NULL,
    plan       TEXT NOT NULL,
    t_req      REAL NOT NULL,
    t          REAL NOT NULL,
    key        INTEGER NOT NULL,
    jpeg       BLOB NOT NULL,
    PRIMARY KEY (video_id, plan, t_req)
);
CREATE TABLE IF NOT EXISTS artifacts (
    video_id   TEXT NOT NULL,
    producer   TEXT NOT NULL,
    version    TEXT NOT NULL,
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    data       BLOB NOT NULL,
    created    REAL NOT NULL,
    PRIMARY KEY (video_id, producer, version, key)
);
"""

_SAMPLE_BLOCKS = 32
_BLOCK = 64 * 1024


def check_video_path(path: str | Path) -> Path:
    """Reject paths that cannot be a video before anything is read from them.

    The one check every command runs before it opens, locks or creates anything: the path must
    be an existing, readable, non-empty *regular* file.  A FIFO, socket or device is refused
    from its ``stat`` alone (opening a FIFO would block until someone writes to it).
    """
    from vidsleuth.tools.video.probe import check_path

    p = check_path(path)  # stat only: exists, regular file, not empty, readable
    try:
        with p.open("rb") as fh:
            fh.read(1)
    except OSError as err:
        raise VideoError(p, f"cannot read file ({err.strerror})") from err
    return p


def check_video(path: str | Path) -> Path:
    """:func:`check_video_path`, then a probe: the file must also *be* a usable video.

    Probing reads packets only (and is cached per file), so commands call this before they
    open the store: a text file named ``.mp4`` is refused before anything is written.
    """
    from vidsleuth.tools.video import probe

    p = check_video_path(path)
    probe(p)
    return p


def check_id_prefix(ref: str) -> str:
    """Refuse an empty or blank video id prefix (it would match every video)."""
    if not str(ref).strip():
        raise StoreError(
            "an empty video id would match every video; give a video id or a unique prefix"
        )
    return str(ref)


def store_exists(root: str | Path) -> bool:
    """Whether ``root`` already holds a store (commands that only read must not create one)."""
    return (Path(root).expanduser() / "index.sqlite").is_file()


def storage_problem(path: str | Path, err: BaseException) -> str:
    """One line for a storage failure: what happened to which file, and the fix."""
    msg = str(err)
    low = msg.lower()
    if "readonly" in low or "read-only" in low or getattr(err, "errno", None) == 30:
        fix = "make it writable (chmod u+w) or choose another --store"
        what = "is read-only"
    elif "full" in low or getattr(err, "errno", None) == 28:
        fix = "free disk space and run again (finished work is kept)"
        what = "disk is full"
    elif "locked" in low or "busy" in low:
        fix = "another process holds it; let it finish and run again"
        what = "is locked"
    else:
        fix = "check the file, its permissions and the free disk space"
        what = "cannot be used"
    return f"{path}: {what} ({msg}); {fix}"


def fingerprint(path: str | Path, *, full: bool = False) -> str:
    """Identify a video by its content: size plus sampled blocks (or every byte when ``full``).

    Sampling 32 blocks of 64 KiB reads at most 2 MiB whatever the file size, so re-opening an
    hour-long file is instant; a renamed or copied file keeps its id.
    """
    p = check_video_path(path)
    size = p.stat().st_size
    h = hashlib.blake2b(digest_size=10)
    h.update(str(size).encode())
    with p.open("rb") as fh:
        if full or size <= _SAMPLE_BLOCKS * _BLOCK:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        else:
            step = (size - _BLOCK) / (_SAMPLE_BLOCKS - 1)
            for i in range(_SAMPLE_BLOCKS):
                fh.seek(int(i * step))
                h.update(fh.read(_BLOCK))
    return ("f" if full else "v") + h.hexdigest()


@dataclass
class VideoRecord:
    """One registered video: its content id, probe and the paths it has been seen at."""

    video_id: str
    probe: VideoProbe
    size: int
    paths: list[str] = field(default_factory=list)
    added: float = 0.0

    @property
    def path(self) -> str:
        """The most recently seen path (the one to decode from)."""
        return self.paths[-1]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk whose frames are in the store."""

    chunk_id: str
    index: int
    t_start: float
    t_end: float
    segment: int
    frame_times: tuple[float, ...]


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG-encode an RGB frame for the frame cache."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode a cached frame back to an RGB array."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


class Store:
    """A store folder: the SQLite index plus the folders other layers keep beside it.

    Use :meth:`open`; one instance per thread (SQLite connections are not shared across threads).
    """

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = root
        self._conn = conn
        self._tx_lock = threading.Lock()

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, root: str | Path, *, create: bool = True) -> Store:
        """Open (creating when missing) the store at ``root``; :class:`StoreError` if unusable.

        ``create=False`` is for commands that only look things up: a missing store is refused
        instead of created.
        """
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root}: store path exists and is not a folder")
        if not create and not store_exists(root):
            raise StoreError(f"{root}: no store here (nothing was indexed into it yet)")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"{root}: cannot create store folder ({err.strerror})") from err
        if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
            raise StoreError(f"{root}: store folder is not readable and writable by this user")
        cls._check_format(root)
        (root / "locks").mkdir(exist_ok=True)
        db = root / "index.sqlite"
        # Two processes opening a new store at once race to switch it to WAL, and SQLite does
        # not wait for the lock there ("database is locked" at once, whatever the timeout):
        # the loser tries again for a while before it reports the problem.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                conn = sqlite3.connect(db, timeout=120.0, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(_SCHEMA)
                except BaseException:
                    conn.close()
                    raise
                return cls(root, conn)
            except sqlite3.OperationalError as err:
                if "locked" not in str(err).lower() or time.monotonic() > deadline:
                    raise StoreError(storage_problem(db, err)) from err
                time.sleep(0.05)
            except sqlite3.DatabaseError as err:
                raise StoreError(storage_problem(db, err)) from err

    @staticmethod
    def _check_format(root: Path) -> None:
        fmt = root / "FORMAT"
        if not fmt.exists():
            if (root / "index.sqlite").exists():
                raise StoreError(f"{root}: index.sqlite present but FORMAT missing; not a store?")
            tmp = fmt.with_suffix(f".tmp{os.getpid()}")
            try:
                tmp.write_text(
                    json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}) + "\n"
                )
                os.replace(tmp, fmt)
            except OSError as err:
                tmp.unlink(missing_ok=True)
                raise StoreError(storage_problem(fmt, err)) from err
            return
        try:
            info = json.loads(fmt.read_text())
            name, version = info["format"], int(info["version"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise StoreError(f"{fmt}: unreadable store format file ({err})") from err
        if name != FORMAT_NAME:
            raise StoreError(f"{root}: not a vidsleuth store (format {name!r})")
        if version > FORMAT_VERSION:
            raise StoreError(
                f"{root}: store format version {version} is newer than this vidsleuth supports "
                f"({FORMAT_VERSION}); upgrade vidsleuth or use another --store"
            )

    def close(self) -> None:
        """Close the SQLite connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or (killed, failed) none of it."""
        db = self.root / "index.sqlite"
        with self._tx_lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise StoreError(storage_problem(db, err)) from err
            try:
                yield self._conn
            except sqlite3.OperationalError as err:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise StoreError(storage_problem(db, err)) from err
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as err:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise StoreError(storage_problem(db, err)) from err

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.root / 'index.sqlite'}: {err}") from err

    @contextlib.contextmanager
    def video_lock(
        self, video_id: str, *, timeout: float = -1, on_wait: Any = None
    ) -> Iterator[None]:
        """Hold the per-video lock; call ``on_wait()`` once if another process holds it."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.root / "locks" / f"{video_id}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait()
            try:
                lock.acquire(timeout=timeout)
            except Timeout as err:
                raise StoreError(f"{video_id}: another process is indexing this video") from err
        try:
            yield
        finally:
            lock.release()

    # ----------------------------------------------------------------------------- videos
    def register(self, path: str | Path, *, full_hash: bool = False) -> VideoRecord:
        """Probe and fingerprint ``path``; reuse the record when its content is known.

        Probing happens before anything is written, so a bad file leaves the store unchanged.
        """
        from vidsleuth.tools.video import probe

        p = check_video_path(path)
        vid = fingerprint(p, full=full_hash)
        abspath = str(p.resolve())
        rec = self.video(vid)
        if rec is not None:
            if abspath not in rec.paths or rec.paths[-1] != abspath:
                rec.paths = [x for x in rec.paths if x != abspath] + [abspath]
                with self._tx() as c:
                    c.execute(
                        "UPDATE videos SET paths=? WHERE video_id=?", (json.dumps(rec.paths), vid)
                    )
            return rec
        pr = probe(p)
        rec = VideoRecord(vid, pr, p.stat().st_size, [abspath], time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO videos VALUES (?,?,?,?,?,?)",
                (
                    vid,
                    rec.size,
                    vid if full_hash else None,
                    pr.model_dump_json(),
                    json.dumps(rec.paths),
                    rec.added,
                ),
            )
        return rec

    def video(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id``, or None."""
        rows = self._q(
            "SELECT video_id, probe, size, paths, added FROM videos WHERE video_id=?", (video_id,)
        )
        return self._record(rows[0]) if rows else None

    def videos(self) -> list[VideoRecord]:
        """Every registered video, oldest first."""
        rows = self._q("SELECT video_id, probe, size, paths, added FROM videos ORDER BY added")
        return [self._record(r) for r in rows]

    def resolve(self, ref: str | Path) -> VideoRecord:
        """A video id, a unique id prefix, or a path (registered on the fly) -> its record."""
        s = str(ref)
        if not Path(s).exists():
            check_id_prefix(s)
            # substr, not LIKE: '_' and '%' in a prefix are characters, not wildcards
            rows = self._q(
                "SELECT video_id FROM videos WHERE substr(video_id, 1, ?) = ?", (len(s), s)
            )
            if len(rows) == 1:
                rec = self.video(rows[0][0])
                assert rec is not None
                return rec
            if len(rows) > 1:
                raise StoreError(f"{s}: ambiguous video id prefix ({len(rows)} matches)")
        return self.register(s)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> VideoRecord:
        from vidsleuth.tools.video import VideoProbe

        vid, probe_json, size, paths, added = row
        return VideoRecord(
            vid, VideoProbe.model_validate_json(probe_json), size, json.loads(paths), added
        )

    def remove(self, video_id: str) -> bool:
        """Delete a video and everything stored for it; True if it existed."""
        with self._tx() as c:
            n = c.execute("DELETE FROM videos WHERE video_id=?", (video_id,)).rowcount
            for table in ("chunks", "frames", "artifacts"):
                c.execute(f"DELETE FROM {table} WHERE video_id=?", (video_id,))
        return n > 0

    def stats(self, video_id: str) -> dict[str, Any]:
        """Counts of what is stored for a video, per chunk plan and per producer."""
        plans = {
            plan: n
            for plan, n in self._q(
                "SELECT plan, COUNT(*) FROM chunks WHERE video_id=? GROUP BY plan", (video_id,)
            )
        }
        frames_bytes = self._q(
            "SELECT COALESCE(SUM(LENGTH(jpeg)), 0) FROM frames WHERE video_id=?", (video_id,)
        )[0][0]
        producers = {
            f"{p}@{v}": n
            for p, v, n in self._q(
                "SELECT producer, version, COUNT(*) FROM artifacts WHERE video_id=? "
                "GROUP BY producer, version",
                (video_id,),
            )
        }
        return {"chunks": plans, "frame_bytes": frames_bytes, "artifacts": producers}

    # ----------------------------------------------------------------------------- chunks
    def done_chunk_ids(self, video_id: str, plan: str) -> set[str]:
        """Ids of the chunks of ``plan`` whose frames are fully stored."""
        rows = self._q("SELECT chunk_id FROM chunks WHERE video_id=? AND plan=?", (video_id, plan))
        return {r[0] for r in rows}

    def put_chunk(
        self,
        video_id: str,
        plan: str,
        chunk: Any,
        frames: Sequence[tuple[float, float, bool, bytes]],
    ) -> None:
        """Store one chunk and its frames ``(t_requested, t_true, is_key, jpeg)`` atomically."""
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO frames VALUES (?,?,?,?,?,?)",
                [(video_id, plan, tr, t, int(k), j) for tr, t, k, j in frames],
            )
            c.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    video_id,
                    plan,
                    chunk.id,
                    chunk.index,
                    chunk.t_start,
                    chunk.t_end,
                    chunk.segment,
                    json.dumps([f[0] for f in frames]),
                    time.time(),
                ),
            )

    def chunks(self, video_id: str, plan: str) -> list[StoredChunk]:
        """The stored chunks of ``plan`` in time order."""
        rows = self._q(
            "SELECT chunk_id, idx, t_start, t_end, segment, frame_ts FROM chunks "
            "WHERE video_id=? AND plan=? ORDER BY idx",
            (video_id, plan),
        )
        return [StoredChunk(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5]))) for r in rows]

    def plans(self, video_id: str) -> list[str]:
        """The chunk plans that have stored chunks for this video."""
        return [
            r[0] for r in self._q("SELECT DISTINCT plan FROM chunks WHERE video_id=?", (video_id,))
        ]

    def frames(
        self, video_id: str, plan: str, t_start: float = 0.0, t_end: float = float("inf")
    ) -> list[Frame]:
        """Cached frames of ``plan`` whose requested time lies in ``[t_start, t_end)``."""
        from vidsleuth.tools.video import Frame

        rows = self._q(
            "SELECT t, key, jpeg FROM frames WHERE video_id=? AND plan=? AND t_req>=? AND t_req<? "
            "ORDER BY t_req",
            (video_id, plan, t_start, t_end if t_end != float("inf") else 1e18),
        )
        return [Frame(t=t, image=decode_jpeg(j), key=bool(k)) for t, k, j in rows]

    # ----------------------------------------------------------------------------- artifacts
    def _put(
        self, video_id: str, producer: str, version: str, key: str, kind: str, data: bytes
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?)",
                (video_id, producer, version, key, kind, data, time.time()),
            )

    def _get(self, video_id: str, producer: str, version: str, key: str, kind: str) -> bytes | None:
        rows = self._q(
            "SELECT kind, data FROM artifacts "
            "WHERE video_id=? AND producer=? AND version=? AND key=?",
            (video_id, producer, version, key),
        )
        if not rows:
            return None
        if rows[0][0] != kind:
            raise StoreError(
                f"artifact {producer}@{version}/{key} of {video_id} is {rows[0][0]}, not {kind}"
            )
        return bytes(rows[0][1])

    def put_json(self, video_id: str, producer: str, version: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (atomic)."""
        self._put(video_id, producer, version, key, "json", json.dumps(value, default=str).encode())

    def get_json(self, video_id: str, producer: str, version: str, key: str) -> Any:
        """The stored value, or None when absent."""
        data = self._get(video_id, producer, version, key, "json")
        return None if data is None else json.loads(data)

    def put_array(
        self, video_id: str, producer: str, version: str, key: str, array: np.ndarray
    ) -> None:
        """Store a numpy array (``.npy`` bytes; atomic)."""
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        self._put(video_id, producer, version, key, "npy", buf.getvalue())

    def get_array(self, video_id: str, producer: str, version: str, key: str) -> np.ndarray | None:
        """The stored array, or None when absent."""
        import numpy as np

        data = self._get(video_id, producer, version, key, "npy")
        return None if data is None else np.load(io.BytesIO(data), allow_pickle=False)

    def keys(self, video_id: str, producer: str, version: str) -> list[str]:
        """Keys stored for one producer version of a video."""
        rows = self._q(
            "SELECT key FROM artifacts WHERE video_id=? AND producer=? AND version=? ORDER BY key",
            (video_id, producer, version),
        )
        return [r[0] for r in rows]

    def producers(self, video_id: str | None = None) -> list[tuple[str, str, int]]:
        """``(producer, version, count)`` for every stored artifact family."""
        if video_id is None:
            rows = self._q(
                "SELECT producer, version, COUNT(*) FROM artifacts GROUP BY producer, version"
            )
        else:
            rows = self._q(
                "SELECT producer, version, COUNT(*) FROM artifacts WHERE video_id=? "
                "GROUP BY producer, version",
                (video_id,),
            )
        return [(p, v, n) for p, v, n in rows]

    def delete_version(self, producer: str, version: str) -> int:
        """Remove every artifact of one producer version (used by ``store gc``)."""
        with self._tx() as c:
            return c.execute(
                "DELETE FROM artifacts WHERE producer=? AND version=?", (producer, version)
            ).rowcount
