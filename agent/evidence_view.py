"""The evidence view: one self-contained HTML page that shows why an answer was given.

The page holds the question, options and answer (confidence, stop reason, who answered); a
timeline of the whole video with the spans the agent searched, looked at, zoomed into and cited;
a thumbnail of every cited moment (from the store's frame cache, decoded only when missing) and a
``<video>`` player per citation that seeks to its span (a relative link to the video file, with
a media fragment ``#t=start,end``, so it plays the span even without scripts); the trace as a
list (round, step, tool, arguments, result, tokens) and the cost.

Nothing is fetched from a network: styles and the small script are inline, thumbnails are data
URIs, and a Content-Security-Policy forbids every other source.  The page is built from an
:class:`~vidsleuth.agent.session.Answer` alone; the store only supplies thumbnails and the
video's duration and path.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import numpy as np

    from vidsleuth.agent.session import Answer
    from vidsleuth.memory.store import Store, VideoRecord
    from vidsleuth.settings import Settings
    from vidsleuth.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

#: timeline lanes, top to bottom, and the tool roles drawn in each
LANES: tuple[str, ...] = ("searched", "looked", "zoomed", "cited")
_LANE_OF_ROLE = {
    "search": "searched",
    "locate": "searched",
    "recall": "searched",
    "look": "looked",
    "zoom": "zoomed",
}
THUMB_SIDE = 320


@dataclass(frozen=True)
class Mark:
    """One span drawn on the timeline."""

    lane: str
    t_start: float
    t_end: float
    label: str
    anchor: str = ""


@dataclass(frozen=True)
class TraceRow:
    """One trace entry, as the page lists it."""

    round: int
    node: str
    what: str
    args: str
    result: str
    tokens: int
    failed: bool


# ------------------------------------------------------------------------------ reading
def tool_roles(registry: ToolRegistry | Iterable[Any] | None) -> dict[str, str]:
    """Tool name -> role (``search``, ``look``, ``zoom``...) of a registry."""
    if registry is None:
        return {}
    return {str(t.name): str(getattr(t, "role", "") or "") for t in registry}


def _guess_role(tool: str) -> str:
    name = tool.lower()
    if any(w in name for w in ("search", "retrieve", "find", "locate", "recall")):
        return "search"
    if any(w in name for w in ("inspect", "zoom")):
        return "zoom"
    return "look"


def _span_of(args: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        a, b = float(args["t_start"]), float(args["t_end"])
    except (KeyError, TypeError, ValueError):
        return None
    return (a, b) if b >= a else None


def timeline_marks(answer: Answer, roles: Mapping[str, str] | None = None) -> list[Mark]:
    """The spans of the trace (tool calls with ``t_start``/``t_end`` arguments, and any spans a
    search entry lists under ``spans``) in their lanes, then the cited spans."""
    roles = roles or {}
    marks: list[Mark] = []
    seen: set[tuple[str, float, float]] = set()

    def add(lane: str, a: float, b: float, label: str, anchor: str = "") -> None:
        key = (lane, round(a, 3), round(b, 3))
        if key not in seen:
            seen.add(key)
            marks.append(Mark(lane, a, b, label, anchor))

    for t in answer.trace:
        if "tool" not in t or "error" in t or "skipped" in t or "decision" in t:
            continue
        tool = str(t["tool"])
        lane = _LANE_OF_ROLE.get(roles.get(tool) or _guess_role(tool), "looked")
        args = t.get("args") or {}
        span = _span_of(args) if isinstance(args, Mapping) else None
        if span is not None:
            add(lane, span[0], span[1], f"{tool} {_ts(span[0])}-{_ts(span[1])}")
        for s in t.get("spans") or []:  # hits of a search, when the trace records them
            sp = _span_of(s) if isinstance(s, Mapping) else _pair(s)
            if sp is not None:
                add("searched", sp[0], sp[1], f"{tool} hit {_ts(sp[0])}-{_ts(sp[1])}")
    for i, e in enumerate(answer.evidence, 1):
        add("cited", e.t_start, e.t_end, f"cited {_ts(e.t_start)}-{_ts(e.t_end)}", f"cite-{i}")
    return marks


def search_queries(answer: Answer, roles: Mapping[str, str] | None = None) -> list[tuple[str, int]]:
    """``(query, hits)`` of every search the trace records (searches name no span)."""
    roles = roles or {}
    out: list[tuple[str, int]] = []
    for t in answer.trace:
        if "tool" not in t or "error" in t or "skipped" in t or "decision" in t:
            continue
        tool = str(t["tool"])
        args = t.get("args") or {}
        if _LANE_OF_ROLE.get(roles.get(tool) or _guess_role(tool)) != "searched":
            continue
        if isinstance(args, Mapping) and args.get("query"):
            out.append((f"{tool} {str(args['query'])!r}", int(t.get("found") or 0)))
    return out


def _pair(s: Any) -> tuple[float, float] | None:
    try:
        a, b = float(s[0]), float(s[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return (a, b) if b >= a else None


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reply_summary(reply: Any) -> str:
    if not isinstance(reply, Mapping):
        return _short(reply)
    if "answer" in reply:
        out = f"answer {reply.get('answer')}"
        if "confidence" in reply:
            out += f" ({float(reply.get('confidence') or 0):.2f})"
        if reply.get("time_s") is not None:
            out += f" at {_ts(float(reply['time_s']))}"
        if reply.get("why"):
            out += f": {reply['why']}"
    elif "kind" in reply:
        out = f"reads a {reply.get('kind')} question about {reply.get('target')!r}"
    else:
        out = str(reply.get("action") or "reply")
    calls = [c.get("tool") for c in reply.get("calls") or [] if isinstance(c, Mapping)]
    if calls:
        out += "; calls " + ", ".join(map(str, calls))
    return _short(out, 240)


def trace_rows(trace: Sequence[Mapping[str, Any]]) -> list[TraceRow]:
    """The trace as readable rows; a round ends with each ``reduce`` (vote) step, and the
    ``answer`` step after the last vote belongs to that vote's round."""
    rows: list[TraceRow] = []
    rnd, voted = 1, False
    for t in trace:
        node = str(t.get("node", ""))
        if voted and node not in ("answer", "reduce"):
            rnd, voted = rnd + 1, False
        failed = "error" in t
        tokens = int(t.get("tokens") or 0)
        args = ""
        if "tool" in t:
            what = f"tool {t['tool']}"
            args = _short(t.get("args") or {})
            if failed:
                result = f"error: {t['error']}"
            elif "skipped" in t:
                result = f"skipped ({t['skipped']})"
            elif "decision" in t:
                result = str(t["decision"])
            else:
                result = f"{t.get('found', 0)} found"
                if t.get("frames_decoded"):
                    result += f", {t['frames_decoded']} frames decoded"
                if t.get("note"):
                    result += f" ({t['note']})"
            if t.get("chosen_by"):
                what += f" (chosen by the {t['chosen_by']})"
        elif "model" in t:
            what = f"model {t['model']}"
            result = f"error: {t['error']}" if failed else _reply_summary(t.get("reply"))
            if t.get("means"):
                # the options were shown in an order of their own: say which one was meant
                result = f"means {t['means']}; shown order {_short(t.get('shown_order'))}, {result}"
            if t.get("retries"):
                result += f" after {t['retries']} retries"
        elif "question" in t:
            what = "question"
            result = _short(t["question"], 240)
            if t.get("options"):
                args = _short(t["options"])
        elif "decision" in t:
            what, result = "decision", str(t["decision"])
        elif node == "reduce" and "confidence" in t:
            what = "vote"
            result = f"answer {t.get('answer') or '?'} confidence {float(t['confidence']):.2f}"
            parts = [f"{k} {float(t[k]):.2f}" for k in ("agreement", "stated", "margin") if k in t]
            if parts:
                result += f" ({', '.join(parts)})"
            if t.get("stop"):
                result += f", stop: {t['stop']}"
        elif "stop_reason" in t:
            what, result = "stop", str(t["stop_reason"])
        elif "match" in t:
            what, result = "text match", f"answer {t['match']}: {t.get('why', '')}"
        elif failed:
            what, result = "failure", str(t["error"])
        elif "skipped" in t:
            # a step not taken (its groups answered already, or the token budget spent)
            what, result = "skipped", f"{t['skipped']}: {t.get('why', '')}".rstrip(": ")
        else:
            rest = {k: v for k, v in t.items() if k != "node"}
            what, result = "note", _short(rest, 240)
        rows.append(TraceRow(rnd, node, what, args, _short(result, 300), tokens, failed))
        voted = voted or (node == "reduce" and "confidence" in t)
    return rows


