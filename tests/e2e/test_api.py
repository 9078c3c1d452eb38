"""The HTTP contract around the happy path: headers, errors, auth, limits, embeddings, models, streams."""

from __future__ import annotations

import base64
import struct
import time

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, Fakes, Server
from tests.fakes.base import Fault

USER = [{"role": "user", "content": "hello there"}]


def post(server: Server, path: str, body: object | bytes, **headers: str) -> httpx.Response:
    all_headers = {"authorization": f"Bearer {CLIENT_KEY}", **headers}
    if isinstance(body, bytes):
        return httpx.post(server.url + path, content=body, headers=all_headers, timeout=20)
    return httpx.post(server.url + path, json=body, headers=all_headers, timeout=20)


def assert_no_secret(text: str) -> None:
    for secret in PROVIDER_KEYS.values():
        assert secret not in text
    assert "Traceback" not in text


# ------------------------------------------------------------------ headers


def test_response_headers_name_provider_model_attempts_and_echo_request_id(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-fake", messages=USER, extra_headers={"x-request-id": "trace-abc-123"}
    )
    assert raw.headers["x-request-id"] == "trace-abc-123"
    assert raw.headers["x-bastion-provider"] == "anthropic"
    assert raw.headers["x-bastion-model"] == "claude-sonnet-4-5"
    assert raw.headers["x-bastion-attempts"] == "1"
    assert raw.parse().choices[0].message.content == "Echo: hello there"


def test_request_id_generated_when_absent(server: Server) -> None:
    response = post(server, "/v1/chat/completions", {"model": "gpt-fake", "messages": USER})
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")


def test_stream_headers_and_no_usage_chunk_unless_asked(server: Server) -> None:
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={"model": "gpt-fake", "messages": USER, "stream": True},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-bastion-provider"] == "openai"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert not any('"usage"' in line for line in lines)


def test_upstream_is_asked_for_stream_usage_even_when_client_is_not(oai: openai.OpenAI, fakes: Fakes) -> None:
    fakes.openai.clear()
    list(oai.chat.completions.create(model="gpt-fake", messages=USER, stream=True))
    sent = fakes.openai.requests[-1].json
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "gpt-4o-mini"


def test_provider_key_is_sent_upstream_and_client_key_is_not(oai: openai.OpenAI, fakes: Fakes) -> None:
    fakes.clear()
    oai.chat.completions.create(model="gpt-fake", messages=USER)
    oai.chat.completions.create(model="claude-fake", messages=USER)
    oai.chat.completions.create(model="gemini-fake", messages=USER)
    assert fakes.openai.requests[-1].headers["authorization"] == f"Bearer {PROVIDER_KEYS['openai']}"
    assert fakes.anthropic.requests[-1].headers["x-api-key"] == PROVIDER_KEYS["anthropic"]
    assert fakes.gemini.requests[-1].headers["x-goog-api-key"] == PROVIDER_KEYS["gemini"]
    for fake in (fakes.openai, fakes.anthropic, fakes.gemini):
        assert CLIENT_KEY not in str(fake.requests[-1].headers)


def test_azure_preset_uses_deployment_url_api_version_and_api_key_header(
    oai: openai.OpenAI, fakes: Fakes
) -> None:
    fakes.openai.clear()
    response = oai.chat.completions.create(model="azure-fake", messages=USER)
    assert response.choices[0].message.content == "Echo: hello there"
    sent = fakes.openai.requests[-1]
    assert sent.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query["api-version"] == "2024-10-21"
    assert sent.headers["api-key"] == PROVIDER_KEYS["openai"]


# ------------------------------------------------------------------ client errors


