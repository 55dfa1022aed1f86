"""One agent behind a server: what the MCP server and the HTTP API share.

Every use of the store, the memory (Chroma) and the models runs on one worker thread, in the
order requests arrive: the embedded store and Chroma tolerate one writer only, SQLite handles
belong to the thread that opened them, and one CPU gains nothing from parallel questions.  Long
work (indexing, a question) runs as a :class:`Job` whose progress events a caller can poll or
stream while it runs; answers are kept under ``<store>/answers/<id>.json`` so their evidence
pages outlive the server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vidsleuth.errors import ConfigError, VidsleuthError
from vidsleuth.settings import Settings

if TYPE_CHECKING:
    from vidsleuth.agent.session import Answer, VideoAgent
    from vidsleuth.memory.store import VideoRecord
    from vidsleuth.tools.models.base import ChatModel
    from vidsleuth.tools.registry import ToolRegistry

T = TypeVar("T")
Progress = Callable[[str, int, int], None]
#: jobs kept in memory (oldest finished ones are dropped first)
MAX_JOBS = 200


@dataclass
class Job:
    """Work that runs on the service's worker: its state, progress events and result."""

    id: str
    kind: str
    target: str
    status: str = "queued"  # queued, running, done, failed
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append({"seq": len(self.events), "t": round(time.time(), 3), **event})

    def events_since(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events[seq:])

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed")

    def as_dict(self, *, events: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
            "events": len(self.events),
        }
        last = self.events_since(max(0, len(self.events) - 1))
        if last:
            out["last_event"] = last[0]
        if events:
            out["events"] = self.events_since(0)
        return out


def video_summary(rec: VideoRecord) -> dict[str, Any]:
    """What the servers list about a stored video."""
    p = rec.probe
    return {
        "video_id": rec.video_id,
        "path": rec.path if rec.paths else "",
        "duration_s": p.duration_s,
        "width": p.width,
        "height": p.height,
        "fps": p.fps,
        "has_audio": p.has_audio,
        "size_bytes": rec.size,
        "added": rec.added,
    }


