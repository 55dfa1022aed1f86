"""The Python face of the agent: ``VideoAgent(config).ask(video, question, options) -> Answer``.

A *session* is a LangGraph thread checkpointed with ``SqliteSaver`` in ``<store>/sessions.sqlite``.
Every step of every question is saved, so a session is resumable by id from another process (a
killed or paused question continues with :meth:`VideoAgent.resume`, a new question with
``ask(..., session=id)``), and the session channels of the state (``notes``, ``history``) carry
what earlier questions found into later ones.  Heavy libraries load on first use only.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from vidsleuth.errors import ConfigError, ModelError, VidsleuthError
from vidsleuth.settings import Settings

if TYPE_CHECKING:
    from vidsleuth.memory.store import Store, VideoRecord
    from vidsleuth.tools.base import Usage
    from vidsleuth.tools.models.base import ChatModel
    from vidsleuth.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
StepCallback = Callable[[str, dict[str, Any]], None]
PauseCallback = Callable[[dict[str, Any]], bool]
Progress = Callable[[str, int, int], None]


class Evidence(BaseModel):
    """A moment that supports the answer."""

    t_start: float
    t_end: float
    why: str = ""


class Answer(BaseModel):
    """The result of one question: the answer, how sure, where it was seen, why the agent
    stopped, what it did (trace) and what it spent (cost)."""

    question: str
    options: list[str] = Field(default_factory=list)
    answer: str = Field("", description="the option letter when options were given")
    answer_text: str = ""
    confidence: float = 0.0
    evidence: list[Evidence] = Field(default_factory=list)
    stop_reason: str = ""
    answered_by: str = Field(
        "none",
        description="model, arithmetic (a count, order or time window computed on located "
        "moments from the model's reading of the question), rule (text match, no model reply) "
        "or none",
    )
    tools_used: dict[str, int] = Field(default_factory=dict, description="tool name -> calls")
    trace: list[dict[str, Any]] = Field(default_factory=list)
    cost: dict[str, Any] = Field(default_factory=dict)
    session_id: str = ""
    video_id: str = ""

    def as_json(self) -> dict[str, Any]:
        """The ``vidsleuth ask --json`` document."""
        return {
            "answer": self.answer,
            "answer_text": self.answer_text,
            "confidence": self.confidence,
            "evidence": [e.model_dump() for e in self.evidence],
            "stop_reason": self.stop_reason,
            "answered_by": self.answered_by,
            "tools_used": self.tools_used,
            "cost": self.cost,
            "session_id": self.session_id,
            "video_id": self.video_id,
        }


def _plain(update: Any) -> dict[str, Any]:
    """A node's update as plain values (``Overwrite(x)`` -> ``x``) for step callbacks."""
    from langgraph.types import Overwrite

    return {k: v.value if isinstance(v, Overwrite) else v for k, v in dict(update or {}).items()}


def sessions_path(store: str | Path) -> Path:
    return Path(store) / "sessions.sqlite"


