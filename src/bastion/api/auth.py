"""Who is calling: virtual keys from ``Authorization: Bearer`` (or Anthropic's ``x-api-key``).

Keys are looked up by their SHA-256 digest in the in-memory ``IdentityCache``, so a memory
dump or a log line never shows one and no request waits for the database. With no key
anywhere (config, storage) and no admin key the gateway runs in local development mode:
any token (or none) is accepted, and the server refuses to bind a non-loopback address.
"""

from __future__ import annotations

from bastion.api.asgi import Scope, header
from bastion.context import Principal
from bastion.errors import AuthenticationFailed
from bastion.identity.cache import IdentityCache, KeyState
from bastion.identity.keys import key_digest, static_key_id

__all__ = ["Authenticator", "key_digest", "key_id"]

_DEV_PRINCIPAL = Principal(key_id="dev", dev_mode=True)

key_id = static_key_id

_REFUSALS = {
    KeyState.REVOKED: ("This API key has been revoked", "revoked_api_key"),
    KeyState.EXPIRED: ("This API key has expired", "expired_api_key"),
    KeyState.DISABLED: ("This API key is disabled (its user or team was removed)", "disabled_api_key"),
}


class Authenticator:
    def __init__(
        self, identities: IdentityCache, dev_mode: bool | None, admin_key: str | None = None
    ) -> None:
        self.identities = identities
        self._forced_dev_mode = dev_mode
        self._admin_key = admin_key

    @property
    def dev_mode(self) -> bool:
        """Explicit in config, else on while no key exists anywhere (it switches off once one is created)."""
        if self._forced_dev_mode is not None:
            return self._forced_dev_mode
        return not (self._admin_key or self.identities.has_keys)

    @property
    def has_keys(self) -> bool:
        return self.identities.has_keys

    def authenticate(self, scope: Scope, *, allow_x_api_key: bool = False) -> Principal:
        token = _bearer(scope)
        if token is None and allow_x_api_key:
            raw = header(scope, b"x-api-key")
            token = raw.decode("latin-1").strip() if raw else None
        if self.dev_mode:
            if token:
                found = self.identities.lookup(key_digest(token))
                if isinstance(found, Principal):
                    return found  # a real key still gets its identity and limits in dev mode
            return _DEV_PRINCIPAL
        if not token:
            raise AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer <key>'"
                + (" or 'x-api-key: <key>'" if allow_x_api_key else ""),
                code="missing_api_key",
            )
        found = self.identities.lookup(key_digest(token))
        if isinstance(found, Principal):
            return found
        if found is not None:
            message, code = _REFUSALS[found]
            raise AuthenticationFailed(message, code=code)
        raise AuthenticationFailed("Invalid API key", code="invalid_api_key")


def _bearer(scope: Scope) -> str | None:
    raw = header(scope, b"authorization")
    if not raw:
        return None
    scheme, _, token = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
