"""Packaging rules: the folders install as ``vidsleuth.*`` only, and importing stays light."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "chromadb", "cv2", "av", "decord", "xllamacpp", "langgraph")


def _run(code: str, cwd: str = "/") -> subprocess.CompletedProcess[str]:
    # Run from / so the repository folders on the path cannot mask what was installed.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def test_agent_and_the_whole_cli_import_no_heavy_library() -> None:
    code = (
        "import sys, vidsleuth.agent, vidsleuth.agent.cli.main as m; m._register_all(); "
        f"heavy = [x for x in {HEAVY!r} if x in sys.modules]; print(heavy); assert not heavy"
    )
    res = _run(code)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_top_level_agent_or_tools_packages_are_installed() -> None:
    code = (
        "import importlib.util as u; "
        "names = ['agent', 'tools', 'memory', 'graphs', 'evals']; "
        "found = [n for n in names if u.find_spec(n) is not None]; print(found); "
        "assert not found; "
        "assert all(u.find_spec('vidsleuth.' + n) is not None for n in names)"
    )
    res = _run(code)
    assert res.returncode == 0, res.stdout + res.stderr
