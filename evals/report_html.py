"""``report.html`` beside ``report.md``: the same tables as HTML, the plots inline, and one page
per question (``questions/<uid>.html``) with its options, answers, evidence and trace.

Nothing is fetched from a network: styles are inline, plots are data URIs, and the pages carry
the evidence view's Content-Security-Policy.  Every piece of text is escaped (question and
option text comes from the benchmark data and may hold markup).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vidsleuth.agent.evidence_view import _CSS, _csp, trace_rows
from vidsleuth.evals.runner import RESULTS_FILE, read_questions, read_results

HTML_FILE = "report.html"
QUESTIONS_DIR = "questions"
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")
_INLINE = re.compile(r"`([^`]*)`|\*\*(.+?)\*\*")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def safe_uid(uid: Any) -> str:
    """A file name for a question's page: the uid's safe characters, plus a hash when any were
    replaced (so two uids never share a page)."""
    text = str(uid)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80].lstrip(".") or "q"
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return safe


def _inline(text: str) -> str:
    """Escape ``text`` and turn markdown code spans and bold into tags."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(_e(text[pos : m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{_e(m.group(1))}</code>")
        else:
            out.append(f"<b>{_e(m.group(2))}</b>")
        pos = m.end()
    out.append(_e(text[pos:]))
    return "".join(out)


def _cells(line: str) -> list[str]:
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    cells = re.split(r"(?<!\\)\|", body)
    return [c.strip().replace("\\|", "|") for c in cells]


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def markdown_to_html(md: str, folder: Path) -> str:
    """The small markdown subset ``report.md`` uses: headings, lists, tables, paragraphs and
    images (read from ``folder`` and embedded as data URIs)."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            head, body = rows[0], [r for r in rows[1:] if not all(set(c) <= {"-"} for c in r)]
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body
                )
                + "</tbody></table>"
            )
            continue
        elif m := _IMAGE.match(line.strip()):
            uri = _data_uri(folder / m.group(2))
            if uri:
                out.append(f'<p><img src="{uri}" alt="{_e(m.group(1))}"></p>')
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_csp()}\">"
        f"<title>{_e(title)}</title><style>{_CSS}\nimg {{ max-width:100%; }}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _conf(x: Any) -> str:
    return f"{float(x):.3f}" if isinstance(x, int | float) else "-"


def _question_page(q: dict[str, Any], r: dict[str, Any] | None, run: dict[str, Any]) -> str:
    r = r or {}
    answer, gold = r.get("answer"), q.get("answer")
    opts = "".join(
        f"<li class='{'chosen' if k == answer else ''}'><b>{_e(k)}</b>. {_e(v)}"
        f"{' (gold)' if k == gold else ''}</li>"
        for k, v in (q.get("options") or {}).items()
    )
    facts = [
        ("gold", gold),
        ("answer", answer if answer is not None else "-"),
        ("correct", "yes" if answer is not None and answer == gold else "no"),
        ("confidence", _conf(r.get("confidence"))),
        ("answered by", r.get("answered_by") or "unreported"),
        ("stop reason", r.get("stop_reason") or "-"),
        ("video", q.get("video_key") or "-"),
        ("categories", ", ".join(map(str, q.get("categories") or [])) or "-"),
        ("reference spans", _spans(q.get("reference_spans"))),
        ("evidence spans", _spans(r.get("evidence"))),
        ("tools used", ", ".join(f"{k}×{v}" for k, v in (r.get("tools_used") or {}).items())),
        ("cost", ", ".join(f"{k} {v}" for k, v in (r.get("cost") or {}).items())),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v if v != '' else '-')}</dd>" for k, v in facts)
    trace = "".join(
        f"<tr class='{'failed' if t.failed else ''}'><td>{t.round}</td><td>{_e(t.node)}</td>"
        f"<td>{_e(t.what)}</td><td class='args'>{_e(t.args)}</td><td>{_e(t.result)}</td>"
        f"<td>{t.tokens or ''}</td></tr>"
        for t in trace_rows([t for t in r.get("trace") or [] if isinstance(t, dict)])
    )
    return _page(
        f"{q['uid']}: {run.get('method', '')}",
        f"<p class='meta'><a href='../{HTML_FILE}'>back to the report</a></p>"
        f"<h1>Question {_e(q['uid'])}</h1>"
        f"<p class='meta'>{_e(run.get('task', ''))}: method {_e(run.get('method', ''))}</p>"
        f"<div class='card'><p>{_e(q.get('question', ''))}</p><ol class='options'>{opts}</ol></div>"
        f"<h2>Answer</h2><div class='card'><dl class='cost'>{dl}</dl></div>"
        "<h2>Trace</h2><table><thead><tr><th>round</th><th>node</th><th>what</th><th>args</th>"
        f"<th>result</th><th>tokens</th></tr></thead><tbody>{trace}</tbody></table>",
    )


def _spans(spans: Any) -> str:
    out = []
    for s in spans or []:
        try:
            out.append(f"{float(s[0]):.1f}-{float(s[1]):.1f} s")
        except (TypeError, ValueError, IndexError):
            out.append(str(s))
    return ", ".join(out) or "-"


def write_page(out: Path, title: str, md: str) -> Path:
    """``report.html`` in ``out`` from a report's markdown alone (the side-by-side comparison)."""
    path = Path(out) / HTML_FILE
    path.write_text(_page(title, markdown_to_html(md, Path(out))), "utf-8")
    return path


def write_html_report(out: Path, s: dict[str, Any], md: str) -> Path:
    """Write ``report.html`` (from the report's markdown and summary) and the question pages."""
    out = Path(out)
    run = s["run"]
    summary_md, _, _ = md.partition("\n## Per question\n")
    questions = {q["uid"]: q for q in read_questions(out)}
    rows = read_results(out / RESULTS_FILE)
    pages = out / QUESTIONS_DIR
    pages.mkdir(exist_ok=True)
    table = []
    for p in s["per_question"]:
        uid = p["uid"]
        name = safe_uid(uid)
        (pages / f"{name}.html").write_text(
            _question_page(questions.get(uid) or {"uid": uid}, rows.get(uid), run),
            encoding="utf-8",
        )
        secs = p["seconds"]
        cells = [
            f"<a href='{_e(QUESTIONS_DIR + '/' + quote(name) + '.html')}'>{_e(uid)}</a>",
            _e(", ".join(p["categories"])),
            _e(p["gold"]),
            _e(p["answer"] or "-"),
            "yes" if p["correct"] else "no",
            _conf(p["confidence"]),
            _e(p["answered_by"]),
            _e(", ".join(f"{k}×{v}" for k, v in sorted(p["tools_used"].items())) or "-"),
            f"{secs:.1f}" if isinstance(secs, int | float) else "-",
            _e(p["stop_reason"] or "-"),
        ]
        table.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = [
        "uid",
        "categories",
        "gold",
        "answer",
        "right",
        "confidence",
        "answered_by",
        "tools",
        "s",
        "stop",
    ]
    body = (
        markdown_to_html(summary_md, out)
        + "\n<h2>Per question</h2><table><thead><tr>"
        + "".join(f"<th>{_e(h.replace('_', ' '))}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "\n".join(table)
        + "</tbody></table>"
    )
    path = out / HTML_FILE
    path.write_text(_page(f"{run.get('task', '')}: {run.get('method', '')}", body), "utf-8")
    return path