# ------------------------------------------------------------------------------ thumbnails
def _data_uri(image: np.ndarray, side: int = THUMB_SIDE) -> str:
    from PIL import Image

    im = Image.fromarray(image)
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plans_first(store: Store, record: VideoRecord, settings: Settings | None) -> list[str]:
    plans = store.plans(record.video_id)
    if settings is not None:
        from vidsleuth.tools.video.chunks import chunk_plan_for, plan_key

        try:
            mine = plan_key(chunk_plan_for(record, settings), settings)
        except Exception:  # an odd record: any cached plan will do
            mine = ""
        if mine in plans:
            plans = [mine] + [p for p in plans if p != mine]
    return plans


def cited_thumbnails(
    store: Store | None,
    record: VideoRecord | None,
    spans: Sequence[tuple[float, float]],
    settings: Settings | None = None,
    *,
    decode_missing: bool = True,
) -> list[str | None]:
    """A JPEG data URI per span: the cached frame nearest its middle (within a second or a
    sampling step), else one frame decoded from the video; None when neither is possible."""
    out: list[str | None] = [None] * len(spans)
    if store is None or record is None:
        return out
    step = 1.0 / settings.sample_fps if settings is not None else 1.0
    reach = max(1.0, step)
    plans = _plans_first(store, record, settings)
    missing: list[int] = []
    for i, (a, b) in enumerate(spans):
        mid = (a + b) / 2
        best = None
        for plan in plans:
            frames = store.frames(record.video_id, plan, max(0.0, a - reach), b + reach)
            near = [f for f in frames if abs(f.t - mid) <= max(reach, (b - a) / 2)]
            if near:
                best = min(near, key=lambda f: abs(f.t - mid))
                break
        if best is not None:
            out[i] = _data_uri(best.image)
        else:
            missing.append(i)
    if missing and decode_missing:
        try:
            from vidsleuth.tools.video import sample_frames

            dur = record.probe.duration_s
            times = [min(max(0.0, sum(spans[i]) / 2), max(0.0, dur - 1e-3)) for i in missing]
            frames = sample_frames(record.path, times, max_side=THUMB_SIDE * 2)
            for i, f in zip(missing, frames, strict=True):
                out[i] = _data_uri(f.image)
        except Exception as err:  # a moved or unreadable file: the page shows no picture
            log.warning("no thumbnails decoded from %s: %s", record.path, err)
    return out


