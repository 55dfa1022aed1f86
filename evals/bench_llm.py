"""LLM benchmark: one multiple-choice prompt of about 1,500 tokens, answered in schema-valid JSON.

The issue's goal is an answer in under 20 s on this 2-core machine.  The prompt has the shape the
agent sends: system text, 22 timestamped observation lines (one of which answers the question),
then the question and options last.  Each model is timed three ways:

* ``cold``: first call after loading (the whole prompt is evaluated);
* ``warm``: the same observations with a reworded question (llama.cpp reuses the cached prefix);
* ``restored``: a *new process* that restores the prompt cache the first one saved
  (:mod:`vidsleuth.tools.models.prompt_cache`, llama.cpp slot save/restore) and asks a third
  wording: what the first question of a new ``vidsleuth ask`` costs once the cache persists;
* plus llama.cpp's own prompt and generation speeds (tokens/s).

Seconds are printed with their ratio to the ``cold`` call of the same invocation (same machine
load).  The restored call's seconds exclude loading the model (``load_s``) and the restore itself
(``restore_s``), which are reported beside it.

It also records whether the chosen letter and the cited time are right.  Run:
``python -m vidsleuth.evals.bench_llm [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--json]
[--no-restore] [--store DIR]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

OPTIONS = ["blue", "red", "white", "black"]
ANSWER = "B"
ANSWER_TIME = 848.0
QUESTION = "What colour was the car that drove into the warehouse?"
QUESTION_REWORDED = "Which colour is the car that entered the warehouse?"
QUESTION_RESTORED = "What colour of car went into the warehouse?"

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


def _load_model(name: str, *, threads: int, store: str | None) -> tuple[Any, float, float]:
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import load_chat_model

    flags: dict[str, Any] = {"chat_model": name, "llm_threads": threads, "chat_backend": "llamacpp"}
    if store:
        flags["store"] = store
    settings = Settings().with_overrides(**flags)
    t0 = time.perf_counter()
    model = load_chat_model(settings)  # assembles + verifies (cached after the first run)
    t_verify = time.perf_counter() - t0
    model._load()  # type: ignore[attr-defined]
    t_load = time.perf_counter() - t0 - t_verify
    return model, t_verify, t_load


def _ask(model: Any, question: str) -> dict[str, Any]:
    from vidsleuth.tools.models.testing import mc_messages

    res = model.chat(mc_messages(observations(), question, OPTIONS), max_tokens=96, schema=MCAnswer)
    timings = getattr(model, "last_timings", {})
    parsed = res.parsed if isinstance(res.parsed, MCAnswer) else None
    return {
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


def run_model(
    name: str, *, threads: int, store: str | None, restore: bool = True
) -> dict[str, Any]:
    from vidsleuth.tools.models.prompt_cache import save_prompt_cache

    model, t_verify, t_load = _load_model(name, threads=threads, store=store)
    result: dict[str, Any] = {
        "model": name,
        "threads": threads,
        "verify_s": t_verify,
        "load_s": t_load,
    }
    for label, question in (("cold", QUESTION), ("warm", QUESTION_REWORDED)):
        result[label] = _ask(model, question)
    if restore:
        with tempfile.TemporaryDirectory(prefix="bench-llm-cache-") as tmp:
            path = Path(tmp) / "prompt-cache.bin"
            t0 = time.perf_counter()
            saved = save_prompt_cache(model, path)
            save_s = time.perf_counter() - t0
            model.close()  # free memory and cores for the second process
            if saved:
                result["restored"] = _child_restore(name, threads=threads, store=store, path=path)
                result["restored"].update(
                    save_s=round(save_s, 3), file_mb=round(path.stat().st_size / 2**20, 1)
                )
            else:
                result["restored"] = {"error": "the prompt cache could not be saved"}
    model.close()
    cold = result["cold"]["seconds"] or float("nan")
    for label in ("cold", "warm", "restored"):
        if label in result and "seconds" in result[label]:
            result[label]["ratio_to_cold"] = round(result[label]["seconds"] / cold, 3)
    return result


def _child_restore(name: str, *, threads: int, store: str | None, path: Path) -> dict[str, Any]:
    """Run :func:`restored_call` in a fresh interpreter (nothing cached in memory)."""
    cmd = [sys.executable, "-m", "vidsleuth.evals.bench_llm", "--models", name]
    cmd += ["--threads", str(threads), "--restore-child", str(path)]
    if store:
        cmd += ["--store", store]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"child exited {proc.returncode}: {proc.stderr[-800:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def restored_call(name: str, *, threads: int, store: str | None, path: Path) -> dict[str, Any]:
    """Load the model, restore the prompt cache at ``path``, ask a third wording."""
    from vidsleuth.tools.models.prompt_cache import load_prompt_cache

    model, _, t_load = _load_model(name, threads=threads, store=store)
    t0 = time.perf_counter()
    tokens = load_prompt_cache(model, path)
    restore_s = time.perf_counter() - t0
    out = _ask(model, QUESTION_RESTORED)
    out.update(load_s=round(t_load, 2), restore_s=round(restore_s, 3), restored_tokens=tokens)
    model.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--store", default=None, help="store folder (model cache under models/)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--no-restore", action="store_true", help="skip the new-process prompt-cache restore"
    )
    ap.add_argument("--restore-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.restore_child:  # internal: the second process of the restore measurement
        out = restored_call(
            args.models.split(",")[0],
            threads=args.threads,
            store=args.store,
            path=Path(args.restore_child),
        )
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    results = [
        run_model(m, threads=args.threads, store=args.store, restore=not args.no_restore)
        for m in args.models.split(",")
    ]
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return 0
    for r in results:
        print(
            f"{r['model']}  threads={r['threads']}  "
            f"verify {r['verify_s']:.1f}s  load {r['load_s']:.1f}s"
        )
        for label in ("cold", "warm", "restored"):
            c = r.get(label)
            if c is None:
                continue
            if "error" in c:
                print(f"  {label}: {c['error']}")
                continue
            print(
                f"  {label:8s}: {c['seconds']:6.2f}s (x{c['ratio_to_cold']:.3f} of cold)  "
                f"prompt {c['prompt_tokens']} tok "
                f"({c['cached_tokens']} cached, {c['prompt_tok_per_s']} tok/s)  "
                f"gen {c['completion_tokens']} tok ({c['gen_tok_per_s']} tok/s)  "
                f"answer={c['answer']} t={c['time_s']} letter_ok={c['letter_ok']} "
                f"time_ok={c['time_ok']} retries={c['retries']} failures={c['failures']}"
            )
            if label == "restored":
                print(
                    f"            new process: load {c['load_s']:.1f}s, restore "
                    f"{c['restore_s']:.2f}s ({c['restored_tokens']} tokens, {c['file_mb']} MB "
                    f"file, saved in {c['save_s']:.2f}s)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
