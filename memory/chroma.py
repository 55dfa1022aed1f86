"""Opening the Chroma store safely, in one of two modes chosen by ``settings.chroma_url``.

Chroma's embedded client corrupts its files silently when two processes use one path at once
(two writers, or one writer and one reader: see ``notes/environment.md``).  So:

* **embedded** (``chroma_url`` unset): a ``PersistentClient`` at ``<store>/chroma``, used only
  inside :meth:`ChromaStore.access`, which holds an inter-process lock on ``<store>/chroma.lock``
  for one short batch of reads or writes (never while perceiving, embedding or summarising), so
  two builds on one store interleave.  A process that finds the lock taken says once on stderr
  whom it waits for, waits up to ``chroma_lock_timeout`` seconds for that one batch and is then
  refused with a :class:`StoreError` naming the holder's pid.  The lock is an ``flock``, so a
  killed holder releases it at once.  Each taker writes a fresh token into the holder note; a
  process that finds someone else's token there reopens its client before using it (a client kept
  across another process's writes answers queries from its stale in-memory index).
* **server** (``chroma_url = "http://127.0.0.1:8000"``): an ``HttpClient``; the server serialises
  writers, so any number of processes and machines may share it.  :class:`ChromaServer` starts
  ``chroma run`` on loopback for tests and for ``vidsleuth memory serve``.

The embedded folder carries a ``FORMAT`` file (a server, a marker collection): a store written by a
newer vidsleuth is refused, never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from vidsleuth.errors import StoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from vidsleuth.settings import Settings

#: Layout version of what vidsleuth writes into Chroma (collection names, metadata fields).
FORMAT_VERSION = 1
FORMAT_FILE = "FORMAT"
#: In server mode the format lives in this collection's metadata (there is no folder of ours).
META_COLLECTION = "vidsleuth-meta"


def chroma_dir(store: Path) -> Path:
    """Where the embedded Chroma files live inside a store folder."""
    return Path(store) / "chroma"


def lock_path(store: Path) -> Path:
    """The single-writer lock of the embedded store (beside, not inside, the Chroma folder)."""
    return Path(store) / "chroma.lock"


def _holder_path(store: Path) -> Path:
    return Path(store) / "chroma.lock.holder"


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    # Telemetry off: nothing may leave the machine; reset off: a store is never wiped by a call.
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def check_format(folder: Path, *, create: bool) -> int:
    """Return the format version of an embedded Chroma folder, creating the marker if asked.

    A folder from a newer format, or one with Chroma files but no marker (not written by
    vidsleuth), is refused; nothing in it is touched.
    """
    marker = folder / FORMAT_FILE
    if marker.exists():
        raw = marker.read_text(encoding="utf-8").strip()
        try:
            found = int(raw)
        except ValueError:
            raise StoreError(f"{marker}: unreadable format marker {raw[:40]!r}") from None
        if found > FORMAT_VERSION:
            raise StoreError(
                f"{folder}: memory store format {found} is newer than this vidsleuth reads "
                f"(up to {FORMAT_VERSION}); upgrade vidsleuth or choose another --store "
                "(the folder was left untouched)"
            )
        return found
    if folder.exists() and any(folder.iterdir()):
        raise StoreError(
            f"{folder}: holds files but no {FORMAT_FILE} marker, so it was not written by "
            "vidsleuth; refusing to use it (move it away or choose another --store)"
        )
    if not create:
        return FORMAT_VERSION
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FORMAT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(f"{FORMAT_VERSION}\n", encoding="utf-8")
    os.replace(tmp, marker)
    return FORMAT_VERSION


@dataclass
class _Holder:
    """Who holds the embedded lock: written beside it so a refused process can name the pid."""

    pid: int
    host: str
    since: float
    argv: list[str] = field(default_factory=list)

    token: str | None = None

    def describe(self) -> str:
        cmd = " ".join(self.argv)[:80]
        ago = time.time() - self.since
        return f"pid {self.pid} on {self.host} ({cmd!r}, for {ago:.0f} s)"

    def command(self) -> str:
        """``vidsleuth memory build a.mp4``: the holder's command, its program by base name."""
        if not self.argv:
            return "?"
        return " ".join([Path(str(self.argv[0])).name, *map(str, self.argv[1:])])[:80]


