"""Answering methods the runner can evaluate, found by name.

A method is built once per run by a factory ``(MethodContext) -> Method``; the method is then
called once per question as ``method(record, video_path, context) -> Prediction``.  The registry
maps names to ``package.module:factory`` strings imported on first use, so the single-pass
baseline and the agent plug in later with one line each (or users pass their own
``--method package.module:factory``) without this module importing anything heavy.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vidsleuth.errors import ConfigError
from vidsleuth.evals.registry import import_ref
from vidsleuth.evals.schema import Prediction, QARecord


@dataclass
class MethodContext:
    """Run-wide handles a method may use; never shown to a model."""

    task: str
    seed: int = 0
    settings: Any = None  # vidsleuth.settings.Settings, when the CLI runs it
    prompt_for: Callable[[QARecord], str] | None = None  # the task's prompt builder
    options: dict[str, Any] = field(default_factory=dict)


class Method(Protocol):
    name: str
    needs_video: bool

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction: ...


@dataclass
class RandomChoice:
    """Uniformly random letter, seeded per question so resumes and worker counts agree."""

    seed: int = 0
    name: str = "random"
    needs_video: bool = False

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction:
        letters = list(record.options)
        rng = random.Random(f"{self.seed}:{record.uid}")
        return Prediction(
            answer=rng.choice(letters),
            confidence=1.0 / len(letters),
            stop_reason="random",
            cost={"frames_decoded": 0, "model_calls": 0, "tokens": 0},
            answered_by="rule",
        )


@dataclass
class AlwaysFirst:
    """Always the first option ("A"): exposes answer-position bias in a benchmark's labels."""

    name: str = "always-a"
    needs_video: bool = False

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction:
        return Prediction(
            answer=next(iter(record.options)),
            confidence=1.0 / len(record.options),
            stop_reason="fixed",
            cost={"frames_decoded": 0, "model_calls": 0, "tokens": 0},
            answered_by="rule",
        )


def make_random(context: MethodContext) -> Method:
    return RandomChoice(seed=context.seed)


def make_always_a(context: MethodContext) -> Method:
    return AlwaysFirst()


def _settings(context: MethodContext) -> Any:
    if context.settings is not None:
        return context.settings
    from vidsleuth.settings import Settings

    return Settings()


def _letters(record: QARecord) -> tuple[list[str], list[str]]:
    letters = list(record.options)
    return letters, [record.options[x] for x in letters]


def _agent_letter(letters: list[str], answer: str) -> str | None:
    """The agent answers with A, B, ... by option position; map back to the record's letters."""
    from vidsleuth.options import LETTERS

    a = answer.strip().upper()
    return letters[LETTERS.index(a)] if a and a in LETTERS[: len(letters)] else None


@dataclass
class AgentMethod:
    """The product: :class:`~vidsleuth.agent.session.VideoAgent` with the configured defaults.

    ``isolated`` (the default) gives every question a fresh session and remembers nothing, so no
    question sees what another found or answered; ``shared`` keeps one session per video (what
    earlier questions found is reused, their answers shown as context) and lets confident
    answers be remembered."""

    settings: Any
    name: str = "agent"
    needs_video: bool = True
    session_modes: tuple[str, ...] = ("isolated", "shared")
    _agent: Any = None

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction:
        from vidsleuth.agent.session import VideoAgent
        from vidsleuth.graphs.stop import FEATURES

        mode = str((context.options or {}).get("session_mode", "isolated"))
        if self._agent is None:
            s = self.settings.model_copy(update={"agent_remember_answers": mode == "shared"})
            self._agent = VideoAgent(s)
        letters, texts = _letters(record)
        key = record.uid if mode != "shared" else f"video-{record.video_key}"
        sid = "eval-" + "".join(c if c.isalnum() else "-" for c in key)[-60:]
        ans = self._agent.ask(str(video_path), record.question, texts, session=sid)
        cost = dict(ans.cost)
        cost["tokens"] = cost.get("prompt_tokens", 0) + cost.get("completion_tokens", 0)
        features: dict[str, Any] = next(
            (t for t in reversed(ans.trace) if t.get("node") == "reduce"), {}
        )
        return Prediction(
            answer=_agent_letter(letters, ans.answer),
            confidence=ans.confidence,
            evidence=[(e.t_start, e.t_end) for e in ans.evidence],
            stop_reason=ans.stop_reason,
            cost=cost,
            answered_by=ans.answered_by,
            tools_used=dict(ans.tools_used),
            trace=[{"features": {k: features.get(k) for k in FEATURES}}, *ans.trace],
        )


def make_agent(context: MethodContext) -> Method:
    return AgentMethod(_settings(context))


