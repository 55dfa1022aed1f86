"""Memory that reads like the video: closed-set labels below their calibrated floor never become
memory texts, entities or summary sentences; a summary says what it was built from and, with no
speech, subtitles or captions, quotes the on-screen text and lists what was detected (no model);
``memory entities`` is a filterable table or JSON; ``memory forget`` deletes session facts; a
write reads like a write in the live trace.  Logic tests over a real embedded Chroma store with
the hashing embedder; the real-clip test (slow) runs the real taggers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsleuth.agent.cli.main import main
from vidsleuth.memory.chroma import ChromaStore
from vidsleuth.memory.episodic import EpisodicMemory, chunk_spans
from vidsleuth.memory.labels import LabelFloor, sources_of
from vidsleuth.memory.semantic import SemanticMemory, entities_from_observations
from vidsleuth.memory.session import SessionMemory
from vidsleuth.memory.testing import HashingEmbedder
from vidsleuth.settings import Settings
from vidsleuth.tools.models.chat import BaseChatModel, RawReply
from vidsleuth.tools.perception.types import Observation

VID = "v00000000000000000abc"  # well formed: found in memory without a registered file
EMB = HashingEmbedder(64)


def o(t: float, kind: str, text: str = "", label: str | None = None, score: float | None = None):
    return Observation(
        t_start=t,
        t_end=t,
        kind=kind,
        text=text or (label or ""),
        label=label,
        score=score,
        producer=f"t.{kind}",
        version="1",
    )


def noisy() -> list[Observation]:
    """A video with no words: a person and a car detected, ImageNet tags mostly noise."""
    return [
        o(1.0, "object", label="person", score=0.8),
        o(2.0, "object", label="person", score=0.6),
        o(2.0, "tag", label="fireboat", score=0.07),
        o(3.0, "tag", label="dhole", score=0.3),
        o(9.0, "object", label="car", score=0.45),
        o(9.0, "tag", label="bow tie", score=0.97),
        o(10.0, "ocr", "O"),
    ]


class NoModel(BaseChatModel):
    """A chat model that must not be called."""

    id = "no-model"

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def _generate(self, messages: list[dict[str, Any]], **kw: Any) -> RawReply:
        raise AssertionError("a summary of a video without words called the model")


class EchoModel(BaseChatModel):
    """Restates what it was given (map: the first line; reduce: the captions)."""

    id = "echo"

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.prompts: list[str] = []

    def _generate(self, messages: list[dict[str, Any]], **kw: Any) -> RawReply:
        user = messages[-1]["content"]
        self.prompts.append(user)
        lines = [ln.split("] ", 1)[1] for ln in user.split("\n") if ln.startswith("[")]
        if "Observations:" in user:
            return RawReply(json.dumps({"summary": lines[0], "names": []}))
        return RawReply(json.dumps({"summary": " Then ".join(lines), "aliases": []}))


@pytest.fixture()
def store(tmp_path: Path):
    cs = ChromaStore.open_embedded(tmp_path, timeout=5)
    yield cs
    cs.close()


def test_floor_defaults_are_the_calibrated_values() -> None:
    fitted = json.loads(
        (Path(__file__).parents[1] / "evals" / "fitted" / "label_confidence.json").read_text()
    )
    s = Settings()
    assert s.memory_tag_min_score == round(fitted["kinds"]["tag"]["threshold"], 2)
    assert s.memory_object_min_score == round(fitted["kinds"]["object"]["threshold"], 2)
    assert LabelFloor() == LabelFloor.from_settings(s)


def test_platt_fit_recovers_a_known_threshold() -> None:
    from vidsleuth.evals.fit_label_confidence import fit_platt, threshold_at

    rng = np.random.default_rng(0)
    scores = rng.uniform(0.01, 0.99, 4000)
    truth = 1 / (1 + np.exp(-(np.log(scores / (1 - scores)) - np.log(0.6 / 0.4)) * 2.0))
    right = (rng.uniform(size=scores.size) < truth).astype(float)
    assert threshold_at(*fit_platt(scores, right)) == pytest.approx(0.6, abs=0.03)
    assert threshold_at(0.0, -1.0) == 1.0  # scores that do not predict rightness: trust none


def test_labels_below_the_floor_never_become_memory(store: ChromaStore, tmp_path: Path) -> None:
    ep = EpisodicMemory(store, EMB)
    assert ep.write_chunks(VID, noisy(), chunk_spans(12.0))[1] == 2
    texts = [r.text for r in ep.list(VID)]
    assert texts == ["objects: person x2", "ocr: O\nobjects: car\ntags: bow tie"]
    assert sources_of(texts) == ["text on screen", "objects", "tags"]

    found = {s.name: s for s in entities_from_observations(noisy(), floor=LabelFloor())}
    assert set(found) == {"person", "car", "bow tie"}  # no tag noise, no one-letter OCR
    assert (found["person"].count, found["person"].best) == (2, 0.8)

    # an older build kept every label; rebuilding with the floor drops them, mirrors included
    sem = SemanticMemory.for_store(store, EMB, tmp_path, floor=LabelFloor(tag=0.0))
    sem.add_observations(VID, noisy())
    assert {e.name for e in sem.graph(VID).entities()} >= {"fireboat", "dhole"}
    with sem.editing(VID) as g:  # a fact about a noisy label keeps it
        g.add_fact("the dhole is a toy", entities=["dhole"], spans=[(3.0, 3.0)])
    sem = SemanticMemory.for_store(store, EMB, tmp_path)
    assert sem.add_observations(VID, noisy()) == 3
    names = {e.name for e in sem.graph(VID).entities()}
    assert names == {"person", "car", "bow tie", "dhole"}
    mirrored = {str(r.meta.get("entity")) for r in sem.list(VID, level="entity")}
    assert mirrored == names
    person = sem.graph(VID).find("person")
    assert person is not None and person.count == 2 and person.spans == [(1.0, 2.0)]


def test_summary_without_words_lists_what_was_detected(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    floor = LabelFloor()
    obs = [x for x in noisy() if x.kind != "ocr"] + [o(70.0, "object", label="dog", score=0.5)]
    version, _ = ep.write_chunks(VID, obs, chunk_spans(80.0))
    run = ep.summarize(VID, NoModel(), chunk_version=version, segment_seconds=60)
    assert run.model_calls == 0 and run.built_from == ["objects", "tags"]
    assert run.video is not None
    assert run.video.text == (
        "No speech or on-screen text. Detected: person (00:00.0-00:04.0), "
        "bow tie (00:08.0-00:12.0), car (00:08.0-00:12.0), dog (01:08.0-01:12.0)."
    )
    assert run.video.meta["built_from"] == "objects, tags" and run.video.meta["model"] == "none"
    assert [s.text for s in run.segments][1] == "No speech or on-screen text. Detected: dog."
    assert "fireboat" not in run.video.text and floor.tag > 0.3


def test_title_cards_are_quoted_not_narrated(store: ChromaStore) -> None:
    """On-screen text without speech (Big Buck Bunny's titles) is quoted, never a story."""
    ep = EpisodicMemory(store, EMB)
    obs = [
        o(18.0, "object", label="bird", score=0.8),
        o(22.0, "ocr", "THE PEACH OPEN MOVIE PROJECT"),
        o(22.5, "ocr", "PRESENTS"),
    ]
    version, _ = ep.write_chunks(VID, obs, chunk_spans(30.0))
    run = ep.summarize(VID, NoModel(), chunk_version=version)
    assert run.built_from == ["text on screen", "objects"] and run.model_calls == 0
    assert run.video is not None and run.video.text == (
        'No speech. On screen: "THE PEACH OPEN MOVIE PROJECT", "PRESENTS". '
        "Detected: bird (00:16.0-00:20.0)."
    )


def test_summary_with_words_says_what_it_was_built_from(store: ChromaStore) -> None:
    ep = EpisodicMemory(store, EMB)
    obs = [*noisy()[:-1], o(65.0, "speech", "the vault closes at dawn")]
    version, _ = ep.write_chunks(VID, obs, chunk_spans(80.0))
    chat = EchoModel()
    run = ep.summarize(VID, chat, chunk_version=version, segment_seconds=60)
    # one map call (the segment with speech) and the reduce; the wordless segment needs none
    assert run.model_calls == 2 and len(chat.prompts) == 2
    assert run.built_from == ["speech", "objects", "tags"]
    assert "speech: the vault closes at dawn" in chat.prompts[0]
    assert all("fireboat" not in p and "dhole" not in p for p in chat.prompts)
    segs = {s.t_start: s for s in run.segments}
    assert segs[0.0].meta["built_from"] == "objects, tags" and segs[0.0].meta["model"] == "none"
    assert segs[0.0].text == "No speech or on-screen text. Detected: person, bow tie, car."
    assert segs[64.0].text == "speech: the vault closes at dawn"
    assert run.video is not None and run.video.meta["model"] == "echo"
    again = ep.summarize(VID, chat, chunk_version=version, segment_seconds=60)
    assert again.cached and again.built_from == run.built_from and len(chat.prompts) == 2


def _build(tmp_path: Path) -> None:
    with ChromaStore.open_embedded(tmp_path) as cs:
        sem = SemanticMemory.for_store(cs, EMB, tmp_path)
        sem.add_observations(VID, [*noisy(), o(40.0, "ocr", "HARBOUR MUSEUM")])
        ses = SessionMemory(cs, EMB)
        ses.remember(
            VID, "The museum opens at nine", evidence=[(40.0, 41.0)], question="When does it open?"
        )
        ses.remember(
            VID,
            "The car is red",
            evidence=[(9.0, 10.0)],
            question="What colour is the car?",
            entities=["car"],
            semantic=sem,
        )
        ses.remember(
            VID, "A person walks by", evidence=[(1.0, 2.0)], question="What colour is the coat?"
        )


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_entities_table_filters_and_json(tmp_path: Path, capsys) -> None:
    _build(tmp_path)
    st = ("--store", str(tmp_path))
    code, out, _ = _cli(capsys, "memory", "entities", VID, *st)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "kind", "count", "first", "last", "facts"]
    assert lines[1].split() == ["person", "object", "2", "00:01.00", "00:02.00", "0"]
    assert any(ln.split()[:3] == ["car", "object", "1"] and ln.endswith("1") for ln in lines)
    assert "{" not in out and "[" not in out  # a table, never a Python repr

    code, out, _ = _cli(capsys, "memory", "entities", VID, "--kind", "on-screen text", *st)
    assert out.splitlines()[1].startswith("HARBOUR MUSEUM") and "(1 of 4 entities shown)" in out
    code, out, _ = _cli(capsys, "memory", "entities", VID, "--min-count", "2", "--json", *st)
    doc = json.loads(out)
    assert [e["name"] for e in doc["entities"]] == ["person"]
    assert doc["entities"][0] | {"spans": None} == {
        "name": "person",
        "kind": "object",
        "count": 2,
        "first_seen": 1.0,
        "last_seen": 2.0,
        "best_score": 0.8,
        "aliases": [],
        "spans": None,
        "facts": [],
    }
    code, out, _ = _cli(capsys, "memory", "entities", VID, "--match", "CA", "--facts", *st)
    assert "car" in out and "    - The car is red" in out and "person" not in out
    code, out, _ = _cli(capsys, "memory", "entities", VID, "--match", "unicorn", *st)
    assert code == 0 and out.strip() == f"no entities of {VID} match"
    code, _, err = _cli(capsys, "memory", "entities", VID, "--min-count", "0", *st)
    assert code == 2 and err.strip() == "vidsleuth: error: --min-count 0: must be 1 or more"


