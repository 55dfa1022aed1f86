"""Prompt builders shared by tasks; exact text is pinned by tests so runs stay comparable."""

from __future__ import annotations

from vidsleuth.evals.schema import QARecord

MULTIPLE_CHOICE_TEMPLATE = (
    "Question: {question}\nOptions:\n{options}\nAnswer with the letter of the correct option."
)


def multiple_choice(record: QARecord) -> str:
    """The question stem, one ``(X) text`` line per option, and the instruction, in that order."""
    options = "\n".join(f"({letter}) {text}" for letter, text in record.options.items())
    return MULTIPLE_CHOICE_TEMPLATE.format(question=record.question.strip(), options=options)
