"""JSON-schema output validation: what is checked, the violations it reports and the repair retry."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bastion.guards import schema as schema_module
from bastion.guards.schema import (
    MESSAGE_LIMIT,
    SchemaViolation,
    expected_schemas,
    repair_messages,
    schema_problem,
    unfence,
)

ITEMS_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["items"],
    "additionalProperties": False,
}
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}


def schema_body(schema: Any = ITEMS_SCHEMA, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "list the items"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "items", "strict": True, "schema": schema},
        },
        **extra,
    }


def tools_body(strict: bool = True, parameters: Any = WEATHER_PARAMETERS) -> dict[str, Any]:
    function: dict[str, Any] = {"name": "get_weather", "strict": strict}
    if parameters is not None:
        function["parameters"] = parameters
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": function}],
    }


def answer(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def tool_answer(arguments: str, name: str = "get_weather") -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def response(*messages: dict[str, Any], finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": i, "message": message, "finish_reason": finish_reason}
            for i, message in enumerate(messages)
        ],
    }


VALID = json.dumps({"items": [{"name": "tea", "price": 2.5}]})


# --- what is checked --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [], "response_format": {"type": "text"}},
        {"messages": [], "response_format": None, "tools": None},
        tools_body(strict=False),
        {"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]},
    ],
)
def test_nothing_to_check_is_none(body: dict[str, Any]) -> None:
    assert expected_schemas(body) is None


def test_valid_answer_passes() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    assert schemas.check_message(answer(VALID)) is None
    assert schemas.check_response(response(answer(VALID))) is None


def test_first_error_is_reported_with_its_path() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    content = json.dumps({"items": [{"name": "a", "price": 1}, {"name": "b", "price": 2}, {"name": "c"}]})
    violation = schemas.check_message(answer(content))
    assert violation == SchemaViolation("content", "/items/2", "'price' is a required property")


def test_type_error_deep_in_the_answer() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    violation = schemas.check_message(answer('{"items": [{"name": "a", "price": "free"}]}'))
    assert violation is not None
    assert (violation.path, violation.message) == ("/items/0/price", "'free' is not of type 'number'")


def test_root_errors_have_the_root_path() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    violation = schemas.check_message(answer('{"items": [], "extra": 1}'))
    assert violation is not None
    assert violation.path == "/"
    assert "extra" in violation.message


def test_path_segments_are_escaped_as_json_pointer() -> None:
    body = schema_body({"type": "object", "properties": {"a/b": {"type": "integer"}}})
    schemas = expected_schemas(body)
    assert schemas is not None
    violation = schemas.check_message(answer('{"a/b": "x"}'))
    assert violation is not None and violation.path == "/a~1b"


def test_invalid_json_is_reported_with_the_parser_position() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    violation = schemas.check_message(answer('{"items": [}'))
    assert violation is not None
    assert violation.path == ""
    assert violation.message.startswith("the answer is not valid JSON: Expecting value: line 1 column 12")


@pytest.mark.parametrize("content", [None, "", "   "])
def test_empty_answer_is_a_violation(content: Any) -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    violation = schemas.check_message(answer(content))
    assert violation is not None and "empty" in violation.message


def test_refusal_is_not_a_violation() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    assert (
        schemas.check_message({"role": "assistant", "content": None, "refusal": "I can't help with that."})
        is None
    )


def test_content_parts_are_joined() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    parts = [{"type": "text", "text": VALID[:10]}, {"type": "text", "text": VALID[10:]}]
    assert schemas.check_message(answer(parts)) is None


def test_message_is_short_even_for_a_huge_value() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    content = json.dumps({"items": [{"name": "x" * 10_000, "price": "y" * 10_000}]})
    violation = schemas.check_message(answer(content))
    assert violation is not None
    assert len(violation.message) <= MESSAGE_LIMIT
    assert violation.message.endswith("is not of type 'number'")


def test_json_object_mode_requires_an_object() -> None:
    schemas = expected_schemas({"messages": [], "response_format": {"type": "json_object"}})
    assert schemas is not None
    assert schemas.check_message(answer('{"anything": [1, 2]}')) is None
    violation = schemas.check_message(answer("[1, 2]"))
    assert violation is not None and violation.message == "a JSON object is required, not an array"
    assert schemas.check_message(answer("not json")) is not None


def test_json_schema_without_a_schema_accepts_any_json() -> None:
    body = {"messages": [], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}
    schemas = expected_schemas(body)
    assert schemas is not None
    assert schemas.check_message(answer("[1, 2]")) is None
    assert schemas.check_message(answer("nope")) is not None


def test_format_is_not_asserted_by_default() -> None:
    body = schema_body({"type": "object", "properties": {"at": {"type": "string", "format": "date"}}})
    lenient = expected_schemas(body)
    strict = expected_schemas(body, check_formats=True)
    assert lenient is not None and strict is not None
    assert lenient.check_message(answer('{"at": "yesterday"}')) is None
    violation = strict.check_message(answer('{"at": "yesterday"}'))
    assert violation is not None and violation.path == "/at"


def test_declared_draft_is_honoured() -> None:
    # draft 7 has no prefixItems: the keyword is ignored there, enforced in 2020-12
    tuple_schema = {"type": "array", "prefixItems": [{"type": "integer"}]}
    draft7 = expected_schemas(
        schema_body({"$schema": "http://json-schema.org/draft-07/schema#", **tuple_schema})
    )
    latest = expected_schemas(schema_body(tuple_schema))
    assert draft7 is not None and latest is not None
    assert draft7.check_message(answer('["a"]')) is None
    assert latest.check_message(answer('["a"]')) is not None


# --- tools ------------------------------------------------------------------------------------


def test_strict_tool_arguments_are_checked() -> None:
    schemas = expected_schemas(tools_body())
    assert schemas is not None
    assert schemas.check_message(tool_answer('{"city": "Paris", "unit": "c"}')) is None
    violation = schemas.check_message(tool_answer('{"city": "Paris", "unit": "kelvin"}'))
    assert violation is not None
    assert violation.where == "tool_calls[0].function.arguments (get_weather)"
    assert violation.path == "/unit"
    assert violation.tool_call == 0
    assert "'kelvin' is not one of" in violation.message


def test_unparseable_tool_arguments() -> None:
    schemas = expected_schemas(tools_body())
    assert schemas is not None
    violation = schemas.check_message(tool_answer('{"city": "Par'))
    assert violation is not None and violation.message.startswith("the answer is not valid JSON")


def test_second_tool_call_is_named_in_where() -> None:
    schemas = expected_schemas(tools_body())
    assert schemas is not None
    message = tool_answer('{"city": "Paris", "unit": "c"}')
    message["tool_calls"].append(
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    )
    violation = schemas.check_message(message)
    assert violation is not None
    assert violation.where.startswith("tool_calls[1].")
    assert violation.tool_call == 1


def test_calls_of_other_tools_are_not_checked() -> None:
    body = tools_body()
    body["tools"].append(
        {"type": "function", "function": {"name": "loose", "parameters": WEATHER_PARAMETERS}}
    )
    schemas = expected_schemas(body)
    assert schemas is not None
    assert schemas.check_message(tool_answer("not even json", name="loose")) is None


def test_strict_tool_without_parameters_takes_an_object() -> None:
    schemas = expected_schemas(tools_body(parameters=None))
    assert schemas is not None
    assert schemas.check_message(tool_answer("{}")) is None
    assert schemas.check_message(tool_answer("[]")) is not None


def test_tool_only_answer_has_no_content_to_check() -> None:
    body = {**schema_body(), "tools": tools_body()["tools"]}
    schemas = expected_schemas(body)
    assert schemas is not None
    assert schemas.check_message(tool_answer('{"city": "Paris", "unit": "f"}')) is None


def test_every_choice_is_checked() -> None:
    schemas = expected_schemas(schema_body(n=2))
    assert schemas is not None
    violation = schemas.check_response(response(answer(VALID), answer("{}")))
    assert violation is not None
    assert violation.where == "choices[1].content"
    assert violation.choice == 1


# --- fences -----------------------------------------------------------------------------------

FENCED = f"```json\n{VALID}\n```"


def test_fenced_json_is_rejected_by_default() -> None:
    schemas = expected_schemas(schema_body())
    assert schemas is not None
    violation = schemas.check_message(answer(FENCED))
    assert violation is not None and "markdown code fence" in violation.message


def test_fenced_json_is_tolerated_and_removed_when_allowed() -> None:
    schemas = expected_schemas(schema_body(), allow_fences=True)
    assert schemas is not None
    message = answer(FENCED)
    assert schemas.check_message(message) is None
    assert schemas.unfence_message(message) == answer(VALID)
    plain = answer(VALID)
    assert schemas.unfence_message(plain) is plain


def test_fence_tolerance_still_validates_the_inside() -> None:
    schemas = expected_schemas(schema_body(), allow_fences=True)
    assert schemas is not None
    assert schemas.check_message(answer('```\n{"items": 3}\n```')) is not None


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        ("```json\n{}\n```", "{}"),
        ("  ```\n[1]\n```  \n", "[1]"),
        ("```JSON\r\n{}\r\n```", "{}"),
        ('{"a": "```"}', None),
        ("text before ```json\n{}\n```", None),
    ],
)
def test_unfence(text: str, inner: str | None) -> None:
    assert unfence(text) == inner


# --- broken schemas from clients ----------------------------------------------------------------


def test_malformed_schema_is_a_non_retryable_violation_not_an_exception() -> None:
    body = schema_body({"type": "objekt"})
    assert schema_problem(body) is not None
    assert "response_format.json_schema.schema" in (schema_problem(body) or "")
    schemas = expected_schemas(body)
    assert schemas is not None
    violation = schemas.check_message(answer("{}"))
    assert violation is not None
    assert violation.retryable is False
    assert "not a valid JSON schema" in violation.message


def test_schema_that_is_not_an_object() -> None:
    assert schema_problem(schema_body(["type", "object"])) == (
        "response_format.json_schema.schema: a schema must be an object or a boolean, not an array"
    )


def test_broken_strict_tool_schema_is_named() -> None:
    problem = schema_problem(tools_body(parameters={"type": "object", "required": "city"}))
    assert problem is not None and problem.startswith("tools[get_weather].function.parameters:")


def test_remote_reference_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a client's schema made the gateway fetch a URL")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    body = schema_body({"type": "object", "properties": {"a": {"$ref": "http://169.254.169.254/latest"}}})
    problem = schema_problem(body)
    assert problem is not None and "does not resolve" in problem
    schemas = expected_schemas(body)
    assert schemas is not None
    violation = schemas.check_message(answer('{"a": 1}'))
    assert violation is not None and not violation.retryable


def test_local_references_work() -> None:
    recursive = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    }
    body = schema_body(recursive)
    assert schema_problem(body) is None
    schemas = expected_schemas(body)
    assert schemas is not None
    assert schemas.check_message(answer('{"children": [{"children": []}]}')) is None
    violation = schemas.check_message(answer('{"children": [{"children": 3}]}'))
    assert violation is not None and violation.path == "/children/0/children"


def test_valid_request_has_no_problem() -> None:
    assert schema_problem(schema_body()) is None
    assert schema_problem(tools_body()) is None
    assert schema_problem({"messages": []}) is None


def test_enum_values_shaped_like_refs_are_data() -> None:
    assert schema_problem(schema_body({"enum": [{"$ref": "nowhere"}]})) is None


# --- cache ------------------------------------------------------------------------------------


def test_validators_are_cached_by_canonical_schema() -> None:
    cache = schema_module._CACHE
    cache.clear()
    reordered = json.loads(json.dumps(ITEMS_SCHEMA, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    expected_schemas(schema_body())
    expected_schemas(schema_body(reordered))
    assert (cache.misses, cache.hits) == (1, 1)


def test_cache_is_bounded() -> None:
    cache = schema_module._ValidatorCache(size=3)
    for minimum in range(10):
        cache.get({"type": "integer", "minimum": minimum}, False)
    assert len(cache._entries) == 3
    cache.get({"type": "integer", "minimum": 9}, False)
    assert cache.hits == 1


# --- repair -----------------------------------------------------------------------------------


def test_repair_of_content_adds_the_answer_and_the_error() -> None:
    body = schema_body()
    before = copy.deepcopy(body)
    schemas = expected_schemas(body)
    assert schemas is not None
    bad = response(answer('{"items": [{"name": "a"}]}'))
    violation = schemas.check_response(bad)
    assert violation is not None
    repaired = repair_messages(body, bad, violation)
    assert body == before
    assert repaired["response_format"] == body["response_format"]
    assert repaired["messages"][:-2] == body["messages"]
    assistant, user = repaired["messages"][-2:]
    assert assistant == {"role": "assistant", "content": '{"items": [{"name": "a"}]}'}
    assert user["role"] == "user"
    assert "at /items/0: 'price' is a required property" in user["content"]
    assert "only the corrected JSON" in user["content"]


def test_repair_mentions_a_cut_off_answer() -> None:
    body = schema_body()
    schemas = expected_schemas(body)
    assert schemas is not None
    bad = response(answer('{"items": [{"name": "a", "pri'), finish_reason="length")
    violation = schemas.check_response(bad)
    assert violation is not None
    user = repair_messages(body, bad, violation)["messages"][-1]
    assert "token limit" in user["content"]


def test_repair_of_an_empty_answer_adds_no_empty_assistant_turn() -> None:
    body = schema_body()
    schemas = expected_schemas(body)
    assert schemas is not None
    bad = response(answer(""))
    violation = schemas.check_response(bad)
    assert violation is not None
    added = repair_messages(body, bad, violation)["messages"][len(body["messages"]) :]
    assert [m["role"] for m in added] == ["user"]


def test_repair_of_a_tool_call_is_one_user_message() -> None:
    body = tools_body()
    schemas = expected_schemas(body)
    assert schemas is not None
    bad = response(tool_answer('{"city": "Paris", "unit": "kelvin"}'), finish_reason="tool_calls")
    violation = schemas.check_response(bad)
    assert violation is not None
    repaired = repair_messages(body, bad, violation)
    added = repaired["messages"][len(body["messages"]) :]
    assert len(added) == 1 and added[0]["role"] == "user"
    text = added[0]["content"]
    assert "`get_weather`" in text
    assert '{"city": "Paris", "unit": "kelvin"}' in text
    assert "at /unit" in text
    assert repaired["tools"] == body["tools"]


def test_repair_targets_the_failing_choice() -> None:
    body = schema_body(n=2)
    schemas = expected_schemas(body)
    assert schemas is not None
    bad = response(answer(VALID), answer('{"items": 1}'))
    violation = schemas.check_response(bad)
    assert violation is not None
    assistant = repair_messages(body, bad, violation)["messages"][-2]
    assert assistant["content"] == '{"items": 1}'