def test_missing_and_wrong_key_get_401_in_each_protocol(server: Server) -> None:
    no_key = httpx.post(server.url + "/v1/chat/completions", json={"model": "gpt-fake", "messages": USER})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(
            model="gpt-fake", messages=USER
        )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic.Anthropic(base_url=server.url, api_key="sk-wrong", max_retries=0).messages.create(
            model="claude-fake", max_tokens=10, messages=USER
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "authentication_error"


def test_anthropic_route_accepts_x_api_key(server: Server) -> None:
    response = httpx.post(
        server.url + "/v1/messages",
        json={"model": "claude-fake", "max_tokens": 20, "messages": USER},
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "Echo: hello there"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": "gpt-fake"}, "messages"),
        ({"model": "gpt-fake", "messages": "hi"}, "messages"),
        ({"model": "gpt-fake", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "gpt-fake", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "gpt-fake", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "gpt-fake", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "gpt-fake", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "gpt-fake", "messages": USER, "tools": [{"type": "function"}]}, "tools[0].function"),
        ({"model": "gpt-fake", "messages": USER, "response_format": {"type": "xml"}}, "response_format"),
        (
            {"model": "gpt-fake", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
    ],
)
def test_invalid_openai_requests_get_400_naming_the_field(server: Server, body: dict, param: str) -> None:
    response = post(server, "/v1/chat/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param.split("[")[0] in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_gets_400(server: Server, raw: bytes) -> None:
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/embeddings"):
        response = post(server, path, raw, **{"content-type": "application/json"})
        assert response.status_code == 400, path
        body = response.json()
        if path == "/v1/messages":
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        else:
            assert body["error"]["type"] == "invalid_request_error"


def test_invalid_anthropic_request_names_the_field(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="claude-fake", max_tokens=10, messages=[{"role": "robot", "content": "x"}]
        )
    assert "messages.0.role" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="claude-fake", max_tokens="ten", messages=USER)  # type: ignore[arg-type]
    assert "max_tokens" in caught.value.body["error"]["message"]


def test_unknown_model_gets_404_listing_models(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="gpt-99", messages=USER)
    message = caught.value.body["message"]
    assert "gpt-99" in message and "gpt-fake" in message and "claude-fake" in message
    assert "emb-openai" not in message  # embeddings models are not chat models
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="gpt-99", max_tokens=5, messages=USER)


def test_body_over_limit_gets_413(server: Server) -> None:
    big = {"model": "gpt-fake", "messages": [{"role": "user", "content": "x" * 70000}]}
    response = post(server, "/v1/chat/completions", big)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]
    anthropic_response = post(server, "/v1/messages", {**big, "max_tokens": 5})
    assert anthropic_response.status_code == 413
    assert anthropic_response.json()["error"]["type"] == "request_too_large"


def test_unsupported_parameter_is_refused_with_400_naming_it(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="claude-fake", messages=USER, logprobs=True)
    assert caught.value.body["param"] == "logprobs"
    assert "anthropic" in caught.value.body["message"]


def test_unknown_route_and_wrong_method(server: Server) -> None:
    assert httpx.get(server.url + "/v1/nothing").status_code == 404
    wrong = httpx.get(server.url + "/v1/chat/completions")
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]


# ------------------------------------------------------------------ upstream failures


def test_upstream_429_is_429_with_retry_after(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="broken-429", messages=USER)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.headers["x-bastion-provider"] == "openai"
    assert "openai" in caught.value.body["message"]


def test_upstream_rejecting_our_key_is_502_and_never_leaks_it(oai: openai.OpenAI, server: Server) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model="broken-401", messages=USER)
    assert caught.value.status_code == 502
    assert "credentials" in caught.value.body["message"]
    assert_no_secret(caught.value.response.text)
    assert_no_secret(server.log())


