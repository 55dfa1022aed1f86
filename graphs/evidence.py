"""What the graph makes of its findings: candidate spans to look at, whole-video arithmetic
lines, the evidence groups the model answers from, earlier answers as context, and the
abstention when nothing supports an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidsleuth.graphs import arithmetic, prompts, routing
from vidsleuth.graphs.rounds import guess_options_are
from vidsleuth.graphs.state import AgentState, Finding
from vidsleuth.graphs.stop import EXACT_KINDS
from vidsleuth.options import LETTERS
from vidsleuth.spans import group_spans


def ranked(items: Sequence[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (-(f.get("score") or 0.0), f["t_start"]))


def span_of(f: Finding) -> list[float]:
    return [round(float(f["t_start"]), 3), round(float(f["t_end"]), 3)]


def merge_candidates(spans: Sequence[Finding], gap: float) -> list[Finding]:
    """Candidate spans merged when they touch (so neighbouring chunks are looked at once)."""
    out: list[Finding] = []
    for run in group_spans(spans, lambda f: (f["t_start"], f["t_end"]), gap):
        out.append(
            {
                "t_start": min(float(f["t_start"]) for f in run),
                "t_end": max(float(f["t_end"]) for f in run),
                "score": max(f.get("score") or 0.0 for f in run),
            }
        )
    return out


def located_summary(options: Sequence[str], located: dict[int, list[Finding]]) -> list[Finding]:
    """One line per option: where its words or things were located over the whole video."""
    out = []
    for i, o in enumerate(options):
        if i not in located:
            continue
        hits = sorted(located[i], key=lambda h: float(h["t_start"]))
        if hits:
            best = max(hits, key=lambda h: float(h.get("score") or 0.0))
            text = (
                f"option {LETTERS[i]} '{o}' located {len(hits)} time(s), first at "
                f"{prompts.fmt_ts(float(hits[0]['t_start']))}; best match "
                f"{best.get('kind')}: {str(best.get('text', ''))[:60]}"
            )
            a, b, score = float(best["t_start"]), float(best["t_end"]), best.get("score")
            kind = str(best.get("kind", ""))
        else:
            text = f"option {LETTERS[i]} '{o}' not located anywhere in the video"
            a, b, score, kind = 0.0, 0.0, 0.0, ""
        out.append(
            {
                "t_start": a,
                "t_end": b,
                "kind": "located",
                "text": text,
                "score": score,
                "source": "arithmetic:options",
                "basis": kind,
            }
        )
    return out


#: share of an option's words one exact observation must hold for the option to count as found
LINE_FOUND = 0.8


def only_line_located(options: Sequence[str], located: dict[int, list[Finding]]) -> Finding | None:
    """When the options are lines of text or speech and exactly one of them was found, read or
    heard nearly word for word (:data:`LINE_FOUND`), that option: "which of these lines is
    said" asks which one occurs, and the others occurring nowhere is what was located.  None
    when none or several were found, or only by a loose match or a label."""
    found: list[tuple[int, Finding]] = []
    for i, o in enumerate(options):
        exact = [h for h in located.get(i, []) if str(h.get("kind")) in EXACT_KINDS]
        best = max(exact, key=lambda h: routing.option_support({"findings": [h]}, o), default=None)
        if best is not None and routing.option_support({"findings": [best]}, o) >= LINE_FOUND:
            found.append((i, best))
    if len(found) != 1:
        return None
    i, h = found[0]
    text = (
        f"of the options only {LETTERS[i]} '{options[i]}' is found word for word "
        f"({h.get('kind')}: {str(h.get('text', ''))[:60]})"
    )
    return {**arithmetic.located_line(h, text, "arithmetic:only"), "option": LETTERS[i]}


#: A located moment scored below this is shown to the model but neither counted, ordered nor
#: placed in a time window.  For a detector's label the score is how sure the detector was (times
#: how well the label names the query), and 0.25 is the usual reporting threshold of
#: YOLO-family detectors: a "bird" the detector was 7 % sure of once ordered a real-footage
#: option first and answered confidently wrong.  Text (at least 60 % of its words) and
#: full-frame colour events (at least 0.45) always pass; a moment without a score counts.
MIN_COUNTED_SCORE = 0.25


def counted(hits: Sequence[Finding]) -> list[Finding]:
    """The located moments sure enough to count, order or place in a window."""
    sure = []
    for h in hits:
        score = h.get("score")
        if score is None or float(score) >= MIN_COUNTED_SCORE:
            sure.append(h)
    return sure


def located_arithmetic(
    reading: dict[str, Any],
    question: str,
    options: Sequence[str],
    target_hits: list[Finding] | None,
    located: dict[int, list[Finding]],
    settings: Any,
) -> list[Finding]:
    """Arithmetic on what was located over the whole video, as evidence lines the model reads.

    The model's reading says what the target is; the facts computed about it are all offered
    (a small model often misnames the question's kind, and a count it did not ask for costs
    one line): how many separate times the target was located, which option's time window
    holds it (when the options name clock times), and the order in which the options were
    first (and last) located."""
    out: list[Finding] = []
    if target_hits is not None:
        target_hits = counted(target_hits)
    located = {i: sure for i, hits in located.items() if (sure := counted(hits))}
    gap = 2.0 * float(settings.chunk_seconds)
    target = str(reading.get("target") or question)
    kind = str(reading.get("kind") or "other")
    times = reading.get("options_are") == "times" or guess_options_are(options) == "times"
    if target_hits:
        line = arithmetic.count_line(target, target_hits, gap, options)
        if line:
            out.append(line)
        if options and times:
            out += arithmetic.window_lines(target, options, target_hits, gap)
    if located:
        out += located_summary(options, located)
        if reading.get("options_are") == "sentences" and kind not in ("how_often", "how_many"):
            # whatever kind the model named ("which line is heard" read as "doing"), options
            # that are lines and a single one occurring ask which one occurs
            line = only_line_located(options, located)
            if line:
                out.append(line)
        seq = [located.get(i, []) for i in range(len(options))]
        if sum(1 for hits in seq if hits) >= 2:
            latest = kind == "which_last"
            line = arithmetic.order_line(options, seq, latest=latest)
            if line:
                out.append(line)
    # A computed line names an option (and so answers: see routing.computed_answer) only for
    # the question the model's reading says was asked: a count for "how often", an order for
    # "which first/last"; a window that alone holds the target answers any question whose
    # options are time windows; the only line found answers "what" among lines.
    names = {"arithmetic:window", "arithmetic:only"}
    # "how often" counts moments; "how many" may count things at one time (people in a room
    # are not moments located), unless what was located is read or heard: a line of text or
    # speech is counted by the moments it occurs at whichever way the question is put
    heard = bool(target_hits) and all(str(h.get("kind")) in EXACT_KINDS for h in target_hits or [])
    if kind == "how_often" or (kind == "how_many" and heard):
        names.add("arithmetic:count")
    if kind in ("which_first", "which_last"):
        names.add("arithmetic:order")
    for f in out:
        if "option" in f and f.get("source") not in names:
            del f["option"]
    return out


def is_whole_video(f: Finding) -> bool:
    src = str(f.get("source", ""))
    return src.startswith("arithmetic") or src.startswith("find_mentions")


def evidence_groups(findings: Sequence[Finding], gap: float) -> list[dict[str, Any]]:
    """Evidence groups for map: one whole-video group (what was located over the whole video,
    and the arithmetic on it), then local groups clustered in time, best first."""
    whole = [f for f in findings if f.get("text") and is_whole_video(f)]
    local = [f for f in findings if f.get("text") and not is_whole_video(f)]
    groups = []
    if whole:
        # Summary lines first, then the located moments in time order.
        ordered = [f for f in whole if str(f.get("source", "")).startswith("arithmetic")]
        ordered += sorted(
            (f for f in whole if not str(f.get("source", "")).startswith("arithmetic")),
            key=lambda f: (-(f.get("score") or 0.0), f["t_start"]),
        )
        groups.append(
            {
                "key": f"located:{len(whole)}",
                "t_start": min(float(f["t_start"]) for f in whole),
                "t_end": max(float(f["t_end"]) for f in whole),
                "score": float(max((f.get("score") or 0.0) for f in whole)),
                "findings": ordered,
            }
        )
    return groups + routing.group_findings(local, gap=gap)


def earlier_answers(state: AgentState) -> list[str]:
    """This session's earlier questions and answers, as context lines (never evidence)."""
    out = []
    for h in state.get("history", [])[-5:]:
        a = h.get("answer_text") or h.get("answer") or "no answer"
        out.append(
            f"Q: {prompts.clean(h.get('question', ''), 200)} -> A: {prompts.clean(a, 120)} "
            f"(confidence {float(h.get('confidence', 0.0)):.2f})"
        )
    return out


PERCEIVED_AS = {
    "ocr": "text on screen",
    "subtitle": "subtitles",
    "speech": "speech",
    "object": "detected objects",
    "tag": "scene labels",
    "caption": "captions",
    "colour": "frame colours",
}


def abstention(state: AgentState) -> dict[str, Any]:
    """The answer when no evidence supports one: for multiple choice an evenly spread guess at
    chance confidence; for an open question a sentence naming what was perceived."""
    options = list(state.get("options") or [])
    if options:
        import zlib

        i = zlib.crc32(state["question"].encode()) % len(options)
        return {
            "answer": LETTERS[i],
            "answer_text": options[i],
            "confidence": round(1.0 / len(options), 4),
            "answered_by": "none",
            "evidence": [],
        }
    seen = sorted(
        {
            PERCEIVED_AS[k]
            for f in state.get("findings", [])
            if (k := str(f.get("kind"))) in PERCEIVED_AS
        }
    )
    what = ", ".join(seen) if seen else "nothing relevant"
    return {
        "answer": "",
        "answer_text": f"The video's perceivable content ({what}) does not show this.",
        "confidence": 0.0,
        "answered_by": "none",
        "evidence": [],
    }
