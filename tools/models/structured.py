"""Turn a model's free-text reply into a validated pydantic object, repairing what small models
commonly get wrong.

Constrained decoding (llama.cpp grammars, vLLM guided decoding) makes most replies valid, but not
every backend offers it and even constrained replies can be cut off by ``max_tokens``.  The repairs
here are the cheap, safe ones: code fences, prose around the object, trailing commas, Python
literals and single quotes, and an object truncated at the end.  Anything else is reported as a
problem string the retry loop feeds back to the model.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json|JSON|js|javascript)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent to constrained decoders and shown to unconstrained models."""
    return model.model_json_schema()


#: schemas longer than this are summarised in the prompt when decoding enforces them anyway
ENFORCED_SCHEMA_CHARS = 1200


def _field_line(name: str, spec: dict[str, Any]) -> str:
    if "enum" in spec:
        typ = " | ".join(json.dumps(v) for v in spec["enum"])
    elif spec.get("type") == "array":
        items = spec.get("items", {})
        nested = "$ref" in items or "anyOf" in items
        typ = f"list of {'objects' if nested else items.get('type', 'values')}"
    else:
        typ = str(spec.get("type", "object"))
    desc = spec.get("description", "")
    return f"- {name}: {typ}" + (f" ({desc})" if desc else "")


def schema_instruction(model: type[BaseModel], *, enforced: bool = False) -> str:
    """The sentence appended to the last user turn when a schema is requested.

    It goes last so that everything before it stays a shared, cacheable prompt prefix.  When the
    backend enforces the schema while decoding (a grammar), a long schema is summarised as its
    top-level fields: the grammar carries the details, and a CPU model would otherwise read
    thousands of schema tokens per call.
    """
    schema = schema_for(model)
    text = json.dumps(schema, separators=(",", ":"))
    if enforced and len(text) > ENFORCED_SCHEMA_CHARS:
        fields = [_field_line(n, s) for n, s in schema.get("properties", {}).items()]
        return (
            "Reply with only one JSON object (no prose, no code fence) with these fields "
            "(the exact format is enforced):\n" + "\n".join(fields)
        )
    return (
        "Reply with only one JSON object (no prose, no code fence) that matches this JSON "
        f"schema:\n{text}"
    )


def _strip_fences(text: str) -> str:
    match = _FENCE.search(text)
    return match.group(1).strip() if match else text.strip()


def _first_object(text: str) -> tuple[str | None, bool]:
    """The first balanced ``{...}`` in ``text`` (string-aware), and whether it was cut off.

    A cut-off object (the reply hit ``max_tokens``) is returned closed: the open string is
    terminated and the open brackets are closed in order, so the fields already written survive.
    """
    start = text.find("{")
    if start < 0:
        return None, False
    stack: list[str] = []
    in_string = False
    escape = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack[-1] != ch:
                return text[start : i + 1], False  # mismatched: let the JSON parser report it
            stack.pop()
            if not stack:
                return text[start : i + 1], False
    body = text[start:].rstrip()
    if in_string:
        body += '"'
    body = re.sub(r",\s*$", "", body)
    body = re.sub(r'(\{|,)\s*"[^"]*"\s*:?\s*$', r"\1", body)  # drop a dangling key
    body = re.sub(r",\s*$", "", body)
    return body + "".join(reversed(stack)), True


def _loads(candidate: str) -> Any:
    """``json.loads`` with trailing commas removed, then Python-literal syntax as a last resort."""
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as first:
        fixed = _TRAILING_COMMA.sub(r"\1", candidate.translate(_SMART_QUOTES))
        try:
            return json.loads(fixed)
        except json.JSONDecodeError:
            pass  # not fixed by that repair: try the next one
        try:
            # Single quotes, True/False/None: what a model that "thinks in Python" writes.
            value = ast.literal_eval(fixed)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise first from None
        if not isinstance(value, dict | list):
            raise first from None
        return value


def extract_json(text: str) -> tuple[Any, list[str]]:
    """Parse the JSON object in a reply; return it and the repairs applied.

    Raises ``ValueError`` with a short, model-readable problem when no object can be recovered.
    """
    repairs: list[str] = []
    body = _strip_fences(text)
    if body != text.strip():
        repairs.append("code fence")
    try:
        return json.loads(body), repairs
    except json.JSONDecodeError:
        pass  # not plain JSON: look for the first object inside the reply
    candidate, truncated = _first_object(body)
    if candidate is None:
        raise ValueError("no JSON object found in the reply")
    if candidate != body:
        repairs.append("closed truncated object" if truncated else "extracted object")
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError:
        try:
            value = _loads(candidate)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid JSON: {err.msg} at position {err.pos}") from None
        repairs.append("syntax")
    return value, repairs


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"]) or "(root)"
        parts.append(f"{where}: {e['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_structured(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """``(object, None)`` when the reply fits ``schema`` after repair, else ``(None, problem)``."""
    try:
        value, _ = extract_json(text)
    except ValueError as err:
        return None, str(err)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]  # "[{...}]": the object wrapped in a list
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    try:
        return schema.model_validate(value), None
    except ValidationError as err:
        return None, f"does not match the schema: {_describe(err)}"
