"""The model registry: assembling split GGUF packages, refusing bad hashes, missing packages, and
``vidsleuth models ls|check``.  Uses a tiny fake "package" set written into a temporary
site folder (real dist-info metadata, real files), never the 1 GB models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.errors import ModelError
from vidsleuth.tools.models import registry
from vidsleuth.tools.models.registry import (
    REGISTRY,
    ModelSpec,
    assemble_gguf,
    gguf_path,
    package_problems,
    part_files,
    require_packages,
)

PARTS = [b"GGUF" + bytes(range(256)) * 3, b"middle-part" * 100, b"tail"]


def _write_dist(site: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal installed distribution: METADATA + RECORD + the files (nothing imported)."""
    mod = name.replace("-", "_")
    info = site / f"{mod}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        path = site / mod / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{mod}/{rel},,")
    (mod_init := site / mod / "__init__.py").write_text("raise RuntimeError('never import me')\n")
    record.append(f"{mod_init.relative_to(site)},,")
    record.append(f"{mod}-{version}.dist-info/METADATA,,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    site = tmp_path / "site"
    for i, data in enumerate(PARTS, start=1):
        _write_dist(site, f"vstest-fake-part{i}", "0.1.0", {f"data/part{i:02d}.bin": data})
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(PARTS)
    return ModelSpec(
        name="fake-model",
        kind="chat",
        backend="llamacpp",
        description="test",
        packages=tuple(f"vstest-fake-part{i}==0.1.0" for i in range(1, 4)),
        licence="none",
        size=len(whole),
        fmt="gguf-parts",
        sha256=hashlib.sha256(whole).hexdigest(),
    )


def test_parts_are_found_through_metadata_in_order(fake_parts: ModelSpec) -> None:
    files = part_files(fake_parts)
    assert [f.name for f in files] == ["part01.bin", "part02.bin", "part03.bin"]
    assert [f.read_bytes() for f in files] == PARTS


def test_assembly_concatenates_and_verifies(fake_parts: ModelSpec, tmp_path: Path) -> None:
    out = assemble_gguf(fake_parts, tmp_path / "models")
    assert out == gguf_path(fake_parts, tmp_path / "models")
    assert out.read_bytes() == b"".join(PARTS)
    record = json.loads(out.with_name(out.name + ".verified.json").read_text())
    assert record["sha256"] == fake_parts.sha256 and record["size"] == fake_parts.size
    assert not list((tmp_path / "models").glob("*.part"))


def test_verified_file_is_not_rehashed(
    fake_parts: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assemble_gguf(fake_parts, tmp_path / "models")
    hashed: list[Path] = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a: hashed.append(p) or real(p, *a))
    assemble_gguf(fake_parts, tmp_path / "models")
    assert hashed == []  # the (size, mtime, sha) record matched
    assemble_gguf(fake_parts, tmp_path / "models", verify=True)
    assert len(hashed) == 1  # `models check` forces a full hash


def test_wrong_hash_is_refused_and_nothing_is_left(fake_parts: ModelSpec, tmp_path: Path) -> None:
    bad = ModelSpec(**{**fake_parts.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelError, match="refusing to load"):
        assemble_gguf(bad, tmp_path / "models")
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_tampered_cache_file_is_rebuilt(fake_parts: ModelSpec, tmp_path: Path) -> None:
    out = assemble_gguf(fake_parts, tmp_path / "models")
    out.write_bytes(b"GGUF evil" + b"\0" * 10)
    again = assemble_gguf(fake_parts, tmp_path / "models")
    assert again.read_bytes() == b"".join(PARTS)


def test_missing_package_says_what_to_install(fake_parts: ModelSpec) -> None:
    spec = ModelSpec(
        **{**fake_parts.__dict__, "packages": (*fake_parts.packages, "vstest-nope-part4==0.1.0")}
    )
    assert package_problems(spec) == ["vstest-nope-part4 is not installed"]
    with pytest.raises(
        ModelError, match=r"not installed.*pip install vstest-fake-part\{1..4\}==0.1.0"
    ):
        require_packages(spec)


def test_wrong_version_is_reported(fake_parts: ModelSpec) -> None:
    spec = ModelSpec(**{**fake_parts.__dict__, "packages": ("vstest-fake-part1==9.9",)})
    assert package_problems(spec) == ["vstest-fake-part1 is 0.1.0, expected 9.9"]


def test_registry_pins_the_known_models() -> None:
    assert REGISTRY["qwen2.5-coder-1.5b"].sha256 == (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    )
    assert len(REGISTRY["qwen2.5-coder-1.5b"].packages) == 22
    assert len(REGISTRY["qwen2.5-coder-0.5b"].packages) == 6
    for spec in REGISTRY.values():
        assert all("==" in p for p in spec.packages), spec.name


def test_models_ls_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "ls", "--json", "--store", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "minilm"}
    for r in rows:
        assert {"backend", "source", "size_bytes", "licence", "installed"} <= set(r)
        assert r["installed"] == (r["problems"] == [])
    assert by_name["minilm"]["default"] is True
    assert by_name["qwen2.5-coder-0.5b"]["assembled"] is False  # nothing in a fresh store
    # the shipped retriever says what it was trained on
    ret = by_name["role:retriever"]
    assert ret["installed"] and "synthetic needle videos" in ret["description"]
    assert "never trained on real footage" in ret["description"]


def test_models_check_reports_an_unknown_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "check", "no-such-model", "--json", "--store", str(tmp_path)])
    assert code == 1
    row = json.loads(capsys.readouterr().out)[0]
    assert row["ok"] is False and "neither a registered model" in row["detail"]


