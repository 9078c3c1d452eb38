"""Schemathesis over the OpenAPI description, against a live server: every operation, good and bad input.

The description is the one the server serves at ``/openapi.json``: the packaged file, loaded at
collection so that each operation is its own test item (a test checks the server serves the
same bytes). For each operation, a bounded, derandomized set of requests (schema-valid ones and
ones that break the schema on purpose, headers and query strings included) goes to a real
``bastion serve``. Every answer must be documented (status, content type, body schema, SSE
events one by one), never a 5xx, never slower than the request time-out, and never contain a
secret from the config or a Python traceback.

Generated requests mostly name a configured model and the seeded records (a key, a user, a
team, an answered request), so they get past the 404 and reach validation, routing, the
translating adapters, guards, limits and storage.
"""

from __future__ import annotations

import zlib
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import strategies as st

from bastion.api.openapi import openapi_document
from tests.fuzz.conftest import (
    ADMIN_KEY,
    CHAT_MODELS,
    CLIENT_KEY,
    EMBEDDING_MODEL,
    SECRETS,
    SEEDED_REQUEST_ID,
    TEAM_ID,
    USER_ID,
    FuzzTarget,
)

SEED = 20240607
#: a request slower than this is a hang (the fake and the simulator answer in milliseconds)
REQUEST_TIMEOUT_SECONDS = 10
#: examples per operation: small, since every example is a real HTTP round trip on a slow CI core
EXAMPLES = 20
#: the client-facing routes with a JSON body carry most of the input surface, so they get more
BODY_EXAMPLES = 80
CHAT_PATHS = ("/v1/chat/completions", "/v1/messages")
LLM_PATHS = (*CHAT_PATHS, "/v1/embeddings")
PORTABLE_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "user",
    }
)
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "')
#: the seeded key's id, known once the server runs (the hooks below read it while generating)
SEEDED: dict[str, str] = {}

CHECKS_ON = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
)
# Off: Bastion passes unknown chat fields through and 404s unknown models, so "schema-valid means
# 2xx" and "schema-invalid means 4xx" do not hold by design; the resource checks need links.
CHECKS_OFF = (
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "use_after_free",
    "ensure_resource_availability",
    "unsupported_method",
    "allow_header_conformance",
)


def fuzz_config() -> schemathesis.Config:
    """Deterministic, bounded, with the keys of the fixture's config."""
    checks: dict[str, Any] = {name: {"enabled": True} for name in CHECKS_ON}
    checks.update({name: {"enabled": False} for name in CHECKS_OFF})
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": REQUEST_TIMEOUT_SECONDS,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "checks": checks,
            "auth": {
                "openapi": {
                    "virtualKey": {"bearer": CLIENT_KEY},
                    "anthropicApiKey": {"api_key": CLIENT_KEY},
                    "adminKey": {"bearer": ADMIN_KEY},
                }
            },
            "operations": [
                {"include-path": [*LLM_PATHS, "/v1/feedback"], "generation": {"max-examples": BODY_EXAMPLES}},
            ],
        }
    )


@pytest.fixture(scope="module", autouse=True)
def seeded_ids(fuzz_target: FuzzTarget) -> None:
    """Before any test generates a request: the hooks need the seeded key's id."""
    SEEDED["key_id"] = fuzz_target.key_id


