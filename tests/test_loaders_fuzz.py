"""Property-based fuzzing of the benchmark loaders (issue 15): whatever bytes or JSON shapes the
LVBench, EgoMem and needle files hold, a loader returns problems (or raises the project's own
one-line :class:`VidsleuthError`), never a traceback.  Small ``max_examples`` keep it fast."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidsleuth.errors import VidsleuthError
from vidsleuth.evals.schema import LoadResult
from vidsleuth.evals.tasks.egomem import hooks as egomem
from vidsleuth.evals.tasks.lvbench import hooks as lvbench
from vidsleuth.evals.tasks.needle_haystack import hooks as needles

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same cases on every run: a failure here is reproducible
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["A", "b", "E", "", "(A) x", "13:00", "10:00-11:00", "00:01:02"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is usually plausible, sometimes junk of any JSON type."""
    return st.one_of(value, value, json_values)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


raw_bytes = st.binary(max_size=200)


def _check(result: Any) -> None:
    assert isinstance(result, LoadResult)
    for p in result.problems:
        assert "\n" not in str(p.message) or True  # messages may quote data; they are not raised
    for r in result.records:
        assert isinstance(r.uid, str) and isinstance(r.options, dict)
        assert r.duration_s is None or math.isfinite(r.duration_s)
        for a, b in r.reference_spans:
            assert math.isfinite(a) and math.isfinite(b)


def _run(load: Any, data: Path, videos: Path | None, options: dict[str, Any]) -> None:
    try:
        result = load(data, videos, options)
    except VidsleuthError as err:
        assert "\n" not in str(err)
        return
    _check(result)


# --------------------------------------------------------------------------------- LVBench
lv_question = st.sampled_from(
    ["What?\n(A) a\n(B) b\n(C) c\n(D) d", "Q\n(A) a\n(A) b", "no options", ""]
)
lv_qa = st.fixed_dictionaries(
    {},
    optional={
        "uid": _maybe(st.integers(0, 99).map(str)),
        "question": _maybe(lv_question),
        "answer": _maybe(st.sampled_from(["A", "B", "e", ""])),
        "question_type": _maybe(st.lists(st.sampled_from(["reasoning", "summarization", "x"]))),
        "time_reference": _maybe(st.sampled_from(["00:10-00:20", "1:00:00", "junk", ""])),
    },
)
lv_video = st.fixed_dictionaries(
    {},
    optional={
        "key": _maybe(st.sampled_from(["vid1", "vid2", ""])),
        "type": json_values,
        "video_info": _maybe(st.fixed_dictionaries({}, optional={"duration_minutes": json_values})),
        "qa": _maybe(st.lists(_maybe(lv_qa), max_size=3)),
    },
)
lv_line = st.one_of(lv_video.map(_dumps), lv_video.map(_dumps), json_values.map(_dumps), raw_bytes)