def test_anthropic_overload_reaches_anthropic_clients_as_overloaded(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(model="broken-503", max_tokens=10, messages=USER)
    assert caught.value.status_code == 503
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_retryable_failure_fails_over_to_the_next_deployment(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="failover", messages=USER)
    assert raw.headers["x-bastion-attempts"] == "2"
    assert raw.headers["x-bastion-provider"] == "anthropic"
    assert raw.parse().choices[0].message.content == "Echo: hello there"


def test_unreachable_provider_is_502_naming_it(tmp_path, fakes: Fakes) -> None:
    from tests.e2e.conftest import free_port, start_server, stop_server

    dead = free_port()
    server = start_server(
        f"""
providers:
  deadend: {{type: openai, base_url: "http://127.0.0.1:{dead}/v1", api_key: sk-dead-SECRET-9999}}
models:
  m: {{provider: deadend, model: x}}
""",
        tmp_path,
    )
    try:
        response = httpx.post(server.url + "/v1/chat/completions", json={"model": "m", "messages": USER})
        assert response.status_code == 502
        assert "deadend" in response.json()["error"]["message"]
        assert "sk-dead-SECRET-9999" not in response.text
    finally:
        stop_server(server)


def test_midstream_failure_ends_openai_stream_with_error_event(oai: openai.OpenAI, fakes: Fakes) -> None:
    fakes.openai.inject(Fault(kind="midstream", after_chunks=2))
    stream = oai.chat.completions.create(model="gpt-fake", messages=USER, stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received  # the first chunks reached the client before the failure


def test_midstream_failure_ends_anthropic_stream_with_error_event(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    fakes.anthropic.inject(Fault(kind="midstream", after_chunks=2))
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(model="claude-fake", max_tokens=50, messages=USER) as events,
    ):
        for _ in events:
            pass


# ------------------------------------------------------------------ embeddings and models


@pytest.mark.parametrize("model", ["emb-openai", "emb-gemini"])
def test_embeddings_float_and_base64(oai: openai.OpenAI, model: str) -> None:
    result = oai.embeddings.create(model=model, input=["first text", "second text"], encoding_format="float")
    assert [item.index for item in result.data] == [0, 1]
    vector = result.data[0].embedding
    assert len(vector) > 8 and all(isinstance(v, float) for v in vector)
    assert result.usage.prompt_tokens > 0
    raw = httpx.post(
        str(oai.base_url) + "embeddings",
        json={"model": model, "input": "first text", "encoding_format": "base64"},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
    ).json()
    decoded = struct.unpack(f"<{len(vector)}f", base64.b64decode(raw["data"][0]["embedding"]))
    assert decoded == pytest.approx(vector, rel=1e-6)


def test_embeddings_on_a_chat_model_is_a_clear_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model="gpt-fake", input="x")
    assert "emb-openai" in caught.value.body["message"]


def test_models_lists_every_public_name(oai: openai.OpenAI) -> None:
    names = {model.id for model in oai.models.list()}
    assert {"gpt-fake", "claude-fake", "gemini-fake", "sim", "emb-openai"} <= names


def test_static_provider_serves_the_canned_reply(oai: openai.OpenAI) -> None:
    response = oai.chat.completions.create(model="static", messages=USER)
    assert (
        response.choices[0].message.content
        == "The assistant is unavailable right now. Please try again later."
    )


def test_health_and_readiness(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


# ------------------------------------------------------------------ request features


def test_json_schema_response_format_on_every_provider(oai: openai.OpenAI) -> None:
    schema = {
        "name": "echo",
        "schema": {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]},
    }
    import json

    for model in ("gpt-fake", "claude-fake", "gemini-fake", "sim"):
        response = oai.chat.completions.create(
            model=model, messages=USER, response_format={"type": "json_schema", "json_schema": schema}
        )
        parsed = json.loads(response.choices[0].message.content)
        assert "echo" in parsed, model
        assert response.choices[0].finish_reason == "stop", model


def test_max_tokens_truncates_with_finish_reason_length(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    for model in ("gpt-fake", "claude-fake", "gemini-fake"):
        response = oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "one two three four five six"}], max_tokens=3
        )
        assert response.choices[0].finish_reason == "length", model
    message = claude.messages.create(
        model="gemini-fake", max_tokens=3, messages=[{"role": "user", "content": "one two three four five"}]
    )
    assert message.stop_reason == "max_tokens"


def test_client_disconnect_cancels_the_upstream_stream(server: Server, fakes: Fakes) -> None:
    fakes.openai.stream_outcomes.clear()
    fakes.openai.chunk_gap_seconds = 0.2
    try:
        with httpx.stream(
            "POST",
            server.url + "/v1/chat/completions",
            json={
                "model": "gpt-fake",
                "messages": [{"role": "user", "content": "a b c d e f g h i j"}],
                "stream": True,
            },
            headers={"authorization": f"Bearer {CLIENT_KEY}"},
            timeout=20,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    break  # read the first chunk, then hang up
        deadline = time.monotonic() + 5
        while not fakes.openai.stream_outcomes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fakes.openai.stream_outcomes == ["client_gone"]
    finally:
        fakes.openai.chunk_gap_seconds = 0.0


def test_metrics_expose_attempts_and_breaker_state(oai: openai.OpenAI, server: Server) -> None:
    oai.chat.completions.create(model="gpt-fake", messages=USER)
    with pytest.raises(openai.APIStatusError):
        oai.chat.completions.create(model="broken-401", messages=USER)  # the provider rejects our key
    response = httpx.get(server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'bastion_upstream_attempts_total{model="gpt-4o-mini",model_group="gpt-fake",outcome="ok",provider="openai"}'
        in text
    )
    assert 'bastion_breaker_state{deployment="broken-401/openai/gpt-fault-401#0"} 2.0' in text
    assert (
        'bastion_breaker_transitions_total{deployment="broken-401/openai/gpt-fault-401#0",state="open"}'
        in text
    )
