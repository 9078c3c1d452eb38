"""Upstream failures mapped to client errors, each protocol's error shape, and the HTTP helpers."""

from __future__ import annotations

import email.utils

import orjson
import pytest

from bastion.api.errors import (
    anthropic_error_body,
    anthropic_error_payload,
    anthropic_stream_error_event,
    openai_error_body,
    openai_error_payload,
    openai_stream_error_event,
)
from bastion.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ProviderError,
    provider_error_from_status,
)
from bastion.providers._http import parse_retry_after, scrub, upstream_error_message

# --------------------------------------------------------------------------- provider_error_from_status


@pytest.mark.parametrize(
    ("upstream", "status", "kind", "code", "retryable"),
    [
        (400, 400, "invalid_request_error", "invalid_value", False),
        (404, 404, "not_found_error", "invalid_value", False),
        (413, 413, "request_too_large", "invalid_value", False),
        (422, 400, "invalid_request_error", "invalid_value", False),
        (401, 502, "api_error", "upstream_auth_failed", False),
        (403, 502, "api_error", "upstream_auth_failed", False),
        (429, 429, "rate_limit_error", "upstream_rate_limited", True),
        (503, 503, "overloaded_error", "upstream_unavailable", True),
        (529, 503, "overloaded_error", "upstream_unavailable", True),
        (408, 504, "timeout_error", "upstream_timeout", True),
        (504, 504, "timeout_error", "upstream_timeout", True),
        (500, 502, "api_error", "upstream_error", True),
        (502, 502, "api_error", "upstream_error", True),
        (501, 502, "api_error", "upstream_error", False),
        (409, 502, "api_error", "upstream_error", True),
    ],
)
def test_upstream_status_mapping(upstream: int, status: int, kind: str, code: str, retryable: bool) -> None:
    error = provider_error_from_status("oa", upstream, "something failed", upstream_type="invalid_value")
    assert isinstance(error, ProviderError)
    assert (error.status, error.kind, error.code, error.retryable) == (status, kind, code, retryable)
    assert error.provider == "oa"
    assert error.upstream_status == upstream


@pytest.mark.parametrize(("upstream", "expected"), [(429, 7.5), (503, 7.5), (529, 7.5), (500, 7.5)])
def test_retry_after_is_kept_for_rate_limits_and_overload(upstream: int, expected: float) -> None:
    error = provider_error_from_status("oa", upstream, "busy", retry_after_seconds=7.5)
    assert error.retry_after_seconds == expected


@pytest.mark.parametrize("upstream", [400, 401, 404, 422])
def test_retry_after_is_not_passed_on_for_errors_that_are_not_about_load(upstream: int) -> None:
    assert (
        provider_error_from_status("oa", upstream, "x", retry_after_seconds=7.5).retry_after_seconds is None
    )


def test_message_names_the_provider() -> None:
    assert provider_error_from_status("oa", 400, "bad 'temperature'").message == "oa: bad 'temperature'"
    assert provider_error_from_status("oa", 500, "").message == "oa returned 500"


@pytest.mark.parametrize("upstream", [401, 403])
def test_upstream_auth_failure_does_not_echo_the_upstream_message(upstream: int) -> None:
    error = provider_error_from_status("oa", upstream, "Incorrect API key provided: sk-abc***xyz")
    assert "sk-abc" not in error.message
    assert error.message == (f"oa rejected the gateway's credentials ({upstream}); check the provider key")


def test_gateway_error_defaults_per_class() -> None:
    assert (InvalidRequest("x").status, InvalidRequest("x").kind) == (400, "invalid_request_error")
    assert (AuthenticationFailed("x").status, AuthenticationFailed("x").kind) == (401, "authentication_error")
    assert (PermissionDenied("x").status, PermissionDenied("x").kind) == (403, "permission_error")
    assert (NotFound("x").status, NotFound("x").kind) == (404, "not_found_error")
    assert (PayloadTooLarge("x").status, PayloadTooLarge("x").kind) == (413, "request_too_large")
    assert (GatewayError("x").status, GatewayError("x").kind) == (500, "api_error")
    override = InvalidRequest("x", status=422, kind="other")
    assert (override.status, override.kind) == (422, "other")
    assert InvalidRequest("y").status == 400  # the override did not leak into the class


# --------------------------------------------------------------------------- error bodies


def test_openai_error_shape() -> None:
    error = InvalidRequest("Invalid 'n'", param="n", code="invalid_value")
    expected = {
        "error": {
            "message": "Invalid 'n'",
            "type": "invalid_request_error",
            "param": "n",
            "code": "invalid_value",
        }
    }
    assert openai_error_payload(error) == expected
    assert orjson.loads(openai_error_body(error)) == expected


def test_openai_error_shape_has_null_param_and_code() -> None:
    payload = openai_error_payload(GatewayError("boom"))
    assert payload == {"error": {"message": "boom", "type": "api_error", "param": None, "code": None}}


@pytest.mark.parametrize(
    ("kind", "openai_type", "anthropic_type"),
    [
        ("invalid_request_error", "invalid_request_error", "invalid_request_error"),
        ("authentication_error", "authentication_error", "authentication_error"),
        ("permission_error", "permission_error", "permission_error"),
        ("not_found_error", "not_found_error", "not_found_error"),
        ("request_too_large", "invalid_request_error", "request_too_large"),
        ("rate_limit_error", "rate_limit_error", "rate_limit_error"),
        ("overloaded_error", "service_unavailable_error", "overloaded_error"),
        ("timeout_error", "timeout_error", "timeout_error"),
        ("api_error", "api_error", "api_error"),
        ("something_new", "something_new", "api_error"),
    ],
)
def test_error_type_per_protocol(kind: str, openai_type: str, anthropic_type: str) -> None:
    error = GatewayError("m", kind=kind)
    assert openai_error_payload(error)["error"]["type"] == openai_type  # type: ignore[index]
    assert anthropic_error_payload(error) == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "m"},
    }


