"""Structured output: every repair branch, the bounded retry loop, cost accounting, and message
handling, driven by the scripted chat model (no weights)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel

from vidsleuth.errors import ModelError
from vidsleuth.tools.models.base import ChatModel, ChatResult, Cost, StructuredOutputError
from vidsleuth.tools.models.chat import encode_image, normalize_messages
from vidsleuth.tools.models.structured import extract_json, parse_structured, schema_instruction
from vidsleuth.tools.models.testing import ScriptedChatModel


class Answer(BaseModel):
    answer: str
    time_s: float


USER = [{"role": "user", "content": "Which letter?"}]


# --- repair ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "repair"),
    [
        ('{"answer": "B", "time_s": 12}', None),
        ('```json\n{"answer": "B", "time_s": 12}\n```', "code fence"),
        ('Sure! Here it is: {"answer": "B", "time_s": 12} Hope that helps.', "extracted object"),
        ('{"answer": "B", "time_s": 12,}', "syntax"),
        ("{'answer': 'B', 'time_s': 12}", "syntax"),
        ('{"answer": "B", "time_s": 12', "closed truncated object"),
        ('{"answer": "B", "time_s": 12, "reason": "a red ca', "closed truncated object"),
        ("{\u201canswer\u201d: \u201cB\u201d, \u201ctime_s\u201d: 12,}", "syntax"),
    ],
)
def test_repairs_recover_the_object(text: str, repair: str | None) -> None:
    value, repairs = extract_json(text)
    assert value["answer"] == "B"
    assert value["time_s"] == 12
    if repair is None:
        assert repairs == []
    else:
        assert repair in repairs


def test_python_literals_are_accepted() -> None:
    value, _ = extract_json("{'answer': 'B', 'time_s': 1.5, 'sure': True, 'note': None}")
    assert value == {"answer": "B", "time_s": 1.5, "sure": True, "note": None}


def test_braces_inside_strings_do_not_end_the_object() -> None:
    value, _ = extract_json('prefix {"answer": "a } brace", "time_s": 3} suffix {"x": 1}')
    assert value == {"answer": "a } brace", "time_s": 3}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("The answer is B.", "no JSON object"),
        ('{"answer": "B" "time_s": 3}', "invalid JSON"),
        ('{"answer": "B"}', "time_s: Field required"),
        ('{"answer": "B", "time_s": "soon"}', "time_s"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_unrepairable_replies_name_the_problem(text: str, problem: str) -> None:
    parsed, why = parse_structured(text, Answer)
    assert parsed is None
    assert why is not None and problem in why


def test_object_wrapped_in_a_list_is_unwrapped() -> None:
    parsed, why = parse_structured('[{"answer": "C", "time_s": 4}]', Answer)
    assert why is None and isinstance(parsed, Answer) and parsed.answer == "C"


# --- the retry loop ----------------------------------------------------------------------------


def test_valid_first_reply_costs_one_call() -> None:
    model = ScriptedChatModel(['{"answer": "B", "time_s": 120}'])
    res = model.chat(USER, schema=Answer)
    assert res.ok and res.parsed == Answer(answer="B", time_s=120)
    assert (res.usage.calls, res.usage.retries, res.usage.failures) == (1, 0, 0)
    # The schema instruction goes last, after the caller's text (cacheable prefix first).
    sent = model.calls[0][-1]["content"]
    assert sent.startswith("Which letter?") and sent.endswith(
        schema_instruction(Answer).split("\n")[-1]
    )
    assert model.schemas == [None]  # unconstrained backend: no schema sent for decoding


def test_malformed_reply_is_retried_with_the_problem_stated() -> None:
    model = ScriptedChatModel(['{"answer": "B"}', '{"answer": "B", "time_s": 120}'])
    res = model.chat(USER, schema=Answer)
    assert res.ok and isinstance(res.parsed, Answer) and res.parsed.time_s == 120
    assert (res.usage.calls, res.usage.retries, res.usage.failures) == (2, 1, 0)
    second = model.calls[1]
    assert second[-2] == {"role": "assistant", "content": '{"answer": "B"}'}
    assert "time_s: Field required" in second[-1]["content"]
    assert second[: len(model.calls[0])] == model.calls[0]  # earlier turns unchanged


def test_unusable_replies_become_a_typed_failure_not_a_crash() -> None:
    model = ScriptedChatModel(["no idea", "still prose", "nope"], max_retries=2)
    res = model.chat(USER, schema=Answer)
    assert not res.ok and res.parsed is None
    assert isinstance(res.failure, StructuredOutputError)
    assert res.failure.attempts == 3 and "no JSON object" in res.failure.problem
    assert (res.usage.calls, res.usage.retries, res.usage.failures) == (3, 2, 1)
    assert model.remaining == 0
    with pytest.raises(StructuredOutputError, match="after 3 attempt"):
        res.require()


def test_zero_retries_fails_after_one_call() -> None:
    model = ScriptedChatModel(["prose", "unused"], max_retries=0)
    res = model.chat(USER, schema=Answer)
    assert res.failure is not None and res.usage.calls == 1 and model.remaining == 1


def test_cut_off_reply_says_so() -> None:
    model = ScriptedChatModel(["word " * 50], max_retries=0)
    res = model.chat(USER, schema=Answer, max_tokens=10)
    assert res.finish_reason == "length"
    assert res.failure is not None and "cut off at max_tokens" in res.failure.problem


def test_constrained_backend_receives_the_json_schema() -> None:
    model = ScriptedChatModel(['{"answer": "A", "time_s": 1}'], constrained=True)
    model.chat(USER, schema=Answer)
    assert model.schemas[0] is not None
    assert model.schemas[0]["properties"]["time_s"]["type"] == "number"


def test_plain_chat_returns_text_and_no_parsed_object() -> None:
    model = ScriptedChatModel(["hello there"])
    res = model.chat(USER)
    assert res.text == "hello there" and res.parsed is None and res.ok
    with pytest.raises(ModelError, match="no schema"):
        res.require()


def test_running_out_of_script_is_an_error() -> None:
    model = ScriptedChatModel([])
    with pytest.raises(ModelError, match="no scripted reply"):
        model.chat(USER)


def test_callable_replies_see_the_messages() -> None:
    model = ScriptedChatModel([lambda msgs: f"you said {msgs[-1]['content']}"])
    assert model.chat(USER).text == "you said Which letter?"


def test_scripted_model_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedChatModel([]), ChatModel)


# --- cost ----------------------------------------------------------------------------------------


def test_costs_sum() -> None:
    total = Cost()
    total += Cost(calls=1, prompt_tokens=10, retries=1, seconds=0.5)
    total += Cost(calls=2, completion_tokens=3, failures=1, seconds=0.25)
    assert total == Cost(
        calls=3, prompt_tokens=10, completion_tokens=3, retries=1, failures=1, seconds=0.75
    )
    assert (Cost(calls=1) + Cost(calls=2)).calls == 3
    assert total.as_dict()["failures"] == 1


def test_result_usage_counts_tokens() -> None:
    model = ScriptedChatModel(["one two three"])
    res = model.chat([{"role": "user", "content": "a b"}])
    assert isinstance(res, ChatResult)
    assert res.usage.prompt_tokens == 2 and res.usage.completion_tokens == 3
    assert res.usage.seconds >= 0


# --- messages ----------------------------------------------------------------------------------


def test_numpy_images_are_encoded_as_data_urls() -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    img[:, :15] = 255
    msgs = normalize_messages(
        [{"role": "user", "content": ["what is this?", {"type": "image", "image": img}]}]
    )
    parts = msgs[0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["type"] == "image_url"
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_huge_images_are_shrunk_before_sending() -> None:
    import base64
    import io

    from PIL import Image

    url = encode_image(np.zeros((50, 8000, 3), np.uint8), max_side=1024)
    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert max(im.size) == 1024


def test_bad_image_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="HxWx3"):
        encode_image(np.zeros((4, 4, 7), np.uint8))


def test_text_only_model_refuses_images() -> None:
    model = ScriptedChatModel(["x"], supports_images=False)
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ModelError, match="text-only"):
        model.chat([{"role": "user", "content": [{"type": "image", "image": img}]}])


def test_message_without_role_is_rejected() -> None:
    with pytest.raises(ModelError, match="role"):
        ScriptedChatModel(["x"]).chat([{"content": "hi"}])