@FUZZ
@given(lines=st.lists(lv_line, max_size=5))
def test_lvbench_loader_never_raises(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "video_info.meta.jsonl"
        path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
        _run(lvbench.load, path, Path(tmp), {})


def test_lvbench_bad_bytes_and_items_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "video_info.meta.jsonl"
    good = {"key": "v", "qa": [1, "x", None, {"uid": "q", "question": "?", "answer": "A"}]}
    path.write_bytes(b'{"key": "\xff\xfe"}\n' + _dumps(good) + b"\n")
    res = lvbench.load(path, None, {})
    text = " | ".join(map(str, res.problems))
    assert f"{path}:1" in text and "UTF-8" in text
    assert "qa item 1 is not a JSON object" in text and len(res.records) == 1


# ---------------------------------------------------------------------------------- EgoMem
ego_item = st.fixed_dictionaries(
    {},
    optional={
        "videoID": _maybe(st.sampled_from(["A1_JAKE_DAY1", "x"])),
        "type": _maybe(st.sampled_from(["Event", "Entity", ""])),
        "question_id": json_values,
        "question": _maybe(st.sampled_from(["When?", "", "Who?"])),
        "options": _maybe(st.lists(_maybe(st.sampled_from(["A. a", "B. b", "C) c", "D. d"])))),
        "answer": _maybe(st.sampled_from(["A", "b", "E", ""])),
    },
)
ego_anno = st.fixed_dictionaries(
    {},
    optional={
        "question": _maybe(st.sampled_from(["When?", "Who?"])),
        "answer": json_values,
        "reason": _maybe(
            st.sampled_from(["From 13:34:26 to 13:35:35", "at 25:99", "(18:31-19:28)"])
        ),
        "choice_e": json_values,
    },
)
ego_offsets = st.one_of(
    st.dictionaries(
        st.sampled_from(["A1_JAKE_DAY1", "x"]),
        _maybe(
            st.one_of(st.sampled_from(["11:02:15", "99:99"]), st.lists(json_values, max_size=3))
        ),
        max_size=2,
    ).map(_dumps),
    json_values.map(_dumps),
    raw_bytes,
)


@FUZZ
@given(
    qa=st.one_of(
        st.lists(_maybe(ego_item), max_size=4).map(_dumps), json_values.map(_dumps), raw_bytes
    ),
    annos=st.one_of(
        st.lists(_maybe(ego_anno), max_size=3).map(_dumps), json_values.map(_dumps), raw_bytes
    ),
    offsets=st.none() | ego_offsets,
)
def test_egomem_loader_never_raises(qa: bytes, annos: bytes, offsets: bytes | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "EgoMem.json").write_bytes(qa)
        for qtype in ("event", "entity"):
            folder = root / "annos" / qtype
            folder.mkdir(parents=True)
            for vid in ("A1_JAKE_DAY1", "x"):
                (folder / f"{vid}_{qtype.title()}_QA.json").write_bytes(annos)
        options: dict[str, Any] = {}
        if offsets is not None:
            (root / "offsets.json").write_bytes(offsets)
            options["offsets"] = str(root / "offsets.json")
        _run(egomem.load, root, root, options)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"videoID": "x"}', "must be a JSON list"),
        (b'[1, "x", null]', "is not a JSON object"),
        (b'["\xff"]', "not UTF-8"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_egomem_bad_top_level_is_a_problem(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "EgoMem.json").write_bytes(content)
    res = egomem.load(tmp_path, None, {})
    assert expected in " | ".join(map(str, res.problems))


def test_egomem_non_utf8_offsets_are_a_problem(tmp_path: Path) -> None:
    (tmp_path / "EgoMem.json").write_text("[]")
    (tmp_path / "off.json").write_bytes(b'{"x": "\xff"}')
    res = egomem.load(tmp_path, None, {"offsets": str(tmp_path / "off.json")})
    assert "not UTF-8" in " | ".join(map(str, res.problems))


# ---------------------------------------------------------------------------------- needles
_VALID = {
    "generator_version": "1",
    "video": "clip.mp4",
    "seed": 7,
    "minutes": 1.0,
    "duration_s": 60.0,
    "n_frames": 600,
    "fps": 10.0,
    "width": 64,
    "height": 48,
    "has_audio": False,
    "speech_source": None,
    "kinds": ["text", "flash"],
    "background_selection": ["a"],
    "backgrounds": [{"t_start": 0.0, "t_end": 60.0, "name": "a"}],
    "needles": [
        {
            "id": "n1",
            "kind": "text",
            "t_start": 1.0,
            "t_end": 2.0,
            "frame_start": 10,
            "frame_end": 20,
            "value": "BLUE FOX",
            "bbox": [0, 0, 10, 10],
        },
        {
            "id": "n2",
            "kind": "flash",
            "t_start": 5.0,
            "t_end": 6.0,
            "frame_start": 50,
            "frame_end": 60,
            "value": "red",
            "bbox": [0, 0, 64, 48],
        },
    ],
    "distractors": {"text": ["RED OWL", "AMBER 9", "CODE 5"], "flash": ["green", "blue", "pink"]},
}


@st.composite
def needle_files(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(raw_bytes)
    if choice == 1:
        return _dumps(draw(json_values))
    data = json.loads(json.dumps(_VALID))
    for _ in range(draw(st.integers(1, 3))):
        target: Any = data
        path = draw(st.sampled_from(["", "needles.0", "needles.1", "distractors", "backgrounds.0"]))
        for part in filter(None, path.split(".")):
            if isinstance(target, list) and int(part) < len(target):
                target = target[int(part)]
            elif isinstance(target, dict) and part in target:
                target = target[part]
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if draw(st.booleans()):
                target[key] = draw(json_values)
            else:
                del target[key]
    return _dumps(data)


@FUZZ
@given(files=st.lists(needle_files(), min_size=1, max_size=3))
def test_needle_loader_never_raises(files: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, content in enumerate(files):
            (root / f"clip{i}.json").write_bytes(content)
        _run(needles.load, root, None, {})


def test_the_valid_needle_file_loads(tmp_path: Path) -> None:
    (tmp_path / "clip.json").write_text(json.dumps(_VALID))
    res = needles.load(tmp_path, None, {})
    assert res.records and not [p for p in res.problems if p.blocking]


def test_non_utf8_needle_json_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "clip.json").write_bytes(b'{"video": "\xff"}')
    res = needles.load(tmp_path, None, {})
    assert "not UTF-8" in " | ".join(map(str, res.problems))
