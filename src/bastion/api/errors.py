"""The one place a ``GatewayError`` becomes a client-visible error body, in each protocol's shape.

OpenAI:    {"error": {"message", "type", "param", "code"}}
Anthropic: {"type": "error", "error": {"type", "message"}}
"""

from __future__ import annotations

import orjson

from bastion.errors import GatewayError

# OpenAI's error families mapped to Anthropic's documented error types.
_ANTHROPIC_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit_error",
    "insufficient_quota": "rate_limit_error",
    "overloaded_error": "overloaded_error",
    "timeout_error": "timeout_error",
    "api_error": "api_error",
}

# Anthropic's SDK maps 529 to OverloadedError; OpenAI clients see 503 for the same thing.
_OPENAI_TYPES = {
    "overloaded_error": "service_unavailable_error",
    "request_too_large": "invalid_request_error",
}


def openai_error_payload(error: GatewayError) -> dict[str, object]:
    return {
        "error": {
            "message": error.message,
            "type": _OPENAI_TYPES.get(error.kind, error.kind),
            "param": error.param,
            "code": error.code,
        }
    }


def anthropic_error_payload(error: GatewayError) -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": _ANTHROPIC_TYPES.get(error.kind, "api_error"), "message": error.message},
    }


def openai_error_body(error: GatewayError) -> bytes:
    return orjson.dumps(openai_error_payload(error))


def anthropic_error_body(error: GatewayError) -> bytes:
    return orjson.dumps(anthropic_error_payload(error))


def anthropic_stream_error_event(error: GatewayError) -> bytes:
    """The ``event: error`` Anthropic sends when a stream fails after it started."""
    return b"event: error\ndata: " + anthropic_error_body(error) + b"\n\n"


def openai_stream_error_event(error: GatewayError) -> bytes:
    """A ``data: {"error": …}`` event: the OpenAI SDK raises ``APIError`` when it reads one."""
    return b"data: " + openai_error_body(error) + b"\n\n"
