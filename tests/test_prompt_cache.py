"""The persistent prompt cache: file format and handling with fakes (fast, offline), the
llama.cpp model's save/restore wiring with a fake server, and (``-m slow``) the real default GGUF
restoring in a second process what the first one saved."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vidsleuth.errors import ModelError
from vidsleuth.tools.models import prompt_cache as pc
from vidsleuth.tools.models.llamacpp import LlamaCppChatModel
from vidsleuth.tools.models.prompt_cache import (
    load_prompt_cache,
    persistent_prompt_cache,
    prompt_cache_path,
    save_prompt_cache,
)
from vidsleuth.tools.models.testing import ScriptedChatModel

LOGGER = "vidsleuth.tools.models.prompt_cache"


class FakeBackend:
    """A :class:`~vidsleuth.tools.models.prompt_cache.PromptCacheBackend` holding bytes."""

    def __init__(self, state: bytes = b"", *, n_ctx: int = 4096, model: str = "m1") -> None:
        self.state = state
        self.identity = {"model": model, "sha256": "ab" * 32, "n_ctx": n_ctx}
        self.imports = 0
        self.refuse = False

    def prompt_cache_identity(self) -> dict[str, Any]:
        return dict(self.identity)

    def prompt_cache_export(self, dest: Path) -> int:
        if not self.state:
            return 0
        dest.write_bytes(self.state)
        return len(self.state) // 4

    def prompt_cache_import(self, src: Path) -> int:
        self.imports += 1
        if self.refuse:
            raise ModelError("llama.cpp refused it")
        self.state = src.read_bytes()
        return len(self.state) // 4


STATE = bytes(range(256)) * 64  # 16 KiB, "4096 tokens"


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "llm-cache" / "vid" / "model.bin"
    assert save_prompt_cache(FakeBackend(STATE), path)
    return path


def test_round_trip_restores_the_saved_state(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    fresh = FakeBackend()
    assert load_prompt_cache(fresh, path) == len(STATE) // 4
    assert fresh.state == STATE
    header = pc.read_cache_header(path)
    assert header["identity"] == FakeBackend().identity
    assert header["payload_size"] == len(STATE) and header["tokens"] == len(STATE) // 4
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.bin"]  # no temporary left


def test_missing_file_is_a_cold_start(tmp_path: Path) -> None:
    fresh = FakeBackend()
    assert load_prompt_cache(fresh, tmp_path / "none.bin") == 0
    assert fresh.imports == 0


def _corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "truncated":
        path.write_bytes(data[: len(data) - 100])
    elif how == "header-only":
        path.write_bytes(data[:5])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":
        flipped = bytearray(data)
        flipped[-10] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif how == "bad-json":
        head = pc._HEAD.size
        path.write_bytes(data[:head] + b"x" + data[head + 1 :])
    elif how == "appended":
        path.write_bytes(data + b"x")


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("garbage", "not a vidsleuth prompt-cache file"),
        ("truncated", "truncated"),
        ("header-only", "truncated"),
        ("empty", "truncated"),
        ("flipped", "checksum"),
        ("bad-json", "unreadable"),
        ("appended", "size"),
    ],
)
def test_corrupt_file_is_ignored_with_a_reason_and_replaced_by_the_next_save(
    tmp_path: Path, how: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _saved(tmp_path)
    _corrupt(path, how)
    fresh = FakeBackend()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_prompt_cache(fresh, path) == 0
    assert fresh.imports == 0 and fresh.state == b""
    assert reason in caplog.text and "ignored" in caplog.text
    # The next save replaces it, and that one restores.
    assert save_prompt_cache(FakeBackend(STATE), path)
    assert load_prompt_cache(fresh, path) == len(STATE) // 4


@pytest.mark.parametrize(
    ("backend", "key"),
    [(FakeBackend(n_ctx=2048), "n_ctx"), (FakeBackend(model="m2"), "model")],
)
def test_cache_of_another_model_or_context_size_is_ignored(
    tmp_path: Path, backend: FakeBackend, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _saved(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_prompt_cache(backend, path) == 0
    assert backend.imports == 0
    assert "another model" in caplog.text and key in caplog.text


def test_backend_refusing_the_state_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _saved(tmp_path)
    fresh = FakeBackend()
    fresh.refuse = True
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_prompt_cache(fresh, path) == 0
    assert "refused" in caplog.text


def test_nothing_to_save_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    assert not save_prompt_cache(FakeBackend(b""), path)
    assert not path.exists()


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = _saved(tmp_path)
    before = path.read_bytes()

    def broken_copy(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pc.shutil, "copyfileobj", broken_copy)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert not save_prompt_cache(FakeBackend(STATE[::-1]), path)
    assert "not saved" in caplog.text and "No space" in caplog.text
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["model.bin"]


def test_save_is_an_atomic_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _saved(tmp_path)
    renames: list[tuple[str, str]] = []
    real = os.replace

    def spy(src: Any, dst: Any) -> None:
        assert Path(dst).read_bytes()  # the old file is still whole until the rename
        renames.append((str(src), str(dst)))
        real(src, dst)

    monkeypatch.setattr(pc.os, "replace", spy)
    assert save_prompt_cache(FakeBackend(STATE[::-1]), path)
    ((src, dst),) = renames
    assert Path(src).parent == path.parent and dst == str(path)
    fresh = FakeBackend()
    assert load_prompt_cache(fresh, path) and fresh.state == STATE[::-1]


# --------------------------------------------------------------------------------------------
# The session-facing helpers
# --------------------------------------------------------------------------------------------


class CachingChat:
    """A chat model with the persistent-cache methods (records what was asked of it)."""

    id = "fake:chat"
    n_ctx = 4096

    def __init__(self) -> None:
        self.events: list[tuple[str, Path]] = []

    def restore_prompt_cache(self, path: Path) -> int:
        self.events.append(("restore", path))
        return 7

    def save_prompt_cache(self, path: Path) -> bool:
        self.events.append(("save", path))
        return True


def test_persistent_prompt_cache_restores_then_saves(tmp_path: Path) -> None:
    chat = CachingChat()
    path = tmp_path / "c.bin"
    with persistent_prompt_cache(chat, path) as use:
        assert chat.events == [("restore", path)]
        assert use.supported and use.restored == 7
    assert chat.events == [("restore", path), ("save", path)] and use.saved


def test_persistent_prompt_cache_saves_after_an_error_but_not_after_an_interrupt(
    tmp_path: Path,
) -> None:
    chat = CachingChat()
    with pytest.raises(ValueError), persistent_prompt_cache(chat, tmp_path / "c.bin"):
        raise ValueError("a tool failed")
    assert [e for e, _ in chat.events] == ["restore", "save"]
    chat = CachingChat()
    with pytest.raises(KeyboardInterrupt), persistent_prompt_cache(chat, tmp_path / "c.bin"):
        raise KeyboardInterrupt
    assert [e for e, _ in chat.events] == ["restore"]


def test_persistent_prompt_cache_is_a_no_op_for_other_backends(tmp_path: Path) -> None:
    chat = ScriptedChatModel(["hello"])
    with persistent_prompt_cache(chat, tmp_path / "c.bin") as use:
        assert chat.chat([{"role": "user", "content": "hi"}]).text == "hello"
    assert not use.supported and not use.saved
    assert not (tmp_path / "c.bin").exists()
    with persistent_prompt_cache(None, tmp_path / "c.bin") as use:
        pass
    assert not use.supported
    cached = CachingChat()
    with persistent_prompt_cache(cached, None):
        pass
    assert cached.events == []


def test_prompt_cache_path_layout(tmp_path: Path) -> None:
    chat = CachingChat()
    path = prompt_cache_path(tmp_path, "a1b2c3", chat)
    assert path.parent == tmp_path / "llm-cache" / "a1b2c3"
    assert path.suffix == ".bin" and len(path.stem) == 16
    assert prompt_cache_path(tmp_path, "a1b2c3", chat) == path  # stable
    other = CachingChat()
    other.n_ctx = 8192
    assert prompt_cache_path(tmp_path, "a1b2c3", other) != path
    odd = prompt_cache_path(tmp_path, "../../etc/passwd", chat)
    assert odd.parent.parent == tmp_path / "llm-cache" and odd.parent.name.startswith("h-")


# --------------------------------------------------------------------------------------------
# LlamaCppChatModel's wiring, with a fake llama.cpp server (no weights)
# --------------------------------------------------------------------------------------------


class FakeServer:
    """Stands in for ``xllamacpp.Server``: answers chats, and (through the model's patched
    ``_slot_action``) saves and restores a "slot" as files in ``slot_save_path``."""

    def __init__(self, params: Any) -> None:
        self.slot_dir = Path(params.slot_save_path)
        self.api_keys = list(params.api_keys)
        self.tokens: list[int] = []
        self.listening_address = "http://127.0.0.1:1"

    def handle_chat_completions(self, request: dict[str, Any]) -> dict[str, Any]:
        prompt = [ord(c) for c in json.dumps(request["messages"])]
        cached = 0
        while cached < min(len(prompt), len(self.tokens)) and prompt[cached] == self.tokens[cached]:
            cached += 1
        self.tokens = prompt
        return {
            "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def slot_action(self, action: str, filename: str) -> dict[str, Any]:
        assert "/" not in filename
        if action == "save":
            (self.slot_dir / filename).write_text(json.dumps(self.tokens))
            return {"n_saved": len(self.tokens)}
        self.tokens = json.loads((self.slot_dir / filename).read_text())
        return {"n_restored": len(self.tokens)}


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    xllamacpp = pytest.importorskip("xllamacpp")
    monkeypatch.setattr(xllamacpp, "Server", FakeServer)
    monkeypatch.setattr(
        LlamaCppChatModel,
        "_slot_action",
        lambda self, action, filename: self._server.slot_action(action, filename),
    )
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    return gguf


MSGS = [
    {"role": "system", "content": "observations " * 20},
    {"role": "user", "content": "question one"},
]


def test_llamacpp_saves_and_a_new_model_restores_at_its_first_call(
    fake_llama: Path, tmp_path: Path
) -> None:
    path = tmp_path / "store" / "c.bin"
    first = LlamaCppChatModel(fake_llama, name="tiny")
    with persistent_prompt_cache(first, path) as use:
        assert use.restored is None  # not loaded yet: waits for the first call
        assert first.chat(MSGS).usage.cached_tokens == 0
    assert use.restored == 0 and use.saved and path.is_file()
    assert first._server.api_keys and first._server.api_keys[0] == first._api_key
    slot_dir = first._slot_dir
    assert slot_dir is not None and slot_dir.is_dir() and not list(slot_dir.iterdir())
    first.close()
    assert not slot_dir.exists()

    second = LlamaCppChatModel(fake_llama, name="tiny")
    reworded = [MSGS[0], {"role": "user", "content": "question two"}]
    with persistent_prompt_cache(second, path) as use:
        res = second.chat(reworded)
    assert use.restored and use.restored > 0 and second.last_restore == use.restored
    assert res.usage.cached_tokens > 0.8 * res.usage.prompt_tokens
    second.close()


def test_llamacpp_does_not_save_without_calls_or_restore_another_models_cache(
    fake_llama: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    model = LlamaCppChatModel(fake_llama, name="tiny")
    with persistent_prompt_cache(model, a):
        model.chat(MSGS)
    assert a.is_file()
    # Another video, no model call: video a's state must not be saved as b's cache.
    with persistent_prompt_cache(model, b) as use:
        assert use.restored == 0  # loaded now: restores (nothing) at once
    assert not use.saved and not b.exists()
    model.close()
    # Same file, another context size: ignored with the reason.
    other = LlamaCppChatModel(fake_llama, name="tiny", n_ctx=2048)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        other._load()
        assert other.restore_prompt_cache(a) == 0
    assert "n_ctx" in caplog.text
    other.close()


def test_llamacpp_identity_uses_the_registry_verification_record(fake_llama: Path) -> None:
    from vidsleuth.tools.models.registry import _write_record

    model = LlamaCppChatModel(fake_llama, name="tiny")
    ident = model.prompt_cache_identity()
    assert ident["sha256"] is None and "mtime_ns" in ident and ident["n_ctx"] == 4096
    _write_record(fake_llama, "cd" * 32)
    ident = model.prompt_cache_identity()
    assert ident["sha256"] == "cd" * 32 and "mtime_ns" not in ident
    assert ident["model"] == "llamacpp:tiny" and ident["runtime"].startswith("xllamacpp")


# --------------------------------------------------------------------------------------------
# The real default model, two processes
# --------------------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from vidsleuth.tools.models.llamacpp import LlamaCppChatModel
    from vidsleuth.tools.models.prompt_cache import persistent_prompt_cache
    gguf, path, messages = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    model = LlamaCppChatModel(gguf, name="qwen2.5-coder-1.5b")
    with persistent_prompt_cache(model, path) as use:
        res = model.chat(messages, max_tokens=8)
    print(json.dumps({"restored": use.restored, "cached": res.usage.cached_tokens,
                      "prompt": res.usage.prompt_tokens}))
    """
)


