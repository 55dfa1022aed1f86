"""``report.html``: self-contained (no network), plots inline, a page per question, and
question text from the data escaped."""

from __future__ import annotations

import re
from pathlib import Path

from test_evals_runner import write_meta

from vidsleuth.agent.cli.main import main
from vidsleuth.evals.report_html import safe_uid


def test_html_report_links_every_question_and_escapes(tmp_path: Path) -> None:
    meta, out = write_meta(tmp_path, 1), tmp_path / "out"
    text = meta.read_text().replace("Q0.1?", "Q0.1 <script>alert(1)</script>?")
    meta.write_text(text)
    args = ["eval", "lvbench", "--data", str(meta), "--method", "random", "--out", str(out)]
    assert main(args) == 0
    assert main(["eval", "report", str(out)]) == 0

    page = (out / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert '<img src="data:image/png;base64,' in page
    links = re.findall(r"href='(questions/[^']+\.html)'", page)
    assert len(links) == 4
    for link in links:
        assert (out / link).is_file()

    q = (out / "questions" / f"{safe_uid('1')}.html").read_text(encoding="utf-8")
    assert "<script>" not in q and "&lt;script&gt;alert(1)&lt;/script&gt;" in q
    assert "http://" not in q and "https://" not in q
    assert "random" in q and "stop reason" in q


def test_safe_uid_never_collides() -> None:
    assert safe_uid("abc-1") == "abc-1"
    assert safe_uid("a/b") != safe_uid("a_b")
    assert "/" not in safe_uid("../../etc") and not safe_uid("../x").startswith(".")
