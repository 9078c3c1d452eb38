"""Typed errors that cross stage boundaries.

Every failure a client can see is one of these. The API layer turns them into the
calling protocol's error shape in one place (``bastion.api.errors``); nothing else
formats an error body.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A failure with a status code and a client-safe message.

    ``kind`` is the error family in OpenAI's vocabulary (``invalid_request_error``,
    ``authentication_error``, ``not_found_error``, ``rate_limit_error``,
    ``api_error``…); the Anthropic formatter maps it to Anthropic's names.
    """

    status: int = 500
    kind: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after_seconds: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.code = code
        self.param = param
        self.retry_after_seconds = retry_after_seconds
        self.headers = headers or {}


class InvalidRequest(GatewayError):
    """The request is malformed or asks for something that cannot be honoured (400)."""

    status = 400
    kind = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    """No key, or a key that is unknown, revoked or expired (401)."""

    status = 401
    kind = "authentication_error"


class PermissionDenied(GatewayError):
    """A valid key that may not do this (403)."""

    status = 403
    kind = "permission_error"


class NotFound(GatewayError):
    """Unknown model or route (404)."""

    status = 404
    kind = "not_found_error"


class PayloadTooLarge(GatewayError):
    """Body over ``server.max_body_bytes`` (413)."""

    status = 413
    kind = "request_too_large"


class ProviderError(GatewayError):
    """An upstream failure, already stripped of anything secret.

    ``retryable`` tells the executor whether another attempt (same or other
    deployment) may succeed; ``upstream_status`` is what the provider answered
    (``None`` for connect errors and time-outs).
    """

    status = 502
    kind = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        upstream_status: int | None = None,
        retryable: bool = False,
        status: int | None = None,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            kind=kind,
            code=code,
            param=param,
            retry_after_seconds=retry_after_seconds,
        )
        self.provider = provider
        self.upstream_status = upstream_status
        self.retryable = retryable


def provider_error_from_status(
    provider: str,
    upstream_status: int,
    upstream_message: str,
    *,
    retry_after_seconds: float | None = None,
    upstream_type: str | None = None,
) -> ProviderError:
    """Map an upstream HTTP error status to the status and family the client sees.

    Client errors the caller can fix (400, 404, 413, 422) keep their status so the
    SDK raises the same exception it would against the provider directly; auth
    failures of *our* provider key become 502, because the client's own key was
    fine; overload and rate limits stay retryable.
    """
    message = (
        f"{provider}: {upstream_message}" if upstream_message else f"{provider} returned {upstream_status}"
    )
    retryable = upstream_status in RETRYABLE_STATUSES
    if upstream_status in (400, 404, 413, 422):
        kind = {404: "not_found_error", 413: "request_too_large"}.get(
            upstream_status, "invalid_request_error"
        )
        status = 400 if upstream_status == 422 else upstream_status
        return ProviderError(
            message,
            provider=provider,
            upstream_status=upstream_status,
            status=status,
            kind=kind,
            code=upstream_type,
        )
    if upstream_status in (401, 403):
        return ProviderError(
            f"{provider} rejected the gateway's credentials ({upstream_status}); check the provider key",
            provider=provider,
            upstream_status=upstream_status,
            status=502,
            kind="api_error",
            code="upstream_auth_failed",
        )
    if upstream_status == 429:
        return ProviderError(
            message,
            provider=provider,
            upstream_status=429,
            retryable=True,
            status=429,
            kind="rate_limit_error",
            code="upstream_rate_limited",
            retry_after_seconds=retry_after_seconds,
        )
    if upstream_status in (503, 529):
        return ProviderError(
            message,
            provider=provider,
            upstream_status=upstream_status,
            retryable=True,
            status=503,
            kind="overloaded_error",
            code="upstream_unavailable",
            retry_after_seconds=retry_after_seconds,
        )
    if upstream_status in (408, 504):
        return ProviderError(
            message,
            provider=provider,
            upstream_status=upstream_status,
            retryable=True,
            status=504,
            kind="timeout_error",
            code="upstream_timeout",
        )
    return ProviderError(
        message,
        provider=provider,
        upstream_status=upstream_status,
        retryable=retryable,
        status=502,
        kind="api_error",
        code="upstream_error",
        retry_after_seconds=retry_after_seconds,
    )


RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
