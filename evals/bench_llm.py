"""LLM benchmark: one multiple-choice prompt of about 1,500 tokens, answered in schema-valid JSON.

The issue's goal is an answer in under 20 s on this 2-core machine.  The prompt has the shape the
agent sends: system text, 22 timestamped observation lines (one of which answers the question),
then the question and options last.  Each model is timed three ways:

* ``cold``: first call after loading (the whole prompt is evaluated);
* ``warm``: the same observations with a reworded question (llama.cpp reuses the cached prefix);
* plus llama.cpp's own prompt and generation speeds (tokens/s).

It also records whether the chosen letter and the cited time are right.  Run:
``python -m vidsleuth.evals.bench_llm [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

OPTIONS = ["blue", "red", "white", "black"]
ANSWER = "B"
ANSWER_TIME = 848.0
QUESTION = "What colour was the car that drove into the warehouse?"
QUESTION_REWORDED = "Which colour is the car that entered the warehouse?"

_PLACES = ["parking lot", "loading dock", "office corridor", "street corner", "warehouse gate"]
_OBJECTS = ["person 0.91", "bicycle 0.64", "truck 0.72", "dog 0.58", "chair 0.66", "car 0.81"]
_TEXT = ["EXIT", "DOCK 3", "NO PARKING", "WAREHOUSE 17", "STAFF ONLY", "LOT B"]


class MCAnswer(BaseModel):
    """The reply schema: a letter, the time of the supporting observation, one short reason."""

    answer: Literal["A", "B", "C", "D"]
    time_s: float = Field(description="time in seconds of the observation that supports the answer")
    reason: str = Field(description="one short sentence")


def observations(n: int = 22) -> list[str]:
    """Deterministic observation lines (~1,500 prompt tokens in all), 48 s apart, with the
    answer in one of them and a decoy (a white car) in another."""
    lines = []
    for i in range(n):
        t = 32.0 + 48.0 * i
        place = _PLACES[i % len(_PLACES)]
        objs = ", ".join(_OBJECTS[(i + k) % len(_OBJECTS)] for k in range(3))
        text = _TEXT[(i * 5) % len(_TEXT)]
        speech = f'"we should check the {place} again before {8 + i % 4} o\'clock"'
        lines.append(
            f"[{t:.1f}s] scene: {place}; objects: {objs}; on-screen text: {text}; speech: {speech}"
        )
    # The one line that answers the question; a decoy white car elsewhere.
    lines[17] = (
        f"[{ANSWER_TIME:.1f}s] scene: warehouse gate; objects: car 0.93, person 0.71; "
        "on-screen text: WAREHOUSE 17; caption: a red car drives through the open warehouse door"
    )
    lines[5] = (
        "[272.0s] scene: street corner; objects: car 0.88, truck 0.61; on-screen text: LOT B; "
        "caption: a white car is parked across the street"
    )
    return lines


def run_model(name: str, *, threads: int, store: str | None) -> dict[str, Any]:
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import load_chat_model
    from vidsleuth.tools.models.testing import mc_messages

    flags: dict[str, Any] = {"chat_model": name, "llm_threads": threads, "chat_backend": "llamacpp"}
    if store:
        flags["store"] = store
    settings = Settings().with_overrides(**flags)
    t0 = time.perf_counter()
    model = load_chat_model(settings)  # assembles + verifies (cached after the first run)
    t_verify = time.perf_counter() - t0
    model._load()  # type: ignore[attr-defined]
    t_load = time.perf_counter() - t0 - t_verify
    obs = observations()
    result: dict[str, Any] = {
        "model": name,
        "threads": threads,
        "verify_s": t_verify,
        "load_s": t_load,
    }
    for label, question in (("cold", QUESTION), ("warm", QUESTION_REWORDED)):
        res = model.chat(mc_messages(obs, question, OPTIONS), max_tokens=96, schema=MCAnswer)
        timings = getattr(model, "last_timings", {})
        parsed = res.parsed if isinstance(res.parsed, MCAnswer) else None
        result[label] = {
            "seconds": round(res.usage.seconds, 2),
            "prompt_tokens": res.usage.prompt_tokens,
            "cached_tokens": res.usage.cached_tokens,
            "completion_tokens": res.usage.completion_tokens,
            "prompt_tok_per_s": round(timings.get("prompt_per_second", 0.0), 1),
            "gen_tok_per_s": round(timings.get("predicted_per_second", 0.0), 1),
            "retries": res.usage.retries,
            "failures": res.usage.failures,
            "answer": parsed.answer if parsed else None,
            "time_s": parsed.time_s if parsed else None,
            "letter_ok": bool(parsed and parsed.answer == ANSWER),
            "time_ok": bool(parsed and abs(parsed.time_s - ANSWER_TIME) < 1.0),
            "reason": parsed.reason if parsed else res.text[:200],
        }
    model.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--store", default=None, help="store folder (model cache under models/)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = [run_model(m, threads=args.threads, store=args.store) for m in args.models.split(",")]
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return 0
    for r in results:
        print(
            f"{r['model']}  threads={r['threads']}  "
            f"verify {r['verify_s']:.1f}s  load {r['load_s']:.1f}s"
        )
        for label in ("cold", "warm"):
            c = r[label]
            print(
                f"  {label}: {c['seconds']:6.2f}s  prompt {c['prompt_tokens']} tok "
                f"({c['cached_tokens']} cached, {c['prompt_tok_per_s']} tok/s)  "
                f"gen {c['completion_tokens']} tok ({c['gen_tok_per_s']} tok/s)  "
                f"answer={c['answer']} t={c['time_s']} letter_ok={c['letter_ok']} "
                f"time_ok={c['time_ok']} retries={c['retries']} failures={c['failures']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
