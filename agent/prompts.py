"""Every prompt the agent sends, and the small JSON shapes it asks for.

The embedded CPU model reads ~40-70 prompt tokens/s and writes ~10 tokens/s, and llama.cpp
reuses a shared prompt prefix, so prompts are short, put the stable text first (system text,
then the question and options, which stay the same across one question's map calls) and ask
for small JSON replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

LETTERS = "ABCDEFGHIJ"
NONE = "none"

SYSTEM = (
    "You investigate a video to answer a question. Observations are lines "
    "'[HH:MM:SS-HH:MM:SS] kind: text' read (ocr), heard (speech) or seen (object, tag) in the "
    "video. Use only the observations."
)


def fmt_ts(t: float) -> str:
    """``HH:MM:SS`` (the form the CLI prints and the model reads)."""
    t = max(0, round(t))
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def fmt_span(t_start: float, t_end: float) -> str:
    return f"{fmt_ts(t_start)}-{fmt_ts(t_end)}"


def finding_line(f: dict[str, Any], max_chars: int = 160) -> str:
    text = " ".join(str(f.get("text", "")).split())
    if len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return f"[{fmt_span(f['t_start'], f['t_end'])}] {f.get('kind', '?')}: {text}"


def question_block(question: str, options: Sequence[str]) -> str:
    lines = [f"Question: {question.strip()}"]
    lines += [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- plan
class Plan(BaseModel):
    """What to search for and which looking tools to use."""

    look_for: list[str] = Field(
        default_factory=list, max_length=6, description="short search phrases"
    )
    tools: list[str] = Field(default_factory=list, description="tool names to use")


def plan_messages(
    question: str, options: Sequence[str], tools: Sequence[str]
) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"{question_block(question, options)}\n\n"
            f"Tools that look at the video: {', '.join(tools) or 'none'}.\n"
            "List up to 4 short phrases (words likely to be written, said or shown) to search "
            "for, and the tools that could find them.",
        },
    ]


# ------------------------------------------------------------------------------- map
class OpenPartial(BaseModel):
    """A partial answer to an open question from one group of observations."""

    answer: str = Field(description="short answer, or 'none' if these observations do not answer")
    confidence: float = Field(ge=0, le=1)
    time_s: float = Field(ge=0, description="time of the observation that supports it")
    why: str = Field("", max_length=200)


@lru_cache(maxsize=16)
def choice_schema(n_options: int) -> type[BaseModel]:
    """A partial answer whose ``answer`` must be one of the option letters or ``none``."""
    letters = (*tuple(LETTERS[:n_options]), NONE)
    return create_model(  # type: ignore[call-overload, no-any-return]
        "ChoicePartial",
        __doc__="A partial answer to a multiple-choice question from one group of observations.",
        answer=(Literal[letters], Field(description="option letter, or 'none' if not answered")),
        confidence=(float, Field(ge=0, le=1)),
        time_s=(float, Field(ge=0, description="time of the observation that supports it")),
        why=(str, Field("", max_length=200)),
    )


def map_messages(
    question: str, options: Sequence[str], lines: Sequence[str]
) -> list[dict[str, Any]]:
    ask = (
        "Which option do these observations support? Answer 'none' if they support none."
        if options
        else "What do these observations say about the question? Answer 'none' if nothing."
    )
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"{question_block(question, options)}\n\nObservations:\n"
            + "\n".join(lines)
            + f"\n\n{ask} Give your confidence (0-1) and the time in seconds of the supporting "
            "observation.",
        },
    ]