def _read_holder(store: Path) -> _Holder | None:
    try:
        data = json.loads(_holder_path(store).read_text(encoding="utf-8"))
        token = data.get("token")
        return _Holder(
            int(data["pid"]),
            str(data["host"]),
            float(data["since"]),
            list(data["argv"]),
            str(token) if token is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _in_use(store: Path, timeout: float) -> StoreError:
    holder = _read_holder(store)
    who = holder.describe() if holder else "another process"
    return StoreError(
        f"{chroma_dir(store)}: memory store is in use by {who}; waited {timeout:g} s. "
        "Let it finish, or run `vidsleuth memory serve` and set VIDSLEUTH_CHROMA_URL "
        "so many processes can share it"
    )


def _note_holder(store: Path, **extra: Any) -> str | None:
    """Note who holds the lock now, with a fresh token; return the token (None if unwritten)."""
    token = uuid.uuid4().hex
    try:
        holder_file = _holder_path(store)
        tmp = holder_file.with_name(f".{holder_file.name}.{os.getpid()}")
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "argv": sys.argv[:4],
            "token": token,
            **extra,
        }
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, holder_file)
    except OSError:
        return None  # messages lose the pid and the next access reopens; the lock still holds
    return token


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _take_lock(
    store: Path, timeout: float, on_wait: Callable[[_Holder | None], None] | None = None
) -> Any:
    """The embedded store's ``flock`` (waiting up to ``timeout`` s), not yet noted.

    With ``on_wait``, a lock found taken calls ``on_wait(holder)`` once before the wait.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path(store)), thread_local=False)
    try:
        try:
            lock.acquire(timeout=0 if on_wait is not None else timeout)
        except Timeout:
            if on_wait is None:
                raise
            on_wait(_read_holder(store))
            lock.acquire(timeout=timeout)
    except Timeout:
        raise _in_use(store, timeout) from None
    except OSError as err:
        raise StoreError(f"{lock_path(store)}: cannot take the lock ({err})") from err
    return lock


def acquire_store_lock(store: Path, timeout: float) -> Any:
    """Take the embedded store's lock (waiting up to ``timeout`` s) and note who holds it.

    Refused with a :class:`StoreError` naming the holder's pid when the wait runs out.
    """
    lock = _take_lock(store, timeout)
    _note_holder(store)
    return lock


class InheritableStoreLock:
    """The store lock as one raw ``flock``ed descriptor that a child server inherits.

    A ``flock`` belongs to the open file description, so while the ``chroma run`` child keeps
    its copy of the descriptor the folder stays locked, even when this process is killed first
    (the lock is never released while a child still serves the folder).  It conflicts with the
    :func:`acquire_store_lock` of embedded clients (the same ``flock`` on the same file).  Only
    :meth:`close` releases it, and only once no child holds the descriptor any more (never
    ``LOCK_UN``, which would unlock the child's copy too).
    """

    def __init__(self, store: Path, timeout: float) -> None:
        import fcntl

        path = lock_path(store)
        try:
            self.fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise StoreError(f"{path}: cannot take the lock ({err.strerror or err})") from err
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.close()
                    raise _in_use(store, timeout) from None
                time.sleep(0.1)
            except OSError as err:
                self.close()
                raise StoreError(f"{path}: cannot take the lock ({err.strerror or err})") from err
        _note_holder(store)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _die_with_parent() -> Any:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux).

    ``prctl(PR_SET_PDEATHSIG)`` survives the ``exec`` of ``chroma``; if the parent is already
    gone when the hook runs (killed between fork and hook), the child exits at once.  The signal
    follows the *thread* that started the child, so start servers from a long-lived thread.
    None where prctl is unavailable (the process group and :meth:`ChromaServer.stop` remain).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sig = int(signal.SIGTERM)

    def hook() -> None:
        prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return hook


class ChromaStore:
    """One connection to the memory's Chroma database; use as a context manager.

    In embedded mode every read and write runs inside :meth:`access`, which holds the store lock
    for that one batch only; between batches other processes read and write the same folder.
    Within a process, opening the same folder again shares one instance (a second ``flock`` from
    the same process would deadlock against the first), and threads take turns in :meth:`access`.
    """

    _shared: ClassVar[dict[Path, ChromaStore]] = {}
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        client: ClientAPI | None,
        *,
        where: str,
        store: Path | None,
        timeout: float = 30.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        self._client = client
        #: the folder or URL, for messages
        self.where = where
        #: the store folder in embedded mode; None for a server
        self.store = store
        self.timeout = timeout
        #: where "waiting for the store lock ..." goes (one line per holder)
        self.on_wait = on_wait or _stderr_line
        self._refs = 1
        self._collections: dict[str, Collection] = {}
        self._guard = threading.RLock()
        self._depth = 0
        self._lock: Any = None
        #: the token this process noted at its last take of the lock (None: reopen next time)
        self._token: str | None = None
        self._waited_for: set[int | None] = set()

    @property
    def embedded(self) -> bool:
        return self.store is not None

    @property
    def client(self) -> ClientAPI:
        """The Chroma client; in embedded mode use it only inside :meth:`access`."""
        self._require_open()
        if self._client is None:
            raise StoreError(f"{self.where}: memory store used after it was closed")
        return self._client

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def from_settings(cls, settings: Settings) -> ChromaStore:
        """Open the store that ``settings`` names (server if ``chroma_url`` is set)."""
        if settings.chroma_url:
            return cls.open_server(settings.chroma_url)
        return cls.open_embedded(settings.store, timeout=settings.chroma_lock_timeout)

    @classmethod
    def open_embedded(
        cls,
        store: Path,
        *,
        timeout: float = 30.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> ChromaStore:
        """Open ``<store>/chroma``: the lock is taken once (the format checked, the client
        opened) and released; every later use takes it again per batch (see :meth:`access`).

        ``timeout``: seconds one access waits for another process's batch before it is refused.
        """
        store = Path(store).expanduser().resolve()
        with cls._shared_guard:
            shared = cls._shared.get(store)
            if shared is not None:
                shared._refs += 1
                return shared
            try:
                store.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"{store}: cannot create the store folder ({err})") from err
            inst = cls(None, where=str(chroma_dir(store)), store=store, timeout=timeout)
            if on_wait is not None:
                inst.on_wait = on_wait
            with inst.access():
                pass  # a refused format or a holder that never lets go fails here, at open
            cls._shared[store] = inst
            return inst

    @contextlib.contextmanager
    def access(self) -> Iterator[ClientAPI]:
        """Hold the store for one short batch of reads and writes; yields the client.

        Embedded: takes the store lock (re-entrant within this process) and, if another process
        held it since this one last did, reopens the client first, so nothing is read from a
        stale cache.  Do the slow work (perception, embedding, model calls) outside.  Server
        mode needs no lock: the server serialises.
        """
        self._require_open()
        if self.store is None:
            yield self.client
            return
        with self._guard:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
            try:
                yield self.client
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _acquire(self) -> None:
        assert self.store is not None
        lock = _take_lock(self.store, self.timeout, self._say_waiting)
        try:
            before = _read_holder(self.store)
            changed = before is None or before.token is None or before.token != self._token
            self._token = _note_holder(self.store)
            if changed or self._client is None:
                self._reopen()
        except BaseException:
            self._token = None
            lock.release()
            raise
        self._lock = lock

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _say_waiting(self, holder: _Holder | None) -> None:
        pid = holder.pid if holder is not None else None
        if pid in self._waited_for:
            return  # one line per holder, however many batches wait on it
        self._waited_for.add(pid)
        who = f"pid {pid} ({holder.command()})" if holder is not None else "another process"
        self.on_wait(
            f"vidsleuth: waiting for the store lock of {self.where} held by {who} "
            f"(up to {self.timeout:g} s per batch) ..."
        )

    def _reopen(self) -> None:
        """A fresh client on the folder (called with the lock held)."""
        assert self.store is not None
        self._collections.clear()
        old, self._client = self._client, None
        if old is not None:
            with contextlib.suppress(Exception):
                # the last client of a path stops Chroma's shared system for it (ClientAPI does
                # not declare close; the PersistentClient behind it has it)
                getattr(old, "close", lambda: None)()
        folder = chroma_dir(self.store)
        check_format(folder, create=True)
        import chromadb

        self._client = chromadb.PersistentClient(path=str(folder), settings=_chroma_settings())

    @classmethod
    def open_server(cls, url: str) -> ChromaStore:
        """Connect to a ``chroma run`` server; a server that is down is refused naming the URL."""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise StoreError(f"chroma_url {url!r}: expected http://HOST:PORT")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        import chromadb

        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=port,
                ssl=parsed.scheme == "https",
                settings=_chroma_settings(),
            )
            client.heartbeat()
        except Exception as err:  # chromadb raises ValueError / httpx errors for a dead server
            raise StoreError(
                f"Chroma server at {url} is not reachable ({err}); start it with "
                "`vidsleuth memory serve` or unset VIDSLEUTH_CHROMA_URL"
            ) from None
        inst = cls(client, where=url, store=None)
        inst._check_server_format()
        return inst

    def _check_server_format(self) -> None:
        col = self.client.get_or_create_collection(
            META_COLLECTION, embedding_function=None, metadata={"format": FORMAT_VERSION}
        )
        found = int((col.metadata or {}).get("format", FORMAT_VERSION))
        if found > FORMAT_VERSION:
            raise StoreError(
                f"Chroma server at {self.where}: memory format {found} is newer than this "
                f"vidsleuth reads (up to {FORMAT_VERSION}); upgrade vidsleuth"
            )

    # ----------------------------------------------------------------------------- use
    def collection(self, name: str, *, dim: int, space_id: str) -> Collection:
        """Get or create a cosine collection for vectors of ``dim`` from embedder ``space_id``.

        A collection is bound to one embedding space; asking for it with another dimension or
        embedder is refused rather than mixed.
        """
        with self.access() as client:
            col = self._collections.get(name)
            if col is None:
                col = client.get_or_create_collection(
                    name,
                    embedding_function=None,  # vectors always come from our own Embedder
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"dim": dim, "space": space_id, "format": FORMAT_VERSION},
                )
                self._collections[name] = col
        meta = col.metadata or {}
        if meta.get("dim") != dim or meta.get("space") != space_id:
            raise StoreError(
                f"{self.where}: collection {name} holds {meta.get('space')} vectors of "
                f"dim {meta.get('dim')}, not {space_id} of dim {dim}"
            )
        return col

    def existing(self, name: str) -> Collection | None:
        """The collection called ``name`` if it exists (never creates one)."""
        with self.access() as client:
            if name in self._collections:
                return self._collections[name]
            try:
                col = client.get_collection(name, embedding_function=None)
            except Exception:  # NotFoundError in 1.x, ValueError in older releases
                return None
            self._collections[name] = col
            return col

    def collection_names(self) -> list[str]:
        """Names of every vidsleuth collection (the format marker excluded)."""
        with self.access() as client:
            names = [c.name for c in client.list_collections()]
        return sorted(n for n in names if n != META_COLLECTION)

    def drop(self, name: str) -> None:
        """Delete a collection and everything in it."""
        with self.access() as client:
            self._collections.pop(name, None)
            with contextlib.suppress(Exception):
                client.delete_collection(name)

    def _require_open(self) -> None:
        if self._refs <= 0:
            raise StoreError(f"{self.where}: memory store used after it was closed")

    def close(self) -> None:
        """Release this handle; the last one closes the Chroma client.

        Nothing is pending then (every write finished inside its :meth:`access`), so closing
        needs no lock.
        """
        with ChromaStore._shared_guard:
            if self._refs <= 0:
                return
            self._refs -= 1
            if self._refs > 0:
                return
            if self.store is not None:
                ChromaStore._shared.pop(self.store, None)
        with self._guard:
            self._collections.clear()
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    getattr(client, "close", lambda: None)()  # not every Chroma client has it
            self._depth = 0
            self._release()

    def __enter__(self) -> ChromaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def open_memory_store(settings: Settings) -> Iterator[ChromaStore]:
    """``with open_memory_store(settings) as cs:`` — the store ``settings`` names, closed after."""
    cs = ChromaStore.from_settings(settings)
    try:
        yield cs
    finally:
        cs.close()


# --------------------------------------------------------------------------------- server
def chroma_executable() -> str | None:
    """The ``chroma`` CLI installed beside this Python, else one on ``PATH``."""
    beside = Path(sys.executable).parent / "chroma"
    if beside.exists():
        return str(beside)
    return shutil.which("chroma")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for tests and ``serve --port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """A ``chroma run`` subprocess on loopback, for tests and ``vidsleuth memory serve``.

    The server is the one process that touches ``<store>/chroma``, so it holds the embedded
    store lock while it runs: nobody can open the same folder in embedded mode beside it.
    """

    def __init__(self, store: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = Path(store).expanduser().resolve()
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store / "chroma-server.log"

    def start(self, *, timeout: float = 60.0, lock_timeout: float = 5.0) -> ChromaServer:
        """Start the server and wait until it answers a heartbeat.

        The child runs in its own process group, inherits the store lock and gets SIGTERM when
        this process dies (even by SIGKILL): it never outlives us, and the folder never looks
        free while it still serves.
        """
        exe = chroma_executable()
        if exe is None:
            raise StoreError("the `chroma` command is not installed (pip install chromadb)")
        try:
            self.store.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"{self.store}: cannot create the store folder ({err})") from err
        self._lock = InheritableStoreLock(self.store, lock_timeout)
        try:
            folder = chroma_dir(self.store)
            check_format(folder, create=True)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [
                        exe,
                        "run",
                        "--path",
                        str(folder),
                        "--host",
                        self.host,
                        "--port",
                        str(self.port),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    pass_fds=(self._lock.fd,),
                    process_group=0,
                    preexec_fn=_die_with_parent(),
                )
            _note_holder(self.store, server_pid=self.proc.pid, url=self.url)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise StoreError(
                    f"chroma run exited with code {self.proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet: poll again until the timeout
            time.sleep(0.2)
        raise StoreError(f"Chroma server at {self.url} did not start within {timeout:g} s")

    def wait(self) -> int:
        """Block until the server exits (``vidsleuth memory serve`` runs in the foreground)."""
        assert self.proc is not None
        return self.proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL) and release the store lock."""
        import signal

        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.proc = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> ChromaServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