class VideoService:
    """Index, ask, search and list through one :class:`~vidsleuth.agent.session.VideoAgent`.

    ``chat`` and ``registry`` are handed to the agent (defaults: the configured chat model and
    the built-in tools plus plug-ins).  Blocking methods wait for the worker; ``start_*`` return
    a :class:`Job` at once.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        chat: ChatModel | None = None,
        registry: ToolRegistry | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._chat = chat
        self._registry = registry
        self._agent: VideoAgent | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidsleuth-agent")
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()

    # ------------------------------------------------------------------------- plumbing
    @property
    def answers_dir(self) -> Path:
        return Path(self.settings.store) / "answers"

    def _agent_here(self) -> VideoAgent:
        """The agent, created on (and only used from) the worker thread."""
        if self._agent is None:
            from vidsleuth.agent.session import VideoAgent

            self._agent = VideoAgent(self.settings, chat=self._chat, registry=self._registry)
        return self._agent

    def submit(self, fn: Callable[[VideoAgent], T]) -> Future[T]:
        """Run ``fn(agent)`` on the worker thread."""
        return self._worker.submit(lambda: fn(self._agent_here()))

    def call(self, fn: Callable[[VideoAgent], T]) -> T:
        return self.submit(fn).result()

    def close(self) -> None:
        """Finish queued work, then close the agent (store, memory, sessions)."""

        def shut(agent: VideoAgent) -> None:
            agent.close()

        if self._agent is not None:
            self.submit(shut).result()
        self._worker.shutdown(wait=True)

    def __enter__(self) -> VideoService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- jobs
    def job(self, job_id: str) -> Job | None:
        with self._jobs_lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        with self._jobs_lock:
            return list(self._jobs.values())

    def _new_job(self, kind: str, target: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, target=target)
        with self._jobs_lock:
            if len(self._jobs) >= MAX_JOBS:
                old = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.created)
                for j in old[: len(self._jobs) - MAX_JOBS + 1]:
                    del self._jobs[j.id]
            self._jobs[job.id] = job
        return job

    def _run_job(self, job: Job, work: Callable[[VideoAgent], dict[str, Any]]) -> Job:
        def run(agent: VideoAgent) -> None:
            job.status = "running"
            job.add_event({"event": "started"})
            try:
                job.result = work(agent)
                job.status = "done"
                job.add_event({"event": "done"})
            except VidsleuthError as err:
                job.error, job.status = str(err), "failed"
                job.add_event({"event": "failed", "error": job.error})
            except Exception as err:  # a bug fails this job, never the server
                job.error, job.status = f"{type(err).__name__}: {err}", "failed"
                job.add_event({"event": "failed", "error": job.error})
            finally:
                job.finished = time.time()

        self.submit(run)
        return job

    # ------------------------------------------------------------------------- videos
    @staticmethod
    def check_path(path: str | Path) -> Path:
        """The video file ``path`` resolved, or a clear error (no such file, a folder...)."""
        from vidsleuth.memory.store import check_video_path

        return check_video_path(Path(path).expanduser()).resolve()

    def index(self, path: str | Path, progress: Progress | None = None) -> dict[str, Any]:
        """Index ``path`` (frames, perception, memory); the summary of what was done."""
        p = self.check_path(path)
        return self.call(lambda agent: self._index_here(agent, p, progress))

    @staticmethod
    def _index_here(agent: VideoAgent, path: Path, progress: Progress | None) -> dict[str, Any]:
        from vidsleuth.agent.indexing import prepare_video

        memory = agent.memory() if "search_memory" in agent.registry else None
        info = prepare_video(agent.store, path, agent.settings, memory, progress)
        rec = agent.store.video(info["video_id"])
        return {**info, "video": video_summary(rec) if rec is not None else None}

    def start_index(self, path: str | Path) -> Job:
        """Index ``path`` in the background; its progress events are ``{"event": "progress",
        "stage", "done", "total"}``."""
        p = self.check_path(path)
        job = self._new_job("index", str(p))

        def progress(stage: str, done: int, total: int) -> None:
            job.add_event({"event": "progress", "stage": stage, "done": done, "total": total})

        return self._run_job(job, lambda agent: self._index_here(agent, p, progress))

    def videos(self) -> list[dict[str, Any]]:
        """Every stored video (read on the worker, after any indexing queued before)."""
        return self.call(lambda agent: [video_summary(r) for r in agent.store.videos()])

    def record(self, video: str) -> VideoRecord | None:
        """The stored video ``video`` (an id, a unique id prefix, or a known path)."""

        def find(agent: VideoAgent) -> VideoRecord | None:
            store = agent.store
            rec = store.video(video)
            if rec is not None:
                return rec
            matches = [r for r in store.videos() if r.video_id.startswith(video)]
            if len(matches) == 1:
                return matches[0]
            p = str(Path(video).expanduser().resolve())
            return next((r for r in store.videos() if p in r.paths), None)

        return self.call(find)

    # ------------------------------------------------------------------------- questions
    def _ask_here(
        self,
        agent: VideoAgent,
        video: str,
        question: str,
        options: Sequence[str] | None,
        session: str | None,
        on_step: Callable[[str, dict[str, Any]], None] | None = None,
        progress: Progress | None = None,
    ) -> tuple[str, Answer]:
        if session is None:
            agent.session_id = None  # a question without a session starts its own
        ans = agent.ask(
            video, question, list(options or []) or None, session=session, on_step=on_step,
            progress=progress,
        )  # fmt: skip
        answer_id = uuid.uuid4().hex[:12]
        self.answers_dir.mkdir(parents=True, exist_ok=True)
        doc = {"answer_id": answer_id, **ans.model_dump(mode="json")}
        (self.answers_dir / f"{answer_id}.json").write_text(json.dumps(doc, default=str))
        return answer_id, ans

    def ask(
        self,
        video: str,
        question: str,
        options: Sequence[str] | None = None,
        *,
        session: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[str, Answer]:
        """Answer ``question`` about ``video`` (a path, indexed on demand, or a stored id);
        returns the answer's id (for its evidence page) and the answer."""
        return self.call(
            lambda agent: self._ask_here(agent, video, question, options, session, None, progress)
        )

    def start_ask(
        self,
        video: str,
        question: str,
        options: Sequence[str] | None = None,
        *,
        session: str | None = None,
    ) -> Job:
        """Ask in the background; every step is an event ``{"event": "step", "node", "lines"}``
        and the result is the ``ask --json`` document with ``answer_id``."""
        from vidsleuth.agent.cli.ask import describe_step

        job = self._new_job("ask", question)

        def on_step(node: str, update: dict[str, Any]) -> None:
            lines = [line.strip() for line in describe_step(node, update)]
            job.add_event({"event": "step", "node": node, "lines": lines})

        def progress(stage: str, done: int, total: int) -> None:
            job.add_event({"event": "progress", "stage": stage, "done": done, "total": total})

        def work(agent: VideoAgent) -> dict[str, Any]:
            answer_id, ans = self._ask_here(
                agent, video, question, options, session, on_step, progress
            )
            return {"answer_id": answer_id, **ans.as_json()}

        return self._run_job(job, work)

    def answer(self, answer_id: str) -> Answer | None:
        """A kept answer by id (None when unknown)."""
        from vidsleuth.agent.session import Answer

        if not answer_id.isalnum():
            return None
        path = self.answers_dir / f"{answer_id}.json"
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        doc.pop("answer_id", None)
        return Answer.model_validate(doc)

    def answer_html(self, answer_id: str, video_src: str | None = None) -> str | None:
        """The evidence page of a kept answer (thumbnails from the store), or None."""
        from vidsleuth.agent.evidence_view import cited_thumbnails, render_evidence_view, tool_roles

        ans = self.answer(answer_id)
        if ans is None:
            return None

        def render(agent: VideoAgent) -> str:
            rec = agent.store.video(ans.video_id)
            spans = [(e.t_start, e.t_end) for e in ans.evidence]
            return render_evidence_view(
                ans,
                duration_s=rec.probe.duration_s if rec is not None else None,
                video_src=video_src,
                thumbnails=cited_thumbnails(agent.store, rec, spans, agent.settings),
                roles=tool_roles(agent.registry),
                video_name=Path(rec.path).name if rec is not None and rec.paths else "",
            )

        return self.call(render)

    # ------------------------------------------------------------------------- memory
    def search(self, video: str, query: str, k: int = 8) -> list[dict[str, Any]]:
        """Search what is remembered about ``video`` with the registry's search tool
        (``search_memory`` when present); best spans first."""
        if not query.strip():
            raise ConfigError("the query is empty")

        def run(agent: VideoAgent) -> list[dict[str, Any]]:
            from vidsleuth.tools.base import ToolContext

            rec = agent.video(video)
            reg = agent.registry
            names = [t.name for t in reg if t.role == "search"]
            if "search_memory" in names:
                names.remove("search_memory")
                names.insert(0, "search_memory")
            if not names:
                raise ConfigError("no search tool is registered")
            ctx = ToolContext(
                settings=agent.settings, store=agent.store, record=rec, resources=agent.resources
            )
            out = reg.call(ctx, names[0], {"query": query, "k": k})
            return [f.model_dump(mode="json") for f in getattr(out, "findings", [])]

        return self.call(run)
