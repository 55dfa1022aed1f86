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
    settings: Any = None  # vidsleuth.agent.config.Settings, when the CLI runs it
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
        )


def make_random(context: MethodContext) -> Method:
    return RandomChoice(seed=context.seed)


def make_always_a(context: MethodContext) -> Method:
    return AlwaysFirst()


# name -> "package.module:factory".  The single-pass VLM baseline and the agent add lines here.
METHODS: dict[str, str] = {
    "random": "vidsleuth.evals.methods:make_random",
    "always-a": "vidsleuth.evals.methods:make_always_a",
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