def test_forget_by_id_question_and_all(tmp_path: Path, capsys) -> None:
    _build(tmp_path)
    st = ("--store", str(tmp_path))

    def facts() -> list[str]:
        with ChromaStore.open_embedded(tmp_path) as cs:
            return [r.text for r in SessionMemory(cs, EMB).facts(VID)]

    # ambiguous or missing selections: one line, exit 2, nothing deleted
    for args, msg in [
        ((), "say what to forget: --all, --question TEXT or --id ID (one)"),
        (("--all", "--id", "x"), "say what to forget: --all, --question TEXT or --id ID (one)"),
        (("--question", "what colour"), "'what colour' is part of 2 different questions"),
        (("--question", "who won?"), "no remembered fact of"),
        (("--id", "s"), "s: ambiguous fact id prefix (3 matches)"),
        (("--id", "nope"), "nope: no remembered fact of"),
    ]:
        code, out, err = _cli(capsys, "memory", "forget", VID, *args, *st)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, err)
        assert msg in err, (args, err)
    assert len(facts()) == 3

    code, out, _ = _cli(
        capsys, "memory", "forget", VID, "--question", "what colour is the CAR?", *st
    )
    assert code == 0 and out.splitlines()[-1] == f"forgot 1 session fact of {VID}"
    assert "The car is red  (question: What colour is the car?)" in out
    assert sorted(facts()) == ["A person walks by", "The museum opens at nine"]
    code, out, _ = _cli(capsys, "memory", "entities", VID, "--match", "car", "--json", *st)
    assert json.loads(out)["entities"][0]["facts"] == []  # the graph copy went too

    with ChromaStore.open_embedded(tmp_path) as cs:
        rid = next(r.id for r in SessionMemory(cs, EMB).facts(VID) if "museum" in r.text)
    code, out, _ = _cli(capsys, "memory", "forget", VID, "--id", rid[:12], "--json", *st)
    assert [f["fact"] for f in json.loads(out)["forgotten"]] == ["The museum opens at nine"]

    code, out, _ = _cli(capsys, "memory", "forget", VID, "--all", *st)
    assert code == 0 and "forgot 1 session fact" in out and facts() == []
    code, out, _ = _cli(capsys, "memory", "forget", VID, "--all", *st)
    assert code == 0 and out.strip() == f"forgot 0 session facts of {VID}"


