"""Real-model tests (``-m slow``): MiniLM from its package, the embedded GGUF LLM answering a
multiple-choice question from observations in schema-valid JSON, and ``models check``.
The vLLM test needs the ``gpu`` extra and a CUDA GPU (``-m gpu``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import create_model

from vidsleuth.agent.cli.main import main
from vidsleuth.evals.bench_llm import OPTIONS, QUESTION, MCAnswer, observations
from vidsleuth.settings import Settings
from vidsleuth.tools.models.factory import load_chat_model, load_text_embedder
from vidsleuth.tools.models.registry import REGISTRY, is_installed
from vidsleuth.tools.models.testing import mc_messages

SMALL = "qwen2.5-coder-0.5b"

# A short, unambiguous set for the 0.5B (the 1,500-token prompt with a decoy is the benchmark's).
OBSERVATIONS = [
    "[4.0s] scene: street corner; objects: person 0.91, bicycle 0.64; on-screen text: EXIT",
    '[36.0s] scene: office corridor; speech: "the meeting starts at nine"',
    "[72.0s] scene: parking lot; objects: truck 0.72, dog 0.58; on-screen text: LOT B",
    "[120.0s] scene: warehouse gate; objects: car 0.93; caption: a red car drives through the "
    "open warehouse door",
    "[168.0s] scene: loading dock; objects: person 0.77, chair 0.66; on-screen text: DOCK 3",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.mark.slow
def test_minilm_embeds_and_ranks_sensibly(store: Path) -> None:
    emb = load_text_embedder(Settings(store=store))
    docs = [
        "a red car drives into the warehouse",
        "two people talk about the weather in the kitchen",
        "a cyclist rides past the park",
    ]
    d = emb.embed_texts(docs)
    q = emb.embed_texts(["which vehicle entered the building?", "someone on a bicycle"])
    assert d.shape == (3, 384) and d.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-5)
    assert int(np.argmax(q[0] @ d.T)) == 0
    assert int(np.argmax(q[1] @ d.T)) == 2


@pytest.mark.slow
def test_embedded_llm_answers_multiple_choice_in_schema_valid_json(store: Path) -> None:
    if not is_installed(REGISTRY[SMALL]):
        pytest.skip(f"{SMALL} packages are not installed")
    # The 0.5B maps option letters unreliably (it answered "C" for every ordering of the
    # options, while its free-text reply was right), so the schema constrains the answer to the
    # option texts themselves; the 1.5B default handles letters (see evals/bench_llm.py).
    options = ["blue", "white", "red", "black"]
    choice = create_model("Choice", answer=(Literal[tuple(options)], ...), time_s=(float, ...))
    model = load_chat_model(Settings(store=store, chat_model=SMALL))
    res = model.chat(mc_messages(OBSERVATIONS, QUESTION, options), max_tokens=64, schema=choice)
    assert res.ok, res.failure
    choice.model_validate_json(res.text)  # the raw reply itself is schema-valid JSON
    assert res.parsed is not None
    assert res.parsed.answer == "red"  # type: ignore[attr-defined]
    assert res.parsed.time_s == 120.0  # type: ignore[attr-defined]
    assert res.usage.prompt_tokens > 100 and res.usage.completion_tokens > 0
    # Same observations, reworded question: llama.cpp reuses the cached prefix.
    again = model.chat(
        mc_messages(OBSERVATIONS, "Which colour is the car that entered the warehouse?", options),
        max_tokens=64,
        schema=choice,
    )
    assert again.usage.cached_tokens > 0.5 * again.usage.prompt_tokens
    model.close()


@pytest.mark.slow
def test_models_check_runs_real_inference(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not is_installed(REGISTRY[SMALL]):
        pytest.skip(f"{SMALL} packages are not installed")
    code = main(["models", "check", SMALL, "minilm", "--json", "--store", str(store)])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0, rows
    assert [r["name"] for r in rows] == [SMALL, "minilm"]
    assert all(r["ok"] for r in rows)
    assert "sha256 ok" in rows[0]["hash"] and "RECORD" in rows[1]["hash"]


@pytest.mark.gpu
def test_vllm_guided_json() -> None:
    pytest.importorskip("vllm")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from vidsleuth.tools.models.vllm_backend import VLLMChatModel

    model = VLLMChatModel("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=4096)
    res = model.chat(mc_messages(observations(), QUESTION, OPTIONS), max_tokens=96, schema=MCAnswer)
    assert res.ok and res.usage.retries == 0