class VideoAgent:
    """Investigates videos to answer questions; one instance may serve many questions.

    ``chat`` and ``registry`` default to the configured chat model (loaded on the first question)
    and the built-in tools plus plug-ins.  ``checkpoint=False`` keeps sessions in memory only.
    ``index=False`` skips indexing on demand (the video must already be in the store).
    """

    def __init__(
        self,
        config: Settings | None = None,
        *,
        chat: ChatModel | None = None,
        registry: ToolRegistry | None = None,
        store: Store | None = None,
        checkpoint: bool = True,
        index: bool = True,
        resources: dict[str, Any] | None = None,
    ) -> None:
        self.settings = config or Settings()
        self._chat = chat
        self._registry = registry
        self._store = store
        self._own_store = store is None
        self._checkpoint = checkpoint
        self._index = index
        self.resources: dict[str, Any] = resources if resources is not None else {}
        self._graph: Any = None
        self._saver: Any = None
        self._conn: sqlite3.Connection | None = None
        self.session_id: str | None = None
        self.last_usage: Usage | None = None
        self.last_prepare: dict[str, Any] | None = None  # what the last indexing on demand did

    # ------------------------------------------------------------------------- handles
    @property
    def store(self) -> Store:
        if self._store is None:
            from vidsleuth.memory.store import Store

            self._store = Store.open(self.settings.store)
        return self._store

    @property
    def registry(self) -> ToolRegistry:
        if self._registry is None:
            from vidsleuth.tools.registry import default_registry

            self._registry = default_registry()
        return self._registry

    @property
    def chat(self) -> ChatModel:
        if self._chat is None:
            from vidsleuth.tools.models.factory import load_chat_model

            self._chat = load_chat_model(self.settings)
        return self._chat

    @property
    def graph(self) -> Any:
        if self._graph is None:
            from vidsleuth.graphs.build import build_graph

            if self._checkpoint:
                from langgraph.checkpoint.sqlite import SqliteSaver

                path = sessions_path(self.store.root)
                self._conn = sqlite3.connect(path, check_same_thread=False, timeout=60.0)
                self._saver = SqliteSaver(self._conn)
            else:
                from langgraph.checkpoint.memory import InMemorySaver

                self._saver = InMemorySaver()
            self._graph = build_graph(self._saver)
        return self._graph

    def close(self) -> None:
        mem = self.resources.pop("memory", None)
        if mem is not None:
            mem["chroma"].close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._own_store and self._store is not None:
            self._store.close()
            self._store = None
        self._graph = None

    def __enter__(self) -> VideoAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- videos
    def memory(self) -> dict[str, Any]:
        """The memory handles (Chroma, embedder, episodic/session/semantic), opened once."""
        if "memory" not in self.resources:
            from vidsleuth.tools.builtin import open_memory

            self.resources["memory"] = open_memory(self.settings)
        return self.resources["memory"]

    def video(self, video: str | Path, *, progress: Progress | None = None) -> VideoRecord:
        """The store record of ``video`` (a path, or the id of a stored video), indexing a path on
        demand so the coarse index exists before the first question (``Settings.ask_index``:
        the quick pass on a new video, see :mod:`vidsleuth.agent.indexing`)."""
        from vidsleuth.memory.store import check_video, check_video_path

        p = Path(video)
        if not p.exists():
            key = str(video).strip()
            if not key or not (self._store is not None or Path(self.settings.store).is_dir()):
                check_video_path(p)  # the clear "no such file" error; no store is created
            rec = self.store.video(key)
            if rec is None:
                matches = [r for r in self.store.videos() if r.video_id.startswith(key)]
                if len(matches) != 1:
                    check_video_path(p)  # raises the clear "no such file" error
                rec = matches[0]
            return rec
        check_video(p)  # a bad file is refused before memory is opened or anything written
        if self._index:
            from vidsleuth.agent.indexing import prepare_video

            memory = self.memory() if "search_memory" in self.registry else None
            info = prepare_video(
                self.store, p, self.settings, memory, progress, mode=self.settings.ask_index
            )
            self.last_prepare = info
            rec = self.store.video(info["video_id"])
            assert rec is not None
            return rec
        return self.store.register(p, full_hash=self.settings.full_hash)

    # ------------------------------------------------------------------------- asking
    def _deps(self, record: VideoRecord) -> Any:
        from vidsleuth.graphs.deps import AgentDeps
        from vidsleuth.tools.base import Budget, ToolContext, Usage

        s = self.settings
        budget = Budget(
            max_rounds=s.agent_max_rounds,
            max_frames=s.agent_max_frames,
            max_tokens=s.agent_max_tokens,
            max_seconds=s.agent_max_seconds,
        )
        try:
            chat = self.chat
        except VidsleuthError:
            raise
        except Exception as err:  # a model that cannot load is one clear line, before any work
            raise ModelError(
                f"the chat model {s.chat_model!r} ({s.chat_backend}) could not be loaded: "
                f"{type(err).__name__}: {err}"
            ) from err
        ctx = ToolContext(
            settings=s,
            store=self.store,
            record=record,
            chat=chat,
            budget=budget,
            usage=Usage(),
            resources=self.resources,
        )
        if self.registry.problems:
            log.warning("tool plug-ins skipped: %s", "; ".join(self.registry.problems))
        return AgentDeps(ctx=ctx, registry=self.registry)

    def _config(self, session_id: str) -> dict[str, Any]:
        limit = 40 + 12 * self.settings.agent_max_rounds
        return {"configurable": {"thread_id": session_id}, "recursion_limit": limit}

    def session_state(self, session_id: str) -> dict[str, Any]:
        """The checkpointed state of a session ({} when unknown)."""
        snap = self.graph.get_state(self._config(session_id))
        return dict(snap.values or {})

    def ask(
        self,
        video: str | Path,
        question: str,
        options: Sequence[str] | None = None,
        *,
        session: str | None = None,
        on_step: StepCallback | None = None,
        on_pause: PauseCallback | None = None,
        progress: Progress | None = None,
    ) -> Answer:
        """Answer ``question`` about ``video`` (a path or a stored video id).

        ``session`` continues that session (what its earlier questions learned is used); without
        it the agent's current session continues, or a new one starts.  ``on_step(node, update)``
        sees every step as it happens; ``on_pause(payload) -> bool`` is asked before expensive
        steps when ``agent_confirm_expensive`` is set (no callback: go ahead).
        """
        if not question.strip():
            raise ConfigError("the question is empty")
        from vidsleuth.options import check_options

        opts = check_options([str(o) for o in options] if options else None)
        record = self.video(video, progress=progress)
        sid = session or self.session_id or uuid.uuid4().hex[:12]
        known = self.session_state(sid)
        if known.get("video_id") and known["video_id"] != record.video_id:
            raise ConfigError(
                f"session {sid} is about video {known['video_id']}, not {record.video_id}; "
                "start a new session for another video"
            )
        self.session_id = sid
        inp = {"question": question.strip(), "options": opts, "video_id": record.video_id}
        return self._run(inp, record, sid, on_step, on_pause)

    def resume(
        self,
        session_id: str,
        *,
        on_step: StepCallback | None = None,
        on_pause: PauseCallback | None = None,
    ) -> Answer | None:
        """Finish the question a session was working on when it was interrupted or killed; None
        when that session has nothing unfinished."""
        snap = self.graph.get_state(self._config(session_id))
        if not snap.values:
            raise ConfigError(f"no session {session_id!r} in {sessions_path(self.store.root)}")
        if not snap.next:
            return None
        record = self.store.video(snap.values["video_id"])
        if record is None:
            raise ConfigError(
                f"session {session_id}: its video {snap.values['video_id']} left the store"
            )
        self.session_id = session_id
        return self._run(None, record, session_id, on_step, on_pause)

    def _run(
        self,
        inp: dict[str, Any] | None,
        record: VideoRecord,
        sid: str,
        on_step: StepCallback | None,
        on_pause: PauseCallback | None,
    ) -> Answer:
        from langgraph.types import Command

        from vidsleuth.tools.models.prompt_cache import (
            persistent_prompt_cache,
            prompt_cache_path,
            prompt_cache_seed,
        )

        deps = self._deps(record)
        cfg = self._config(sid)
        t0 = time.perf_counter()
        payload: Any = inp
        chat = deps.ctx.chat
        # The model's prompt cache for this video outlives the process: the stable prompt
        # prefix (system text, tool list) of the first question in a new process starts warm.
        # A video never asked about starts from another video's state: the system text and the
        # tool list, which come first in every prompt, are already evaluated there.
        cache = seed = None
        if chat is not None:
            cache = prompt_cache_path(self.store.root, record.video_id, chat)
            seed = prompt_cache_seed(self.store.root, record.video_id, chat)
        with persistent_prompt_cache(chat, cache, seed=seed):
            while True:
                interrupted: list[Any] = []
                for chunk in self.graph.stream(payload, cfg, context=deps, stream_mode="updates"):
                    for name, update in chunk.items():
                        if name == "__interrupt__":
                            interrupted.extend(update)
                        elif on_step is not None:
                            on_step(name, _plain(update))
                if not interrupted:
                    break
                ask = interrupted[0].value if hasattr(interrupted[0], "value") else interrupted[0]
                ok = True if on_pause is None else bool(on_pause(ask))
                payload = Command(resume=ok)
        state = self.session_state(sid)
        self.last_usage = deps.ctx.usage
        used: dict[str, int] = {}
        for t in state.get("trace", []):
            if "tool" in t and "error" not in t and "skipped" not in t and "decision" not in t:
                used[t["tool"]] = used.get(t["tool"], 0) + 1
        cost = deps.ctx.usage.as_dict()
        cost["seconds"] = round(time.perf_counter() - t0, 3)
        return Answer(
            question=state.get("question", ""),
            options=list(state.get("options") or []),
            answer=state.get("answer", ""),
            answer_text=state.get("answer_text", ""),
            confidence=float(state.get("confidence", 0.0)),
            evidence=[Evidence(**e) for e in state.get("evidence", [])],
            stop_reason=state.get("stop_reason", ""),
            answered_by=state.get("answered_by", "none") or "none",
            tools_used=used,
            trace=list(state.get("trace", [])),
            cost=cost,
            session_id=sid,
            video_id=record.video_id,
        )
