"""Cache keys: what makes two requests the same request, and what keeps tenants apart."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bastion.cache.keys import (
    cache_key,
    canonical_request,
    group_fingerprint,
    is_repeatable,
    partition_of,
    tenant_of,
    uncacheable_reason,
)
from bastion.identity.principal import Principal

PARTITION = partition_of("gpt", "abcd1234", "team:t1")
BASE: dict[str, Any] = {
    "model": "gpt",
    "temperature": 0,
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    "max_tokens": 50,
}


def key(body: dict[str, Any], partition: str = PARTITION) -> str:
    return cache_key(partition, body)


def parsed(text: str) -> dict[str, Any]:
    return orjson.loads(text)


SAME = [
    ("field order", {**dict(reversed(list(BASE.items())))}),
    (
        "message field order",
        {**BASE, "messages": [{"content": m["content"], "role": m["role"]} for m in BASE["messages"]]},
    ),
    ("JSON whitespace", parsed(orjson.dumps(BASE).decode().replace(",", " ,\n  ").replace(":", " :\t"))),
    ("user excluded", {**BASE, "user": "alice"}),
    ("metadata excluded", {**BASE, "metadata": {"trace": "1"}}),
    ("stream excluded", {**BASE, "stream": True, "stream_options": {"include_usage": True}}),
    ("store excluded", {**BASE, "store": True}),
    ("model name excluded (the group stands for it)", {**BASE, "model": "alias-of-gpt"}),
    ("explicit null is absent", {**BASE, "seed": None}),
    ("0.0 is 0", {**BASE, "temperature": 0.0}),
]

DIFFERENT = [
    ("temperature", {**BASE, "temperature": 0.5}),
    ("seed", {**BASE, "seed": 7}),
    ("max_tokens", {**BASE, "max_tokens": 51}),
    ("top_p", {**BASE, "top_p": 0.5}),
    ("stop", {**BASE, "stop": ["\n"]}),
    ("system prompt", {**BASE, "messages": [{"role": "system", "content": "Be long."}, BASE["messages"][1]]}),
    (
        "whitespace inside the prompt",
        {**BASE, "messages": [BASE["messages"][0], {"role": "user", "content": "hi "}]},
    ),
    ("tools", {**BASE, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    ("tool_choice", {**BASE, "tool_choice": "none"}),
    ("response_format", {**BASE, "response_format": {"type": "json_object"}}),
]


@pytest.mark.parametrize(("case", "body"), SAME, ids=[c for c, _ in SAME])
def test_same_answer_same_key(case: str, body: dict[str, Any]) -> None:
    assert key(body) == key(BASE), case


@pytest.mark.parametrize(("case", "body"), DIFFERENT, ids=[c for c, _ in DIFFERENT])
def test_different_answer_different_key(case: str, body: dict[str, Any]) -> None:
    assert key(body) != key(BASE), case


def test_schema_property_order_is_kept() -> None:
    # structured outputs follow the schema's property order: reordering may change the answer
    def schema(order: list[str]) -> dict[str, Any]:
        properties = {name: {"type": "string"} for name in order}
        return {"type": "json_schema", "json_schema": {"name": "x", "schema": {"properties": properties}}}

    assert key({**BASE, "response_format": schema(["a", "b"])}) != key(
        {**BASE, "response_format": schema(["b", "a"])}
    )


def test_partition_is_part_of_the_key() -> None:
    other_tenant = partition_of("gpt", "abcd1234", "team:t2")
    other_group = partition_of("gpt-big", "abcd1234", "team:t1")
    other_deployments = partition_of("gpt", "ffff0000", "team:t1")
    keys = {key(BASE, p) for p in (PARTITION, other_tenant, other_group, other_deployments)}
    assert len(keys) == 4


def test_tenant_is_the_team_else_the_key_unless_shared() -> None:
    assert tenant_of(Principal(key_id="k1", team_id="t1"), shared=False) == "team:t1"
    assert tenant_of(Principal(key_id="k1"), shared=False) == "key:k1"
    assert tenant_of(Principal(key_id="k2"), shared=False) != tenant_of(Principal(key_id="k1"), shared=False)
    assert tenant_of(Principal(key_id="k1", team_id="t1"), shared=True) == "*"


def test_group_fingerprint_follows_the_deployments() -> None:
    one = group_fingerprint([("openai", "gpt-4o", {})])
    assert one == group_fingerprint([("openai", "gpt-4o", {})])
    assert one != group_fingerprint([("openai", "gpt-4o-mini", {})])
    assert one != group_fingerprint([("openai", "gpt-4o", {"max_tokens": 5})])


@pytest.mark.parametrize(
    ("body", "repeatable"),
    [
        ({}, False),
        ({"temperature": 0.7}, False),
        ({"temperature": 0}, True),
        ({"temperature": 0.0}, True),
        ({"seed": 1}, True),
        ({"temperature": 1, "seed": 0}, True),
    ],
)
def test_repeatable(body: dict[str, Any], repeatable: bool) -> None:
    assert is_repeatable(body) is repeatable


def test_uncacheable_shapes() -> None:
    assert uncacheable_reason(BASE) is None
    assert uncacheable_reason({**BASE, "n": 1}) is None
    assert uncacheable_reason({**BASE, "n": 2}) == "n"
    assert uncacheable_reason({**BASE, "logprobs": True}) == "logprobs"


def test_canonical_form_is_compact_and_sorted() -> None:
    assert (
        canonical_request({"b": 1, "a": {"y": 1, "x": 2}}) == b'{"a":{"x":2,"y":1},"b":1}\n[null,null,null]'
    )