def test_not_installed_registry_model_is_a_clear_cli_error(
    fake_parts: ModelSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = ModelSpec(**{**fake_parts.__dict__, "packages": ("vstest-absent-part1==1.0",)})
    monkeypatch.setitem(REGISTRY, "fake-model", missing)
    monkeypatch.setenv("VIDSLEUTH_CHAT_MODEL", "fake-model")
    code = main(["models", "check", "fake-model", "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL fake-model" in out and "vstest-absent-part1 is not installed" in out


def test_llamacpp_refuses_missing_and_corrupt_files(tmp_path: Path) -> None:
    from vidsleuth.tools.models.llamacpp import LlamaCppChatModel

    with pytest.raises(ModelError, match="GGUF model file not found"):
        LlamaCppChatModel(tmp_path / "absent.gguf")
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(bytes(range(256)) * 4)
    model = LlamaCppChatModel(garbage)
    with pytest.raises(ModelError, match=r"llama\.cpp cannot load this model"):
        model.chat([{"role": "user", "content": "hi"}], max_tokens=2)


# ----------------------------------------------------------------------------------------------
# Verification at every load (issue 15): a record that `touch -r` cannot fool, leftovers, pins
# ----------------------------------------------------------------------------------------------


def _tamper_keep_mtime(path: Path) -> None:
    """Overwrite bytes in place and put the mtime back, as `touch -r` would."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[5:15] = b"X" * 10
    path.write_bytes(bytes(data))
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


def test_touch_r_cannot_hide_a_tampered_cache_file(fake_parts: ModelSpec, tmp_path: Path) -> None:
    out = assemble_gguf(fake_parts, tmp_path / "models")
    _tamper_keep_mtime(out)
    again = assemble_gguf(fake_parts, tmp_path / "models")
    assert again.read_bytes() == b"".join(PARTS)  # re-hashed (ctime moved) and rebuilt
    record = json.loads(out.with_name(out.name + ".verified.json").read_text())
    assert {"size", "mtime_ns", "ctime_ns", "ino", "dev", "sha256"} <= set(record)


def test_old_record_without_ctime_means_one_full_hash(
    fake_parts: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = assemble_gguf(fake_parts, tmp_path / "models")
    rec = out.with_name(out.name + ".verified.json")
    st = out.stat()
    rec.write_text(
        json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": fake_parts.sha256})
    )
    hashed: list[Path] = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a: hashed.append(p) or real(p, *a))
    assemble_gguf(fake_parts, tmp_path / "models")
    assemble_gguf(fake_parts, tmp_path / "models")
    assert hashed == [out]  # hashed once, then the new record holds


def test_tampered_file_without_packages_is_refused_in_one_line(
    fake_parts: ModelSpec, tmp_path: Path
) -> None:
    out = assemble_gguf(fake_parts, tmp_path / "models")
    _tamper_keep_mtime(out)
    gone = ModelSpec(**{**fake_parts.__dict__, "packages": ("vstest-absent-part1==1.0",)})
    with pytest.raises(ModelError, match="failed its sha256 check") as err:
        assemble_gguf(gone, tmp_path / "models")
    assert "\n" not in str(err.value) and not out.exists()


def test_leftover_part_files_of_a_killed_assembly_are_removed(
    fake_parts: ModelSpec, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    assemble_gguf(fake_parts, models)
    stale = models / f".{fake_parts.name}.abc123.part"
    stale.write_bytes(b"half a model")
    stale_rec = models / f"{fake_parts.name}.gguf.verified.json.4242.tmp"
    stale_rec.write_text("{")
    other = models / ".another-model.xyz.part"  # another model's assembly is not ours to touch
    other.write_bytes(b"x")
    assemble_gguf(fake_parts, models)
    assert not stale.exists() and not stale_rec.exists() and other.exists()


def test_pinned_user_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidsleuth.tools.models.registry import verify_gguf

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    records = tmp_path / "store" / "models" / "pinned"
    hashed: list[Path] = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a: hashed.append(p) or real(p, *a))
    verify_gguf(gguf, digest.upper(), records=records)
    verify_gguf(gguf, digest, records=records)
    assert len(hashed) == 1  # the second load cost one stat
    assert not list(tmp_path.glob("mine.gguf.*"))  # nothing written beside the user's file
    _tamper_keep_mtime(gguf)
    with pytest.raises(ModelError, match="does not match the pinned") as err:
        verify_gguf(gguf, digest, records=records)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="not a sha256"):
        verify_gguf(gguf, "abc", records=records)


def test_chat_model_sha256_setting_is_checked_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidsleuth.errors import ConfigError
    from vidsleuth.settings import Settings
    from vidsleuth.tools.models.factory import load_chat_model

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    base = {"store": tmp_path / "store", "chat_model": str(gguf)}
    model = load_chat_model(Settings(**base, chat_model_sha256=digest))  # weights load lazily
    getattr(model, "close", lambda: None)()
    with pytest.raises(ModelError, match="does not match the pinned"):
        load_chat_model(Settings(**base, chat_model_sha256="0" * 64))
    with pytest.raises(ConfigError, match="not the sha256 of the registered model"):
        load_chat_model(Settings(store=tmp_path / "store", chat_model_sha256="0" * 64))
    with pytest.raises(ConfigError, match="pins a GGUF file"):
        load_chat_model(
            Settings(**base, chat_backend="openai-compatible", chat_model_sha256=digest)
        )
    monkeypatch.setenv("VIDSLEUTH_CHAT_MODEL_SHA256", f"  {digest.upper()} ")
    assert Settings().chat_model_sha256 == digest
    monkeypatch.setenv("VIDSLEUTH_CHAT_MODEL_SHA256", "not-a-hash")
    with pytest.raises(ValueError, match="64 hex digits"):
        Settings()
