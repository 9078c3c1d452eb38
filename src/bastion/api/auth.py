"""Who is calling: virtual keys from ``Authorization: Bearer`` (or Anthropic's ``x-api-key``).

Keys are held only as SHA-256 digests, so a memory dump or a log line never shows one.
With no key configured the gateway runs in local development mode: any token (or none)
is accepted, and the server refuses to bind to a non-loopback address in that mode.
"""

from __future__ import annotations

import hashlib

from bastion.api.asgi import Scope, header
from bastion.context import Principal
from bastion.errors import AuthenticationFailed

_DEV_PRINCIPAL = Principal(key_id="dev", dev_mode=True)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key: str) -> str:
    """The identifier logs and headers may show: the key's visible prefix and a short digest."""
    return f"{key[: min(7, len(key) // 2)]}…{key_digest(key)[:8]}"


class Authenticator:
    def __init__(self, api_keys: list[str], dev_mode: bool) -> None:
        self.dev_mode = dev_mode
        self._principals = {key_digest(k): Principal(key_id=key_id(k)) for k in api_keys}

    @property
    def has_keys(self) -> bool:
        return bool(self._principals)

    def authenticate(self, scope: Scope, *, allow_x_api_key: bool = False) -> Principal:
        token = _bearer(scope)
        if token is None and allow_x_api_key:
            raw = header(scope, b"x-api-key")
            token = raw.decode("latin-1").strip() if raw else None
        if self.dev_mode:
            return _DEV_PRINCIPAL
        if not token:
            raise AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer <key>'"
                + (" or 'x-api-key: <key>'" if allow_x_api_key else ""),
                code="missing_api_key",
            )
        principal = self._principals.get(key_digest(token))
        if principal is None:
            raise AuthenticationFailed("Invalid API key", code="invalid_api_key")
        return principal


def _bearer(scope: Scope) -> str | None:
    raw = header(scope, b"authorization")
    if not raw:
        return None
    scheme, _, token = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