def test_anthropic_error_body_is_json() -> None:
    body = anthropic_error_body(NotFound("model 'x' not found"))
    assert orjson.loads(body) == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model 'x' not found"},
    }


def test_openai_stream_error_event() -> None:
    error = ProviderError("oa: dropped", provider="oa", code="upstream_error")
    event = openai_stream_error_event(error)
    assert event.startswith(b"data: {") and event.endswith(b"\n\n")
    assert orjson.loads(event[len(b"data: ") :]) == openai_error_payload(error)


def test_anthropic_stream_error_event() -> None:
    error = provider_error_from_status("an", 529, "Overloaded")
    event = anthropic_stream_error_event(error)
    name, data = event.split(b"\n", 1)
    assert name == b"event: error"
    assert data.startswith(b"data: ") and data.endswith(b"\n\n") and data.count(b"\n") == 2
    assert orjson.loads(data[len(b"data: ") :]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "an: Overloaded"},
    }


# --------------------------------------------------------------------------- parse_retry_after

NOW = 1_700_000_000.0


def test_retry_after_seconds() -> None:
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5


def test_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_invalid_retry_after_ms_falls_back_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0


def test_retry_after_http_date_is_relative_to_now() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=NOW) == pytest.approx(30.0)


def test_retry_after_in_the_past_or_negative_is_zero() -> None:
    date = email.utils.formatdate(NOW - 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=NOW) == 0.0
    assert parse_retry_after({"retry-after": "-5"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "-5"}) == 0.0


def test_no_retry_after() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": ""}) is None


def test_unparseable_retry_after_is_none() -> None:
    assert parse_retry_after({"retry-after": "soon"}) is None


# --------------------------------------------------------------------------- scrub


def test_scrub_replaces_every_occurrence_of_each_secret() -> None:
    text = "key sk-abcdef123 rejected; sk-abcdef123 again; other ghp-999999"
    assert scrub(text, ["sk-abcdef123", None, "ghp-999999"]) == "key *** rejected; *** again; other ***"


def test_scrub_ignores_empty_and_short_secrets() -> None:
    # replacing a 1–5 character "secret" would mangle ordinary words
    assert scrub("the key abc is wrong", ["abc", "", None]) == "the key abc is wrong"
    assert scrub("abcdef", ["abcdef"]) == "***"


# --------------------------------------------------------------------------- upstream_error_message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "Invalid \'temperature\'", "type": "invalid_request_error", '
            b'"param": "temperature", "code": "invalid_value"}}',
            ("Invalid 'temperature'", "invalid_request_error"),
        ),
        (
            b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            ("Overloaded", "overloaded_error"),
        ),
        (
            b'{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}',
            ("Resource exhausted", "RESOURCE_EXHAUSTED"),
        ),
        (
            b'[{"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}]',
            ("API key not valid", "INVALID_ARGUMENT"),
        ),
        (b'{"error": {"message": null, "type": null, "code": "rate_limit"}}', ("", "rate_limit")),
        (b'{"error": "model overloaded"}', ("model overloaded", None)),
        (b'{"message": "Internal server error"}', ("Internal server error", None)),
        (b'{"detail": "not found"}', ('{"detail": "not found"}', None)),
        (b"<html><body>502 Bad Gateway</body></html>\n", ("<html><body>502 Bad Gateway</body></html>", None)),
        (b"", ("", None)),
    ],
)
def test_upstream_error_message(body: bytes, expected: tuple[str, str | None]) -> None:
    assert upstream_error_message(body) == expected


def test_upstream_error_message_is_bounded() -> None:
    assert len(upstream_error_message(b"x" * 5000)[0]) == 300
    long_json = orjson.dumps({"error": {"message": "y" * 5000}})
    assert len(upstream_error_message(long_json)[0]) == 1000


# --------------------------------------------------------------------------- rate-limit reset headers


def test_rate_limit_wait_prefers_retry_after() -> None:
    from bastion.providers._http import rate_limit_wait

    assert rate_limit_wait({"retry-after": "3", "x-ratelimit-reset-requests": "20s"}) == 3


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5s", 0.5)],
)
def test_openai_reset_durations(value: str, seconds: float) -> None:
    from bastion.providers._http import rate_limit_wait

    assert rate_limit_wait({"x-ratelimit-reset-requests": value}) == pytest.approx(seconds)


def test_longest_reset_wins_and_anthropic_times_are_read() -> None:
    from bastion.providers._http import rate_limit_wait

    headers = {
        "x-ratelimit-reset-requests": "2s",
        "anthropic-ratelimit-tokens-reset": "2026-11-27T12:00:30Z",
    }
    now = 1795780800.0  # 2026-11-27T12:00:00Z
    assert rate_limit_wait(headers, now=now) == pytest.approx(30.0)


def test_garbage_reset_header_is_ignored() -> None:
    from bastion.providers._http import rate_limit_wait

    assert rate_limit_wait({"x-ratelimit-reset-requests": "soon"}) is None