def test_summary_command_prints_text_not_a_repr(tmp_path: Path, capsys) -> None:
    from vidsleuth.tools.models.factory import load_text_embedder

    with ChromaStore.open_embedded(tmp_path) as cs:  # the CLI reads the default text space
        ep = EpisodicMemory(cs, load_text_embedder(Settings(store=tmp_path)))
        version, _ = ep.write_chunks(VID, noisy()[:2], chunk_spans(8.0))
        ep.summarize(VID, NoModel(), chunk_version=version)
    st = ("--store", str(tmp_path))
    code, out, _ = _cli(capsys, "memory", "summary", VID, *st)
    assert code == 0
    assert out.splitlines() == [
        f"video {VID}, built from: objects",
        "No speech or on-screen text. Detected: person (00:00.0-00:04.0).",
        "  00:00.00-00:04.00  No speech or on-screen text. Detected: person.",
    ]
    code, out, _ = _cli(capsys, "memory", "summary", VID, "--json", *st)
    assert json.loads(out)["built_from"] == ["objects"]
    code, _, err = _cli(capsys, "memory", "summary", VID, "--store", str(tmp_path / "none"))
    assert code == 2 and "neither a video file nor a video id" in err


def test_a_write_reads_like_a_write_in_the_trace() -> None:
    from vidsleuth.agent.cli.ask import describe_step

    entry = {
        "node": "act",
        "tool": "remember_fact",
        "args": {"fact": "the vault closes at dawn"},
        "found": 0,
        "write": True,
        "note": "remembered 'the vault closes at dawn' as s123",
    }
    (line,) = describe_step("act", {"trace": [entry]})
    assert line == "  [act] remember_fact: remembered 'the vault closes at dawn' as s123"
    search = {"node": "act", "tool": "search_memory", "args": {"query": "vault"}, "found": 0}
    assert describe_step("act", {"trace": [search]}) == ["  [act] search_memory 'vault': 0 found"]


@pytest.mark.slow
def test_real_clip_tags_below_the_floor_are_not_entities(shared_videos: Path) -> None:
    """Big Buck Bunny's meadow: the detector's bird stays, ImageNet's guesses do not."""
    from vidsleuth.tools.perception.objects import ObjectPerceiver
    from vidsleuth.tools.perception.tags import TagPerceiver
    from vidsleuth.tools.video import sample_frames

    frames = sample_frames(
        str(shared_videos / "big_buck_bunny_0_30.webm"), [t + 0.5 for t in range(30)], max_side=640
    )
    obs = TagPerceiver().perceive_frames(frames) + ObjectPerceiver().perceive_frames(frames)
    assert len({x.label for x in obs if x.kind == "tag"}) > 20  # the taggers do guess a lot
    names = {s.name for s in entities_from_observations(obs, floor=LabelFloor())}
    assert "bird" in names and not names & {x.label for x in obs if x.kind == "tag"}
