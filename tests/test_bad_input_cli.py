"""Every bad input is one clear line (issue 15): a table of bad command lines, each of which must
exit 2 with exactly one ``vidsleuth: error:`` line on stderr (naming the problem), print nothing
on stdout, raise no traceback, and leave the store's bytes (index, Chroma files, lock holder)
exactly as they were; a store path that does not exist yet must not be created.

Runs in-process through :func:`vidsleuth.agent.cli.main.main` (a few seconds for the table).
No case reaches a model: the chat model is pointed at a file that does not exist, so a case that
wrongly got past validation fails on its expected message instead of running an LLM.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write_counter_video

from vidsleuth.agent.cli.main import main

# --------------------------------------------------------------------------------- the world


class World:
    """Files the cases point at, all under one temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store"
        self.missing_store = root / "no-store-yet"
        self.clip = write_counter_video(root / "clip.mp4", 4.0, fps=5)
        self.clip2 = write_counter_video(root / "clip2.mp4", 3.0, fps=5)
        self.fresh = write_counter_video(root / "fresh.mp4", 2.0, fps=5)  # never indexed
        self.text = root / "text.mp4"
        self.text.write_text("this is not a video\n")
        self.empty = root / "empty.mp4"
        self.empty.write_bytes(b"")
        self.folder = root / "folder.mp4"
        self.folder.mkdir()
        self.fifo = root / "fifo.mp4"
        os.mkfifo(self.fifo)
        self.binary_srt = root / "binary.srt"
        self.binary_srt.write_bytes(bytes(range(256)) * 8)
        self.fifo_srt = root / "fifo.srt"
        os.mkfifo(self.fifo_srt)
        self.lv_bad = root / "lv.jsonl"
        self.lv_bad.write_bytes(b'{"key": "\xff"}\n{"key": "v", "qa": [1, "x", null]}\n')
        self.ego_obj = root / "ego" / "EgoMem.json"
        self.ego_obj.parent.mkdir()
        self.ego_obj.write_text('{"videoID": "x"}')
        self.ego_latin = root / "ego-latin.json"
        self.ego_latin.write_bytes(b'[{"videoID": "caf\xe9"}]')
        self.needle_bad = root / "needles.json"
        self.needle_bad.write_bytes(b'{"video": "\xff\xfe"}')
        self.eval_out = root / "eval-out"
        self.nouid = root / "run-nouid"
        self.nouid.mkdir()
        (self.nouid / "run.json").write_text(json.dumps({"task": "lvbench", "method": "random"}))
        (self.nouid / "questions.jsonl").write_text(json.dumps({"uid": "q1"}) + "\n")
        (self.nouid / "results.jsonl").write_text(json.dumps({"answer": "A"}) + "\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("bad-input"))
    env = {"VIDSLEUTH_STORE": str(w.store), "XDG_CACHE_HOME": str(w.root / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setenv("VIDSLEUTH_CHAT_MODEL", str(w.root / "no-such-model.gguf"))
        mp.chdir(w.root)
        for clip in (w.clip, w.clip2):
            assert main(["index", str(clip), "-q", "--fps", "1"]) == 0
        # an embedded memory store with a collection, and its lock holder note
        from vidsleuth.memory.chroma import ChromaStore

        with ChromaStore.open_embedded(w.store) as cs:
            cs.collection("episodic-vtest-00000000", dim=4, space_id="test")
        yield w


def store_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under the store (path -> sha256 of its bytes) and every folder."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel not in skip:
            out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------------------------- the table
# (case id, argv with {placeholders}, substring the one error line must contain, extra env)
S = "--store {store}"
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    # --- the video is not a regular, readable video file: refused before anything is opened
    ("index-missing", "index {root}/nope.mp4", "no such file", {}),
    ("index-dir", "index {folder}", "is a directory", {}),
    ("index-fifo", "index {fifo}", "not a regular file", {}),
    ("index-empty", "index {empty}", "empty", {}),
    ("index-text", "index {text}", "not a video", {}),
    ("index-good-then-bad", "index {fresh} {text}", "not a video", {}),
    ("look-fifo", "look {fifo} --at 1", "not a regular file", {}),
    ("look-text", "look {text} --at 1", "not a video", {}),
    ("look-missing", "look {root}/nope.mp4 --at 1", "no such file", {}),
    ("listen-fifo", "listen {fifo}", "not a regular file", {}),
    ("listen-text", "listen {text}", "not a video", {}),
    ("listen-dir", "listen {folder}", "is a directory", {}),
    ("listen-empty", "listen {empty}", "empty", {}),
    ("ask-fifo", "ask {fifo} What? " + S, "not a regular file", {}),
    ("ask-text", "ask {text} What? " + S, "not a video", {}),
    ("ask-missing", "ask {root}/nope.mp4 What? " + S, "no such file", {}),
    ("ask-dir", "ask {folder} What? " + S, "is a directory", {}),
    ("chat-fifo", "chat {fifo} " + S, "not a regular file", {}),
    ("chat-text", "chat {text} " + S, "not a video", {}),
    ("chat-missing", "chat {root}/nope.mp4 " + S, "no such file", {}),
    ("build-fifo", "memory build {fifo} " + S, "not a regular file", {}),
    ("build-text", "memory build {text} " + S, "not a video", {}),
    ("build-missing", "memory build {root}/nope.mp4 " + S, "no such file", {}),
    ("build-empty", "memory build {empty} " + S, "empty", {}),
    ("search-fifo", "memory search {fifo} door " + S, "not a regular file", {}),
    ("search-text", "memory search {text} door " + S, "not a video", {}),
    ("search-missing", "memory search {root}/nope.mp4 door " + S, "neither a video file", {}),
    ("info-fifo", "info {fifo}", "not a regular file", {}),
    # --- a store path that does not exist yet is not created for a rejected input
    ("ask-text-new-store", "ask {text} What? --store {missing_store}", "not a video", {}),
    ("ask-id-new-store", "ask vdeadbeef What? --store {missing_store}", "no such file", {}),
    ("chat-fifo-new-store", "chat {fifo} --store {missing_store}", "not a regular file", {}),
    ("build-text-new-store", "memory build {text} --store {missing_store}", "not a video", {}),
    ("index-fifo-new-store", "index {fifo} --store {missing_store}", "not a regular file", {}),
    (
        "search-id-new-store",
        "memory search v0123456789abcdef0123 door --store {missing_store}",
        "neither a video file",
        {},
    ),
    ("rm-new-store", "store rm vdeadbeef --store {missing_store}", "no store here", {}),
    ("gc-new-store", "store gc --store {missing_store}", "no store here", {}),
    ("verify-new-store", "store verify --store {missing_store}", "no store here", {}),
    # --- empty, blank, ambiguous and unknown video id prefixes
    ("rm-empty", "store rm '' " + S, "empty video id", {}),
    ("rm-blank", "store rm '   ' " + S, "empty video id", {}),
    ("rm-empty-after-good", "store rm v ''  " + S, "empty video id", {}),
    ("rm-ambiguous", "store rm v " + S, "ambiguous", {}),
    ("rm-unknown", "store rm zzz " + S, "no video id", {}),
    ("rm-like-wildcard", "store rm % " + S, "no video id", {}),
    ("ask-empty-id", "ask '' What? " + S, "empty video id", {}),
    ("ask-ambiguous", "ask v What? " + S, "ambiguous", {}),
    ("chat-empty-id", "chat ' ' " + S, "empty video id", {}),
    ("search-empty-id", "memory search '' door " + S, "empty video id", {}),
    ("search-ambiguous", "memory search v door " + S, "ambiguous", {}),
    ("entities-empty-id", "memory entities '' " + S, "empty video id", {}),
    # --- multiple-choice options and the question
    ("options-duplicate", "ask {clip} Colour? --options yellow yellow yellow yellow", "same", {}),
    ("options-dup-case", "ask {clip} Colour? --options Red blue 'red ' green", "same", {}),
    ("options-empty", "ask {clip} Colour? --options '' ''", "option A is empty", {}),
    ("options-one-empty", "ask {clip} Colour? --options red '  '", "option B is empty", {}),
    ("options-single", "ask {clip} Colour? --options red", "between 2 and 10", {}),
    ("options-eleven", "ask {clip} Q? --options a b c d e f g h i j k", "between 2 and 10", {}),
    ("options-flag-alone", "ask {clip} Colour? --options", "needs the options", {}),
    # --options with no choices is never silently an open question, wherever the flag stands
    ("options-then-flags", "ask {clip} Colour? --options --json -q", "needs the options", {}),
    ("options-before-question", "ask {clip} --options Colour?", "needs the options", {}),
    ("options-no-flag", "ask {clip} Colour? red blue", "put --options before", {}),
    ("question-empty", "ask {clip} ''", "question is empty", {}),
    ("question-blank", "ask {clip} '   ' --options a b", "question is empty", {}),
    # --- every float option refuses nan and inf; times must lie in the video
    ("look-at-nan", "look {clip} --at nan", "not a finite number", {}),
    ("look-at-inf", "look {clip} --at inf", "not a finite number", {}),
    ("look-at-neg-inf", "look {clip} --at -inf", "not a finite number", {}),
    ("look-at-negative", "look {clip} --at -1", "is outside", {}),
    ("look-at-past-end", "look {clip} --at 9999", "is outside", {}),
    ("look-at-word", "look {clip} --at soon", "'--at'", {}),
    ("look-no-at", "look {clip}", "'--at'", {}),
    ("listen-start-nan", "listen {clip} --start nan", "not a finite number", {}),
    ("listen-end-inf", "listen {clip} --end inf", "not a finite number", {}),
    ("listen-start-past-end", "listen {clip} --start 9999", "past the end", {}),
    ("listen-inverted", "listen {clip} --start 3 --end 2", "not an interval", {}),
    ("listen-negative", "listen {clip} --start -1", "not an interval", {}),
    ("listen-sources", "listen {clip} --sources smell", "unknown perceiver smell", {}),
    ("listen-subs-binary", "listen {clip} --subtitles {binary_srt}", "binary", {}),
    ("listen-subs-missing", "listen {clip} --subtitles {root}/no.srt", "not found", {}),
    ("listen-subs-fifo", "listen {clip} --subtitles {fifo_srt}", "not a regular file", {}),
    ("index-fps-nan", "index {fresh} --fps nan", "not a finite number", {}),
    ("index-fps-inf", "index {fresh} --fps inf", "not a finite number", {}),
    ("index-fps-zero", "index {fresh} --fps 0", "sample_fps", {}),
    ("index-chunk-nan", "index {fresh} --chunk-seconds nan", "not a finite number", {}),
    ("search-from-nan", "memory search {clip} door --from nan", "not a finite number", {}),
    ("search-to-inf", "memory search {clip} door --to inf", "not a finite number", {}),
    ("search-inverted", "memory search {clip} door --from 10 --to 5", "time range", {}),
    ("search-k-zero", "memory search {clip} door -k 0", "at least one", {}),
    ("search-kind", "memory search {clip} door --kind smell", "--kind", {}),
    ("search-empty-text", "memory search {clip} '  '", "search text is empty", {}),
    ("generate-minutes-nan", "generate {root}/gen.mp4 --minutes nan", "not a finite number", {}),
    ("generate-fps-inf", "generate {root}/gen.mp4 --fps inf", "not a finite number", {}),
    # --- settings from the environment
    ("env-fps-nan", "index {fresh}", "sample_fps", {"VIDSLEUTH_SAMPLE_FPS": "nan"}),
    (
        "env-seconds-inf",
        "ask {clip} Q?",
        "agent_max_seconds",
        {"VIDSLEUTH_AGENT_MAX_SECONDS": "inf"},
    ),
    ("env-sha-bad", "ask {clip} Q?", "chat_model_sha256", {"VIDSLEUTH_CHAT_MODEL_SHA256": "abc"}),
    ("env-workers-zero", "index {fresh}", "workers", {"VIDSLEUTH_WORKERS": "0"}),
    # --- usage
    ("unknown-command", "frobnicate", "No such command", {}),
    ("index-nothing", "index", "Missing argument", {}),
    ("unknown-option", "index {fresh} --colour red", "No such option", {}),
    # --- benchmark files
    ("eval-lv-unusable", "eval run lvbench --data {lv_bad} --out {eval_out}", "no questions", {}),
    ("eval-ego-object", "eval run egomem --data {ego_obj} --out {eval_out}", "JSON list", {}),
    ("eval-ego-latin1", "eval run egomem --data {ego_latin} --out {eval_out}", "not UTF-8", {}),
    (
        "eval-needle-latin1",
        "eval run needle_haystack --data {needle_bad} --out {eval_out}",
        "not UTF-8",
        {},
    ),
    ("eval-report-no-uid", "eval report {nouid}", "no 'uid'", {}),
]


def _argv(template: str, w: World) -> list[str]:
    import shlex

    fields = {
        k: str(v) for k, v in vars(w).items() if isinstance(v, Path)
    }  # root, store, clip, fifo, ...
    return [part.format(**fields) for part in shlex.split(template)]


def _one_error_line(rc: int, out: str, err: str, expected: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert rc == 2, f"exit {rc}; stderr: {err!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("vidsleuth: error: "), lines[0]
    assert expected.lower() in lines[0].lower(), f"{expected!r} not in {lines[0]!r}"
    assert out == "", f"stdout should be empty, got {out!r}"


def test_the_table_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    case: tuple[str, str, str, dict[str, str]],
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, template, expected, env = case
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # chat never waits on a terminal
    before = store_digest(world.store)
    capsys.readouterr()
    rc = main(_argv(template, world))
    out, err = capsys.readouterr()
    _one_error_line(rc, out, err, expected)
    assert store_digest(world.store) == before, f"{name} changed the store"
    assert not world.missing_store.exists(), f"{name} created {world.missing_store}"
    assert not world.eval_out.exists(), f"{name} created {world.eval_out}"
    assert not (world.root / "gen.mp4").exists()


# ------------------------------------------------------------------ storage failures, simulated
def _patched_connect(mode: str) -> Any:
    real = sqlite3.connect

    def connect(db: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(db).endswith("index.sqlite"):
            if mode == "ro":  # the file as a read-only file system / permissions would leave it
                return real(f"file:{db}?mode=ro", *args, uri=True, **kwargs)
            conn = real(db, *args, **kwargs)
            # SQLITE_FULL on the next page it needs: what a full disk reports (VACUUM first, so
            # no free page is left inside the file to write into)
            conn.execute("VACUUM")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={pages}")
            return conn
        return real(db, *args, **kwargs)

    return connect


@pytest.mark.parametrize(
    "mode, expected", [("ro", "is read-only"), ("full", "disk is full")], ids=["read-only", "full"]
)
def test_storage_failures_are_one_line_naming_the_file(
    mode: str,
    expected: str,
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("vidsleuth.memory.store.sqlite3.connect", _patched_connect(mode))
    # A read-only *connection* to a WAL database leaves its -wal/-shm files behind (an artifact
    # of simulating the read-only file this way); every other byte must stay as it was.
    wal = ("index.sqlite-wal", "index.sqlite-shm")
    before = store_digest(world.store, skip=wal)
    capsys.readouterr()
    rc = main(["index", str(world.fresh), "-q", "--fps", "5"])
    out, err = capsys.readouterr()
    _one_error_line(rc, out, err, expected)
    assert str(world.store / "index.sqlite") in err
    if mode == "ro":
        assert store_digest(world.store, skip=wal) == before
    for name in wal:  # tidy up for what follows
        (world.store / name).unlink(missing_ok=True)
    monkeypatch.undo()
    # space back (or the file writable again): the same command resumes and finishes
    assert main(["index", str(world.fresh), "-q", "--fps", "5"]) == 0
    capsys.readouterr()
    assert main(["store", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["videos"]
    fresh = [v["video_id"] for v in listed if v["path"] == str(world.fresh.resolve())]
    assert len(fresh) == 1
    assert main(["store", "rm", fresh[0]]) == 0  # the world as it was for later tests
    capsys.readouterr()


def test_good_input_still_works(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The checks refuse only what is bad: the same commands on good input succeed."""
    capsys.readouterr()
    assert main(["store", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed["videos"]) == 2
    vid = listed["videos"][0]["video_id"]
    assert main(["listen", str(world.clip), "--start", "1", "--end", "99"]) == 2  # no audio
    assert "nothing to listen to" in capsys.readouterr().err
    assert main(["store", "ls", "--store", str(world.missing_store)]) == 0
    assert not world.missing_store.exists()  # listing never creates a store
    assert vid.startswith("v")


def test_a_full_disk_anywhere_is_one_line_naming_the_file(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full(path: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(world.root / "results.jsonl"))

    monkeypatch.setattr("vidsleuth.memory.store.check_video", full)
    capsys.readouterr()
    rc = main(["index", str(world.fresh)])
    out, err = capsys.readouterr()
    _one_error_line(rc, out, err, "disk is full")
    assert "results.jsonl" in err and "free disk space" in err
