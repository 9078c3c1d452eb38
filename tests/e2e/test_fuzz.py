"""No input makes the server answer a bare 500: seeded random mutations of valid bodies on every route."""

from __future__ import annotations

import copy
import random
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, Server

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    "",
    "x" * 300,
    "\u0000\ud7ff",
    [],
    [1, "a"],
    {},
    {"a": {"b": []}},
    [{"role": "user"}],
    {"type": 1},
    "NaN",
]

CHAT = {
    "model": "gpt-fake",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}},
    "stream": False,
    "max_tokens": 20,
    "temperature": 0.5,
    "stop": ["END"],
}
MESSAGES = {
    "model": "claude-fake",
    "max_tokens": 20,
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto"},
    "stream": False,
}
EMBEDDINGS = {"model": "emb-openai", "input": ["a", "b"], "encoding_format": "float"}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    mutated = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(paths(mutated))
        parent = mutated
        for key in target[:-1]:
            parent = parent[key]
        if rng.random() < 0.2 and isinstance(parent, dict):
            parent.pop(target[-1], None)
        else:
            parent[target[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        if not paths(mutated):
            break
    return mutated


@pytest.mark.parametrize(
    ("path", "template"),
    [("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES), ("/v1/embeddings", EMBEDDINGS)],
)
def test_mutated_bodies_get_a_clean_answer(server: Server, path: str, template: dict[str, Any]) -> None:
    rng = random.Random(f"fuzz-{path}")
    statuses: dict[int, int] = {}
    with httpx.Client(headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=20) as client:
        for _ in range(150):
            body = mutate(template, rng)
            response = client.post(server.url + path, json=body)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500 or response.status_code in (502, 503), (body, response.text)
            assert "Traceback" not in response.text
            for secret in PROVIDER_KEYS.values():
                assert secret not in response.text
            if response.status_code != 200:
                error = response.json()
                if path == "/v1/messages":
                    assert error["type"] == "error" and error["error"]["message"]
                else:
                    assert error["error"]["message"] and error["error"]["type"]
            elif body.get("stream") is not True:
                assert response.json()
    assert statuses.get(400, 0) > 20  # the mutations really exercised validation
    assert "unhandled error" not in server.log()