@pytest.mark.slow
def test_real_model_restores_a_saved_cache_in_a_second_process(tmp_path: Path) -> None:
    from vidsleuth.evals.bench_llm import observations
    from vidsleuth.tools.models.registry import REGISTRY, assemble_gguf, is_installed
    from vidsleuth.tools.models.testing import mc_messages

    spec = REGISTRY["qwen2.5-coder-1.5b"]
    if not is_installed(spec):
        pytest.skip(f"{spec.name} packages are not installed")
    gguf = assemble_gguf(spec, tmp_path / "models")
    path = prompt_cache_path(tmp_path, "video1", LlamaCppChatModel(gguf, name=spec.name))
    obs = observations()[:8]
    model = LlamaCppChatModel(gguf, name=spec.name)
    with persistent_prompt_cache(model, path) as use:
        first = model.chat(
            mc_messages(obs, "What colour is the car?", ["red", "blue"]), max_tokens=8
        )
    model.close()
    assert first.usage.cached_tokens == 0 and use.saved and path.is_file()

    messages = mc_messages(obs, "Which colour was the car?", ["red", "blue"])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(gguf), str(path), json.dumps(messages)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["restored"] > 0
    assert out["cached"] > 0.5 * out["prompt"], out


def test_a_new_video_starts_from_the_newest_state_of_the_same_model(tmp_path: Path) -> None:
    import os

    from vidsleuth.tools.models.prompt_cache import prompt_cache_seed

    chat = CachingChat()
    root = tmp_path / "store"
    assert prompt_cache_seed(root, "vnew", chat) == prompt_cache_path(root, "vnew", chat)
    old, newer = prompt_cache_path(root, "va", chat), prompt_cache_path(root, "vb", chat)
    other_model = root / "llm-cache" / "vc" / "another-model.bin"
    for i, f in enumerate((old, newer, other_model)):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
        os.utime(f, (1000 + i, 1000 + i))
    seed = prompt_cache_seed(root, "vnew", chat)
    assert seed == newer  # the newest file of this model, never another model's
    own = prompt_cache_path(root, "vnew", chat)
    with persistent_prompt_cache(chat, own, seed=seed):
        pass
    assert chat.events == [("restore", newer), ("save", own)]
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_bytes(b"x")
    assert prompt_cache_seed(root, "vnew", chat) == own  # its own state, once it has one