# The packaged description: the same bytes the server serves (checked below), loaded at collection
# so that every operation is its own test item.
schema = schemathesis.openapi.from_dict(orjson.loads(openapi_document()), config=fuzz_config())


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Most generated model names and feedback ids name things that exist.

    Half the chat bodies keep only the fields every provider honours: a full OpenAI body is
    refused by the Anthropic and Gemini adapters (logit_bias, n…) before they translate the
    messages and tools, which is where translation bugs would be.
    """
    path = context.operation.path if context.operation is not None else ""
    if not isinstance(body, dict):
        return st.just(body)
    if path == "/v1/chat/completions":
        portable = {name: value for name, value in body.items() if name in PORTABLE_CHAT_FIELDS}
        bodies = st.sampled_from([body, portable])
        return bodies.flatmap(
            lambda chosen: st.sampled_from([*CHAT_MODELS, body.get("model")]).map(
                lambda model: {**chosen, "model": model}
            )
        )
    if path in LLM_PATHS and "model" in body:
        names = (EMBEDDING_MODEL,) if path == "/v1/embeddings" else CHAT_MODELS
        return st.sampled_from([*names, body["model"]]).map(lambda model: {**body, "model": model})
    if path == "/v1/feedback" and "request_id" in body:
        ids = st.sampled_from([SEEDED_REQUEST_ID, body["request_id"]])
        return ids.map(lambda request_id: {**body, "request_id": request_id})
    return st.just(body)


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Most generated ids name the seeded key, user and team."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {"key_id": SEEDED.get("key_id", ""), "user_id": USER_ID, "team_id": TEAM_ID}
    for name, value in path_parameters.items():
        if known.get(name):
            picked = st.sampled_from([known[name], value])
            return picked.map(lambda chosen, name=name: {**path_parameters, name: chosen})
    return st.just(path_parameters)


def spread_over_providers(case: schemathesis.Case) -> None:
    """Send a chat request named after the documented example model to one of every provider's models.

    The coverage phase builds its valid requests around the description's example model; picked
    by a hash of the body (deterministic), its cases reach each translating adapter too.
    """
    body = case.body
    if case.operation.path in CHAT_PATHS and isinstance(body, dict) and body.get("model") in CHAT_MODELS:
        body["model"] = CHAT_MODELS[zlib.crc32(repr(body).encode()) % len(CHAT_MODELS)]


@schema.parametrize()
def test_every_operation_answers_cleanly(case: schemathesis.Case, fuzz_target: FuzzTarget) -> None:
    spread_over_providers(case)
    response = case.call_and_validate(base_url=fuzz_target.server.url, timeout=REQUEST_TIMEOUT_SECONDS)
    text = response.text
    headers = str(response.headers)
    for secret in SECRETS:
        assert secret not in text, f"{case.operation.label}: a secret in the answer"
        assert secret not in headers, f"{case.operation.label}: a secret in a response header"
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, f"{case.operation.label}: a traceback in the answer"


def test_served_description_is_the_packaged_one(fuzz_target: FuzzTarget) -> None:
    response = httpx.get(f"{fuzz_target.server.url}/openapi.json", timeout=REQUEST_TIMEOUT_SECONDS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == openapi_document()


def test_the_server_survived(fuzz_target: FuzzTarget) -> None:
    """Runs after the fuzzing: still alive, and nothing reached the generic 500 path."""
    server = fuzz_target.server
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/healthz", timeout=REQUEST_TIMEOUT_SECONDS).status_code == 200
    log = server.log()
    assert "unhandled error" not in log
    assert "Exception in ASGI application" not in log


# Inputs that broke the server once, sent on every run. They run after the survival check (file
# order), since the known bugs below still reach the generic 500 path.
FIXED = [
    pytest.param(
        "/v1/chat/completions",
        {
            "model": CHAT_MODELS[0],
            "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": {"type": "function", "function": [None, None]},
        },
        id="chat-tool_choice-function-not-an-object",
    ),
    pytest.param(
        "/v1/feedback", {"request_id": SEEDED_REQUEST_ID, "thumbs": ["up"]}, id="feedback-thumbs-array"
    ),
    pytest.param(
        "/v1/feedback", {"request_id": SEEDED_REQUEST_ID, "thumbs": {}}, id="feedback-thumbs-object"
    ),
]


@pytest.mark.parametrize(("path", "body"), FIXED)
def test_found_inputs_get_a_400(fuzz_target: FuzzTarget, path: str, body: dict[str, Any]) -> None:
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    response = httpx.post(fuzz_target.server.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 400, response.text


# Found by fuzzing outside the request validators, fixed, and replayed on every run.
HUGE = str(2**64)


@pytest.mark.parametrize(
    "query", [f"/admin/usage?limit={HUGE}", f"/admin/usage?status={HUGE}", f"/admin/feedback?limit={HUGE}"]
)
def test_admin_report_with_a_huge_integer_is_a_400(fuzz_target: FuzzTarget, query: str) -> None:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    response = httpx.get(fuzz_target.server.url + query, headers=headers, timeout=10)
    assert response.status_code == 400, response.text
    assert "out of range" in response.text


def test_a_budget_too_large_to_count_exactly_is_refused(fuzz_target: FuzzTarget) -> None:
    url = fuzz_target.server.url
    created = httpx.post(
        f"{url}/admin/keys",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": "huge-budget", "limits": {"budget": {"day": 1e308}}},
        timeout=10,
    )
    assert created.status_code == 400, created.text
    assert "budget" in created.text
