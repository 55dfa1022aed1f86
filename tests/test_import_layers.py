"""The layers import one way only: the import-linter contracts of pyproject.toml hold.

Same check as ``make lint`` (``lint-imports``).  grimp, which import-linter builds its graph with,
finds modules by walking the package's folder, and the folders ``agent/ tools/ ...`` are not
inside ``vidsleuth/`` (setup.py maps them), so the check runs over a symlinked view of the
package: ``vidsleuth/`` holding the core modules and one link per mapped folder.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def mapped_folders() -> tuple[str, ...]:
    """``FOLDERS`` of setup.py: the root folders installed as ``vidsleuth.<folder>``."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "FOLDERS" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("setup.py defines no FOLDERS")


def package_view(dest: Path) -> Path:
    """``dest/vidsleuth``: the installed package's layout, made of links into the repository."""
    pkg = dest / "vidsleuth"
    pkg.mkdir(parents=True)
    for f in (ROOT / "vidsleuth").glob("*.py"):
        (pkg / f.name).symlink_to(f)
    for folder in mapped_folders():
        (pkg / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return dest


def broken_contracts(output: str) -> str:
    """The part of lint-imports' report naming the broken contracts and their import chains."""
    _, sep, tail = output.partition("Broken contracts")
    return (sep + tail).strip() if sep else output.strip()


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    lint = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert lint, "lint-imports is missing: `make install` installs the dev extra (import-linter)"
    view = package_view(tmp_path / "view")
    # Run inside the view: lint-imports puts its working directory first on sys.path, so the
    # repository root (whose vidsleuth/ holds only the core modules) must not be it.
    res = subprocess.run(
        [lint, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=view,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        pytest.fail(
            "an import crosses the layers (a lower layer imports a higher one); move the code or "
            "the import, do not loosen the contract:\n" + broken_contracts(res.stdout + res.stderr),
            pytrace=False,
        )