# ------------------------------------------------------------------------------ rendering
def _ts(t: float) -> str:
    """``M:SS`` (``H:MM:SS`` past an hour), with tenths when the time is not whole."""
    t = max(0.0, float(t))
    whole = int(t)
    frac = t - whole
    h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
    out = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if frac >= 0.05:
        out += f".{min(9, round(frac * 10))}"
    return out


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _tick_step(duration: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if duration / step <= 12:
            return float(step)
    return 14400.0


_CSS = """
:root { --ink:#1d2330; --mute:#5c6677; --line:#d9dee7; --bg:#f6f7fa; --card:#fff;
  --searched:#3b82f6; --looked:#10b981; --zoomed:#f59e0b; --cited:#e11d48; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color:var(--ink); background:var(--bg); }
main { max-width:1100px; margin:0 auto; padding:24px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:17px; margin:28px 0 10px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px; }
.meta { color:var(--mute); font-size:13px; }
.answer { display:flex; gap:24px; align-items:center; flex-wrap:wrap; margin-top:12px; }
.answer .big { font-size:26px; font-weight:700; }
.badge { display:inline-block; padding:2px 8px; border-radius:999px; background:#eef1f6;
  font-size:13px; margin-right:6px; }
.conf { width:180px; height:10px; background:#eef1f6; border-radius:5px; overflow:hidden; }
.conf > span { display:block; height:100%; background:var(--cited); }
ol.options { margin:8px 0 0; padding-left:24px; }
ol.options li.chosen { font-weight:700; color:var(--cited); }
.timeline { position:relative; padding-left:84px; }
.lane { position:relative; height:26px; border-bottom:1px dashed var(--line); }
.lane > .name { position:absolute; left:-84px; width:78px; top:4px; font-size:12px;
  color:var(--mute); text-align:right; }
.mark { position:absolute; top:5px; height:16px; min-width:4px; border-radius:3px; opacity:.85; }
.mark.searched { background:var(--searched); } .mark.looked { background:var(--looked); }
.mark.zoomed { background:var(--zoomed); } .mark.cited { background:var(--cited); }
.axis { position:relative; height:22px; }
.axis > span { position:absolute; top:4px; font-size:11px; color:var(--mute);
  transform:translateX(-50%); }
.cites { display:grid; grid-template-columns:repeat(auto-fill, minmax(330px, 1fr)); gap:14px; }
.cite img.thumb { width:100%; border-radius:6px; display:block; background:#000; }
.cite .nothumb { height:120px; border-radius:6px; background:#eef1f6; display:flex;
  align-items:center; justify-content:center; color:var(--mute); }
.cite video { width:100%; margin-top:8px; border-radius:6px; background:#000; }
.cite .when { font-weight:700; margin-top:8px; } .cite button { margin-top:6px; }
table { width:100%; border-collapse:collapse; font-size:13px; }
th, td { text-align:left; padding:5px 6px; border-bottom:1px solid var(--line);
  vertical-align:top; }
tr.failed td { color:#b91c1c; } td.args { font-family:ui-monospace, monospace; font-size:12px;
  color:var(--mute); word-break:break-word; }
dl.cost { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; }
dl.cost dt { color:var(--mute); } dl.cost dd { margin:0; }
"""

# Each player plays its span: the media fragment seeks on load; the buttons replay it and the
# timeupdate handler pauses at the span's end.  data-state records what the player did (read by
# the browser test and handy when debugging a page).
_JS = """
document.querySelectorAll('video[data-start]').forEach(function (v) {
  var a = parseFloat(v.dataset.start), b = parseFloat(v.dataset.end);
  v.addEventListener('loadedmetadata', function () {
    v.dataset.state = 'loaded'; v.dataset.duration = v.duration.toFixed(2);
    if (v.currentTime < a - 0.05 || v.currentTime > b) { v.currentTime = a; }
  });
  v.addEventListener('seeked', function () { v.dataset.seekedTo = v.currentTime.toFixed(2); });
  v.addEventListener('error', function () { v.dataset.state = 'error'; });
  v.addEventListener('timeupdate', function () {
    if (v.dataset.playing === '1' && v.currentTime >= b) { v.pause(); v.dataset.playing = ''; }
  });
});
document.querySelectorAll('[data-play]').forEach(function (el) {
  el.addEventListener('click', function (ev) {
    ev.preventDefault();
    var v = document.getElementById(el.dataset.play);
    if (!v) { return; }
    v.currentTime = parseFloat(v.dataset.start); v.dataset.playing = '1'; v.play();
  });
});
"""


def _csp() -> str:
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; media-src 'self' file: blob:"
    )