@dataclass
class SinglePass:
    """The non-agent baseline: ``frames`` chunks evenly spaced over the video, their cached
    coarse perception (what was read, seen and heard there) in one prompt to the same chat
    model, one letter back.  No retrieval, no rounds, no zoom.  Observations come first and the
    question last, so llama.cpp reuses the observation prefix across a video's questions."""

    settings: Any
    frames: int = 16
    name: str = "single-pass"
    needs_video: bool = True
    _chat: Any = None
    _store: Any = None
    _lines: dict[str, tuple[list[str], list[tuple[float, float]]]] = field(default_factory=dict)

    def _observations(self, video_path: Path) -> tuple[list[str], list[tuple[float, float]]]:
        from vidsleuth.agent.indexing import prepare_video, stored_observations
        from vidsleuth.graphs.prompts import finding_line
        from vidsleuth.memory.indexer import chunk_plan_for
        from vidsleuth.memory.store import Store
        from vidsleuth.tools.perception.registry import parse_names

        key = str(video_path)
        if key in self._lines:
            return self._lines[key]
        s = self.settings
        if self._store is None:
            self._store = Store.open(s.store)
        info = prepare_video(self._store, video_path, s, None)
        rec = self._store.video(info["video_id"])
        chunks = chunk_plan_for(rec, s).chunks
        n = min(self.frames, len(chunks))
        picked = [chunks[int((i + 0.5) * len(chunks) / n)] for i in range(n)]
        spans = [(float(c.t_start), float(c.t_end)) for c in picked]
        names = parse_names(s.perceivers, s)
        lines = []
        for o in sorted(
            stored_observations(self._store, rec.video_id, names, s),
            key=lambda o: (o.t_start, o.kind),
        ):
            if any(o.t_start < b and o.t_end > a for a, b in spans):
                text = o.text or o.label or ""
                if text:
                    f = {"t_start": o.t_start, "t_end": o.t_end, "kind": o.kind, "text": text}
                    lines.append(finding_line(f))
        self._lines[key] = (list(dict.fromkeys(lines)), spans)
        return self._lines[key]

    def __call__(
        self, record: QARecord, video_path: Path | None, context: MethodContext
    ) -> Prediction:
        import time

        from vidsleuth.graphs import prompts
        from vidsleuth.tools.models.factory import load_chat_model

        assert video_path is not None
        t0 = time.perf_counter()
        lines, spans = self._observations(video_path)
        if self._chat is None:
            self._chat = load_chat_model(self.settings)
        letters, texts = _letters(record)
        msgs = [
            {"role": "system", "content": prompts.SYSTEM},
            {
                "role": "user",
                "content": f"Evidence at {len(spans)} evenly spaced moments of the video:\n"
                + prompts.data_block(lines[:120])
                + f"\n\n{prompts.question_block(record.question, texts)}\n\n"
                "Which option is right? Give the option letter, your confidence (0-1) and the "
                "time in seconds of the supporting observation.",
            },
        ]
        res = self._chat.chat(
            msgs, max_tokens=96, temperature=0.0, schema=prompts.choice_schema(len(texts))
        )
        u = res.usage
        answer = None
        conf = None
        evidence: list[tuple[float, float]] = []
        if res.ok and res.parsed is not None:
            answer = _agent_letter(letters, str(res.parsed.answer))
            conf = float(res.parsed.confidence)
            t = float(res.parsed.time_s)
            evidence = [sp for sp in spans if sp[0] - 1 <= t <= sp[1] + 1][:1]
        return Prediction(
            answer=answer,
            confidence=conf,
            evidence=evidence,
            stop_reason="single_pass" if answer else "unparseable",
            answered_by="model" if answer else "none",
            cost={
                "frames_decoded": 0,
                "model_calls": 1,
                "tokens": u.prompt_tokens + u.completion_tokens,
                "seconds": round(time.perf_counter() - t0, 3),
            },
            trace=[{"lines": len(lines), "chunks": spans, "reply": res.text[:300]}],
        )


def make_single_pass(context: MethodContext) -> Method:
    frames = int(context.options.get("frames", 16)) if context.options else 16
    return SinglePass(_settings(context), frames=frames)


# name -> "package.module:factory"; users pass their own as ``--method package.module:factory``.
METHODS: dict[str, str] = {
    "random": "vidsleuth.evals.methods:make_random",
    "always-a": "vidsleuth.evals.methods:make_always_a",
    "agent": "vidsleuth.evals.methods:make_agent",
    "single-pass": "vidsleuth.evals.methods:make_single_pass",
    "locate-rules": "vidsleuth.evals.locate_rules:make_locate_rules",
}


def method_names() -> list[str]:
    return sorted(METHODS)


def build_method(name: str, context: MethodContext) -> Method:
    """The method called ``name`` (case-insensitive) or given as ``package.module:factory``."""
    ref = METHODS.get(name.lower()) or (name if ":" in name else None)
    if ref is None:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(method_names())}")
    factory = import_ref(ref, where=f"method {name!r}: ")
    method = factory(context)
    if not callable(method):
        raise ConfigError(f"method {name!r}: factory returned a non-callable")
    return method
