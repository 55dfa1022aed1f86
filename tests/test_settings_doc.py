"""The README's settings table is the one generated from the Settings model, so a new, renamed
or re-defaulted setting cannot go undocumented; and what the table says is how settings load."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsleuth.settings import Settings
from vidsleuth.settings_doc import readme_table, settings_rows, settings_table, write_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_matches_the_settings_model() -> None:
    table = readme_table(README.read_text(encoding="utf-8"))
    assert table is not None, "README.md lost its settings table markers"
    assert table == settings_table(), (
        "README.md's settings table is out of date: run "
        "`python -m vidsleuth.settings_doc --write README.md`"
    )


def test_every_setting_is_described_with_its_environment_variable() -> None:
    rows = settings_rows()
    assert [r[0] for r in rows] == list(Settings.model_fields)
    for name, env, default, description in rows:
        assert env == f"VIDSLEUTH_{name.upper()}"
        assert description, f"setting {name!r} has no description"
        assert default
    by_name = {r[0]: r for r in rows}
    assert (
        by_name["agent_max_rounds"][2] == f"`{Settings.model_fields['agent_max_rounds'].default}`"
    )
    assert by_name["chat_model_sha256"][2] == "unset"
    assert "one of `llamacpp`" in by_name["chat_backend"][3]
    assert "~/.cache/vidsleuth" in by_name["store"][2]  # computed default: how, not this host's


def test_the_table_loads_as_it_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSLEUTH_AGENT_MAX_ROUNDS", "2")
    monkeypatch.setenv("VIDSLEUTH_AGENT_STOP_WEIGHTS", "[0.8, 0, 0.7, 0.9, -1, -0.9]")
    s = Settings()
    assert s.agent_max_rounds == 2
    assert s.agent_stop_weights == (0.8, 0.0, 0.7, 0.9, -1.0, -0.9)


def test_write_replaces_only_the_table(tmp_path: Path) -> None:
    from vidsleuth.settings_doc import BEGIN, END

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{BEGIN}\n| old |\n{END}\nafter\n")
    assert write_readme(readme) is True
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert readme_table(text) == settings_table()
    assert write_readme(readme) is False  # up to date: untouched