def video_link(video_path: str | Path, page: str | Path) -> str:
    """The relative URL of ``video_path`` from the folder of the page at ``page``."""
    rel = os.path.relpath(Path(video_path).resolve(), Path(page).resolve().parent)
    return quote(rel.replace(os.sep, "/"))


def render_evidence_view(
    answer: Answer,
    *,
    duration_s: float | None = None,
    video_src: str | None = None,
    thumbnails: Sequence[str | None] = (),
    roles: Mapping[str, str] | None = None,
    video_name: str = "",
) -> str:
    """The page for ``answer`` as one HTML string.

    ``video_src`` is the URL the players load (a path relative to the page, or a server route);
    ``thumbnails`` one data URI (or None) per cited span; ``roles`` the tools' roles (from the
    registry; guessed from the names without it).
    """
    marks = timeline_marks(answer, roles)
    ends = [m.t_end for m in marks]
    duration = float(duration_s or 0.0) or (max(ends) * 1.05 if ends else 1.0)
    duration = max(duration, max(ends, default=0.0), 1e-3)
    thumbs = list(thumbnails) + [None] * (len(answer.evidence) - len(thumbnails))
    p: list[str] = []
    add = p.append
    add("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>")
    add(f"<meta http-equiv='Content-Security-Policy' content=\"{_csp()}\">")
    add("<meta name='viewport' content='width=device-width, initial-scale=1'>")
    add(f"<title>vidsleuth: {_e(answer.question)}</title><style>{_CSS}</style></head><body><main>")

    # --- the question and the answer
    add("<section id='question' class='card'>")
    add(f"<h1>{_e(answer.question)}</h1>")
    where = video_name or answer.video_id
    add(
        f"<div class='meta'>video {_e(where)} · {_e(_ts(duration))} · "
        f"session {_e(answer.session_id or '-')}</div>"
    )
    letters = "ABCDEFGHIJ"
    if answer.options:
        add("<ol class='options' type='A'>")
        for i, o in enumerate(answer.options):
            chosen = i < len(letters) and letters[i] == answer.answer
            add(f"<li{' class=chosen' if chosen else ''}>{_e(o)}</li>")
        add("</ol>")
    shown = answer.answer or "(no answer)"
    if answer.answer_text and answer.answer_text != answer.answer:
        shown = f"{answer.answer}. {answer.answer_text}" if answer.options else answer.answer_text
    pct = max(0.0, min(1.0, answer.confidence)) * 100
    used = ", ".join(f"{k} ×{v}" for k, v in sorted(answer.tools_used.items())) or "none"
    add("<div id='answer' class='answer'>")
    add(f"<div><div class='meta'>answer</div><div class='big'>{_e(shown)}</div></div>")
    add(
        f"<div><div class='meta'>confidence <b id='confidence'>{answer.confidence:.2f}</b></div>"
        f"<div class='conf'><span style='width:{pct:.0f}%'></span></div></div>"
    )
    add(
        f"<div><span class='badge' id='stop-reason'>stopped: {_e(answer.stop_reason or '-')}"
        f"</span><span class='badge' id='answered-by'>answered by: {_e(answer.answered_by)}"
        f"</span></div>"
    )
    add("</div>")
    add(f"<div class='meta' style='margin-top:8px'>tools used: {_e(used)}</div>")
    add("</section>")

    # --- the timeline
    add("<h2>Timeline</h2><section id='timeline' class='card'><div class='timeline'>")
    for lane in LANES:
        add(f"<div class='lane' data-lane='{lane}'><span class='name'>{lane}</span>")
        for m in (m for m in marks if m.lane == lane):
            left = 100 * m.t_start / duration
            width = max(0.4, 100 * (m.t_end - m.t_start) / duration)
            style = f"left:{left:.3f}%;width:{min(width, 100 - left):.3f}%"
            label = _e(m.label)
            body = f"<span class='mark {lane}' style='{style}' title='{label}'></span>"
            if m.anchor:
                body = f"<a href='#{m.anchor}'>{body}</a>"
            add(body)
        add("</div>")
    add("<div class='axis'>")
    step = _tick_step(duration)
    t = 0.0
    while t <= duration + 1e-9:
        add(f"<span style='left:{100 * t / duration:.3f}%'>{_e(_ts(t))}</span>")
        t += step
    add("</div></div>")
    searches = search_queries(answer, roles)
    if searches:
        items = "; ".join(f"{_e(q)} ({n} found)" for q, n in searches)
        add(f"<div class='meta' id='searches' style='margin-top:8px'>searched for: {items}</div>")
    add("</section>")

    # --- the citations
    add("<h2>Cited moments</h2><section id='citations' class='cites'>")
    if not answer.evidence:
        add("<p class='meta'>The answer cites no moment.</p>")
    for i, ev in enumerate(answer.evidence, 1):
        a, b = ev.t_start, max(ev.t_end, ev.t_start)
        vid = f"player-{i}"
        add(f"<article class='card cite' id='cite-{i}'>")
        thumb = thumbs[i - 1]
        if thumb:
            add(
                f"<a href='#{vid}' data-play='{vid}'><img class='thumb' src='{_e(thumb)}' "
                f"alt='frame at {_e(_ts((a + b) / 2))}'></a>"
            )
        else:
            add("<div class='nothumb'>no frame</div>")
        add(f"<div class='when'>{_e(_ts(a))} – {_e(_ts(b))}</div>")
        add(f"<div>{_e(ev.why)}</div>")
        if video_src:
            src = f"{video_src}#t={a:.2f},{b:.2f}"
            add(
                f"<video id='{vid}' controls preload='metadata' muted playsinline "
                f"data-start='{a:.3f}' data-end='{b:.3f}' src='{_e(src)}'></video>"
            )
            add(
                f"<button type='button' data-play='{vid}'>▶ play {_e(_ts(a))}–{_e(_ts(b))}</button>"
            )
        add("</article>")
    add("</section>")

    # --- the trace
    add("<h2>Trace</h2><section id='trace' class='card'><table>")
    add(
        "<thead><tr><th>round</th><th>step</th><th>what</th><th>arguments</th><th>result</th>"
        "<th>tokens</th></tr></thead><tbody>"
    )
    for r in trace_rows(answer.trace):
        cls = " class='failed'" if r.failed else ""
        add(
            f"<tr{cls}><td>{r.round}</td><td>{_e(r.node)}</td><td>{_e(r.what)}</td>"
            f"<td class='args'>{_e(r.args)}</td><td>{_e(r.result)}</td>"
            f"<td>{r.tokens or ''}</td></tr>"
        )
    add("</tbody></table></section>")

    # --- the cost
    c = answer.cost
    add("<h2>Cost</h2><section id='cost' class='card'><dl class='cost'>")
    rows = [
        ("model calls", c.get("model_calls", 0)),
        (
            "tokens",
            f"{c.get('prompt_tokens', 0)} prompt + {c.get('completion_tokens', 0)} completion"
            f" ({c.get('cached_tokens', 0)} cached)",
        ),
        ("tool calls", f"{c.get('tool_calls', 0)} ({c.get('tool_errors', 0)} failed)"),
        ("frames decoded", c.get("frames_decoded", 0)),
        ("seconds", f"{float(c.get('seconds', 0) or 0):.2f}"),
    ]
    node_s = c.get("node_seconds") or {}
    if isinstance(node_s, Mapping) and node_s:
        rows.append(
            ("seconds per step", ", ".join(f"{k} {float(v):.2f}" for k, v in node_s.items()))
        )
    for k, v in rows:
        add(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>")
    add("</dl></section>")
    add(f"</main><script>{_JS}</script></body></html>\n")
    return "\n".join(p)


def write_evidence_view(
    answer: Answer,
    path: str | Path,
    *,
    store: Store | None = None,
    record: VideoRecord | None = None,
    registry: ToolRegistry | Iterable[Any] | None = None,
    settings: Settings | None = None,
    video_src: str | None = None,
) -> Path:
    """Write the page for ``answer`` to ``path`` and return it.

    ``store`` supplies the video's record (duration, path) and the cited moments' thumbnails;
    without one the page has no pictures and the timeline spans what the trace touched.  The
    players link to the video file relative to the page unless ``video_src`` is given.
    """
    out = Path(path)
    if record is None and store is not None and answer.video_id:
        record = store.video(answer.video_id)
    spans = [(e.t_start, e.t_end) for e in answer.evidence]
    thumbs = cited_thumbnails(store, record, spans, settings)
    src = video_src
    if src is None and record is not None and record.paths:
        src = video_link(record.path, out)
    page = render_evidence_view(
        answer,
        duration_s=record.probe.duration_s if record is not None else None,
        video_src=src,
        thumbnails=thumbs,
        roles=tool_roles(registry),
        video_name=Path(record.path).name if record is not None and record.paths else "",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def write_index_page(pages: Sequence[tuple[str, str]], path: str | Path, title: str) -> Path:
    """A page linking ``(href, label)`` pages, e.g. every question of a chat."""
    out = Path(path)
    items = "\n".join(f"<li><a href='{_e(quote(h))}'>{_e(label)}</a></li>" for h, label in pages)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_csp()}\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><ol class='card'>{items}</ol></main></body></html>\n",
        encoding="utf-8",
    )
    return out
