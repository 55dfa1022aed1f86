"""``vidsleuth ask`` (one question) and ``vidsleuth chat`` (a session read from stdin).

Steps stream live to stderr; stdout carries the answer (or, with ``--json``, one JSON document
per question and nothing else).  Options follow ``--options`` as separate words:
``vidsleuth ask clip.mp4 "What colour is the car?" --options red blue green white``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vidsleuth.agent.cli.common import (
    JsonOpt,
    StoreOpt,
    check_video_ref,
    print_json,
    settings,
)

SessionOpt = Annotated[
    str | None, typer.Option("--session", help="continue this session (its id is printed)")
]
RoundsOpt = Annotated[int | None, typer.Option("--max-rounds", help="investigation rounds")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="do not stream the steps")]
HtmlFileOpt = Annotated[
    Path | None,
    typer.Option("--html", help="also write the evidence view (one self-contained HTML page)"),
]
HtmlDirOpt = Annotated[
    Path | None,
    typer.Option("--html", help="also write an evidence page per question into this folder"),
]
ConfirmOpt = Annotated[
    bool, typer.Option("--confirm", help="ask before expensive steps (zooming into the video)")
]


def describe_step(node: str, update: dict[str, Any]) -> list[str]:
    """One-line summaries of what a step did, for the live stream."""
    from vidsleuth.graphs.prompts import fmt_span

    lines = []
    for t in update.get("trace") or []:
        if not isinstance(t, dict):
            continue
        if "tool" in t:
            a = t.get("args", {})
            where = f" {fmt_span(a['t_start'], a['t_end'])}" if "t_start" in a else ""
            what = f" {a['query']!r}" if "query" in a else ""
            if "error" in t:
                res = f"error: {t['error']}"
            elif t.get("write"):  # remember_fact: say what was written, not "0 found"
                res = str(t.get("note") or "written")
            else:
                res = f"{t.get('found', 0)} found"
            if t.get("frames_decoded"):
                res += f", {t['frames_decoded']} frames decoded"
            lines.append(f"{t['tool']}{what}{where}: {res}")
        elif "model" in t:
            res = f"error: {t['error']}" if "error" in t else f"{t.get('tokens', 0)} tokens"
            reply = t.get("reply")
            if isinstance(reply, dict):
                if "answer" in reply:
                    shown = reply["answer"]
                elif "kind" in reply:
                    shown = f"{reply.get('kind')} about {reply.get('target')!r}"
                else:
                    shown = reply.get("action")
                calls = [c.get("tool") for c in reply.get("calls") or [] if isinstance(c, dict)]
                res += f" -> {shown}" + (f" + calls {', '.join(map(str, calls))}" if calls else "")
            lines.append(f"model: {res}")
        elif "decision" in t:
            lines.append(t["decision"])
        elif node == "reduce" and "confidence" in t:
            lines.append(
                f"answer {t.get('answer') or '?'} confidence {t['confidence']:.2f}"
                f" (agreement {t.get('agreement', 0):.2f}, stated {t.get('stated', 0):.2f}, "
                f"margin {t.get('margin', 0):.2f})"
                + (f", stop: {t['stop']}" if t.get("stop") else "")
            )
    return [f"  [{node}] {line}" for line in lines]


def _stream(quiet: bool) -> Any:
    if quiet:
        return None

    def on_step(node: str, update: dict[str, Any]) -> None:
        for line in describe_step(node, update):
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return on_step


def _confirm(payload: dict[str, Any]) -> bool:
    from vidsleuth.graphs.prompts import fmt_span

    spans = ", ".join(fmt_span(a, b) for a, b in payload.get("spans", []))
    tool = payload.get("tool", "zoom")
    where = f" on {spans}" if spans else ""
    sys.stderr.write(f"vidsleuth: run {tool}{where} (~{payload.get('frames', 0)} frames)? [Y/n] ")
    sys.stderr.flush()
    try:
        with open("/dev/tty") as tty:
            reply = tty.readline().strip().lower()
    except OSError:
        return True
    return reply in ("", "y", "yes")


def format_answer(ans: Any) -> str:
    from vidsleuth.graphs.prompts import fmt_ts

    head = ans.answer or "(no answer)"
    if ans.options and ans.answer_text:
        head = f"{ans.answer}. {ans.answer_text}"
    lines = [f"Answer: {head}   (confidence {ans.confidence:.2f}, stopped: {ans.stop_reason})"]
    for e in ans.evidence:
        lines.append(f"  [{fmt_ts(e.t_start)}]-[{fmt_ts(e.t_end)}]  {e.why}")
    who = getattr(ans, "answered_by", "")
    if who:
        used = ", ".join(f"{k} x{v}" for k, v in sorted(getattr(ans, "tools_used", {}).items()))
        lines.append(f"Answered by: {who}" + (f"; tools: {used}" if used else ""))
    c = ans.cost
    lines.append(
        f"Cost: {c.get('model_calls', 0)} model calls, "
        f"{c.get('prompt_tokens', 0)}+{c.get('completion_tokens', 0)} tokens, "
        f"{c.get('frames_decoded', 0)} frames decoded, {c.get('seconds', 0):.1f} s"
    )
    return "\n".join(lines)


def _agent(store: Path | None, max_rounds: int | None, confirm: bool) -> Any:
    from vidsleuth.agent.session import VideoAgent

    cfg = settings(
        store=store, agent_max_rounds=max_rounds, agent_confirm_expensive=confirm or None
    )
    return VideoAgent(cfg)


def _progress(quiet: bool) -> Any:
    from vidsleuth.agent.progress import ProgressReporter

    return ProgressReporter(prefix="index", quiet=quiet)


def _say_prepared(agent: Any, progress: Any, quiet: bool) -> None:
    """One line for indexing on demand (instead of a line per cached stage)."""
    from vidsleuth.agent.indexing import prepare_line

    progress.close()
    if not quiet and agent.last_prepare is not None:
        sys.stderr.write(f"  {prepare_line(agent.last_prepare)}\n")
        agent.last_prepare = None


def ask_cmd(
    video: Annotated[str, typer.Argument(help="video file (or the id of a stored video)")],
    question: Annotated[str, typer.Argument(help="the question")],
    choices: Annotated[
        list[str] | None, typer.Argument(help="the options, after --options", show_default=False)
    ] = None,
    options: Annotated[
        bool, typer.Option("--options", help="the words after the question are its options")
    ] = False,
    session: SessionOpt = None,
    max_rounds: RoundsOpt = None,
    confirm: ConfirmOpt = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    html_out: HtmlFileOpt = None,
) -> None:
    """Answer a question about a video, citing the moments that show it."""
    from vidsleuth.errors import ConfigError
    from vidsleuth.options import check_options

    if choices and not options:
        raise ConfigError(f"unexpected extra arguments {choices}; put --options before the options")
    if options and not choices:
        raise ConfigError("--options needs the options after it (at least two)")
    if not question.strip():
        raise ConfigError("the question is empty")
    opts = check_options(choices)
    # Everything about the input is checked before the store or the memory is opened: a
    # rejected video or id leaves the store (and a store folder that does not exist) untouched.
    check_video_ref(video, settings(store=store).store)
    with _agent(store, max_rounds, confirm) as agent:
        progress = _progress(quiet)
        record = agent.video(video, progress=progress)  # indexing on demand, once
        _say_prepared(agent, progress, quiet)
        ans = agent.ask(
            record.video_id,
            question,
            opts or None,
            session=session,
            on_step=_stream(quiet),
            on_pause=_confirm if confirm else None,
        )
        if html_out is not None:
            _write_html(agent, ans, html_out)
    if json_out:
        print_json(ans.as_json())
        return
    typer.echo(format_answer(ans))
    sys.stderr.write(f"session: {ans.session_id} (continue with --session {ans.session_id})\n")


def chat_cmd(
    video: Annotated[str, typer.Argument(help="video file (or the id of a stored video)")],
    session: SessionOpt = None,
    max_rounds: RoundsOpt = None,
    confirm: ConfirmOpt = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    html_dir: HtmlDirOpt = None,
) -> None:
    """Talk about one video: one question per line on stdin (options after ' | ', e.g.
    ``What colour? | red | blue | green``); later questions use what earlier ones found."""
    from vidsleuth.errors import VidsleuthError
    from vidsleuth.options import check_options

    check_video_ref(video, settings(store=store).store)
    interactive = sys.stdin.isatty()
    pages: list[tuple[str, str]] = []
    with _agent(store, max_rounds, confirm) as agent:
        progress = _progress(quiet)
        record = agent.video(video, progress=progress)
        _say_prepared(agent, progress, quiet)
        agent.session_id = session
        if interactive:
            sys.stderr.write(f"vidsleuth chat: {record.path}; empty line or Ctrl-D to quit\n")
        while True:
            if interactive:
                sys.stderr.write("? ")
                sys.stderr.flush()
            line = sys.stdin.readline()
            if not line or (interactive and not line.strip()) or line.strip() in ("quit", "exit"):
                break
            if not line.strip():
                continue
            q, *opts = [p.strip() for p in line.split(" | ")]
            try:
                opts = check_options(opts)
                ans = agent.ask(
                    record.video_id,
                    q,
                    opts or None,
                    session=agent.session_id,
                    on_step=_stream(quiet),
                    on_pause=_confirm if confirm else None,
                )
            except VidsleuthError as err:  # one bad question does not end the chat
                sys.stderr.write(f"vidsleuth: error: {err}\n")
                continue
            if html_dir is not None:
                page = html_dir / f"q{len(pages) + 1:02d}.html"
                _write_html(agent, ans, page)
                pages.append((page.name, q))
            if json_out:
                print_json({"question": q, **ans.as_json()})
            else:
                typer.echo(format_answer(ans))
        if agent.session_id:
            sys.stderr.write(f"session: {agent.session_id}\n")
    if html_dir is not None and pages:
        from vidsleuth.agent.evidence_view import write_index_page

        index = write_index_page(pages, html_dir / "index.html", f"vidsleuth chat: {video}")
        sys.stderr.write(f"evidence pages: {index}\n")


def _write_html(agent: Any, ans: Any, path: Path) -> None:
    """Write the evidence view of ``ans`` (thumbnails from ``agent``'s store) to ``path``."""
    from vidsleuth.agent.evidence_view import write_evidence_view

    out = write_evidence_view(
        ans, path, store=agent.store, registry=agent.registry, settings=agent.settings
    )
    sys.stderr.write(f"evidence view: {out}\n")


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_cmd)
    app.command("chat")(chat_cmd)
