"""The README's Python API example runs as written: indexing, asking, reading the evidence and
the trace, the evidence page, continuing a session in the same and in a new agent.  Only the
models are replaced (a scripted chat model, tools over a scripted world) and the video is a
real clip named as the example names it."""

from __future__ import annotations

import re

from conftest import REPO
from view_world import clip_chat, clip_registry, clip_video


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    marker = "<!-- executed by tests/test_readme_python.py -->"
    assert marker in text, "the README lost its tested Python example"
    block = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    import vidsleuth.tools.models.factory as factory
    import vidsleuth.tools.registry as registry

    code = readme_example()
    video = re.search(r'^video = "([^"]+)"$', code, re.M).group(1)
    (tmp_path / video).symlink_to(clip_video(tmp_path).resolve())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDSLEUTH_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("VIDSLEUTH_PERCEIVERS", "subtitles")  # no perception models to load
    monkeypatch.setattr(factory, "load_chat_model", lambda settings: clip_chat())
    monkeypatch.setattr(registry, "default_registry", lambda **kw: clip_registry())

    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})

    out = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(r"frames \d+ \d+", line) for line in out)  # indexing progress
    assert "B at nine 0.96 confident model" in out
    assert "9.0-10.0 s: the last timecode read" in out
    assert any(line.startswith("act inspect_interval {'t_start': 7.5") for line in out)
    assert "B True" in out  # the session continued
    assert out[-1] in ("A", "B")  # a new agent answered in the same session
    page = (tmp_path / "answer.html").read_text()
    assert "When does the shop open?" in page and "<video" in page and "class='thumb'" in page
