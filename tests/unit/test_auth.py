"""Client authentication: bearer tokens, Anthropic's x-api-key, dev mode, and keys never shown."""

from __future__ import annotations

import pytest

from bastion.api.asgi import Scope
from bastion.api.auth import Authenticator, key_id
from bastion.context import Principal
from bastion.errors import AuthenticationFailed
from bastion.identity.cache import IdentityCache
from bastion.limits.spec import LimitSpec

KEY = "sk-bastion-team-a-4f1c9e2b7d"
OTHER_KEY = "sk-bastion-team-b-0a9d8c7b6e"


def scope(*headers: tuple[str, str]) -> Scope:
    return {"type": "http", "headers": [(name.encode(), value.encode()) for name, value in headers]}


def auth(dev_mode: bool = False) -> Authenticator:
    return Authenticator(IdentityCache(None, [KEY, OTHER_KEY], LimitSpec()), dev_mode=dev_mode)


def refused(
    authenticator: Authenticator, request: Scope, *, allow_x_api_key: bool = False
) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticator.authenticate(request, allow_x_api_key=allow_x_api_key)
    assert caught.value.status == 401
    assert caught.value.kind == "authentication_error"
    return caught.value


@pytest.mark.parametrize(
    "value",
    [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER {KEY}", f"Bearer    {KEY}  ", f"Bearer {KEY}\t"],
)
def test_bearer_token_is_accepted(value: str) -> None:
    principal = auth().authenticate(scope(("authorization", value)))
    assert principal == Principal(key_id=key_id(KEY))
    assert principal.dev_mode is False


def test_each_key_has_its_own_principal() -> None:
    first = auth().authenticate(scope(("authorization", f"Bearer {KEY}")))
    second = auth().authenticate(scope(("authorization", f"Bearer {OTHER_KEY}")))
    assert first.key_id != second.key_id


def test_unknown_key_is_refused() -> None:
    error = refused(auth(), scope(("authorization", "Bearer sk-bastion-not-a-real-key")))
    assert error.code == "invalid_api_key"
    assert "sk-bastion-not-a-real-key" not in error.message


def test_key_is_compared_exactly() -> None:
    assert refused(auth(), scope(("authorization", f"Bearer {KEY[:-1]}"))).code == "invalid_api_key"
    assert refused(auth(), scope(("authorization", f"Bearer {KEY.upper()}"))).code == "invalid_api_key"


@pytest.mark.parametrize("value", [KEY, f"Basic {KEY}", f"Token {KEY}", "Bearer", "Bearer    "])
def test_malformed_authorization_counts_as_missing(value: str) -> None:
    error = refused(auth(), scope(("authorization", value)))
    assert error.code == "missing_api_key"


def test_missing_key_names_the_bearer_header() -> None:
    error = refused(auth(), scope())
    assert error.code == "missing_api_key"
    assert "Authorization: Bearer" in error.message
    assert "x-api-key" not in error.message


def test_missing_key_names_both_headers_when_x_api_key_is_allowed() -> None:
    error = refused(auth(), scope(), allow_x_api_key=True)
    assert "Authorization: Bearer" in error.message and "x-api-key" in error.message


def test_x_api_key_is_accepted_only_when_allowed() -> None:
    request = scope(("x-api-key", f" {KEY} "))
    assert auth().authenticate(request, allow_x_api_key=True) == Principal(key_id=key_id(KEY))
    assert refused(auth(), request).code == "missing_api_key"


def test_bearer_is_preferred_over_x_api_key() -> None:
    request = scope(("authorization", f"Bearer {KEY}"), ("x-api-key", "sk-wrong-key-000000"))
    assert auth().authenticate(request, allow_x_api_key=True).key_id == key_id(KEY)


def test_unknown_x_api_key_is_refused() -> None:
    error = refused(auth(), scope(("x-api-key", "sk-nope-123456")), allow_x_api_key=True)
    assert error.code == "invalid_api_key"


@pytest.mark.parametrize(
    "request_scope",
    [
        scope(),
        scope(("authorization", "Bearer anything-at-all")),
        scope(("authorization", "garbage")),
        scope(("x-api-key", "whatever")),
    ],
)
def test_dev_mode_accepts_anything(request_scope: Scope) -> None:
    for authenticator in (
        auth(dev_mode=True),
        Authenticator(IdentityCache(None, [], LimitSpec()), dev_mode=True),
    ):
        principal = authenticator.authenticate(request_scope)
        assert principal.dev_mode is True and principal.key_id == "dev"


def test_no_keys_and_no_dev_mode_refuses_everyone() -> None:
    authenticator = Authenticator(IdentityCache(None, [], LimitSpec()), dev_mode=False)
    assert not authenticator.has_keys and auth().has_keys
    assert refused(authenticator, scope(("authorization", "Bearer x"))).code == "invalid_api_key"


@pytest.mark.parametrize("key", [KEY, "sk-1", "abcdefg", "abcdefgh", "k" * 64])
def test_key_id_never_contains_the_whole_key(key: str) -> None:
    identifier = (
        Authenticator(IdentityCache(None, [key], LimitSpec()), dev_mode=False)
        .authenticate(scope(("authorization", f"Bearer {key}")))
        .key_id
    )
    assert key not in identifier
    assert identifier == key_id(key)
    assert key_id(key) == key_id(key)  # stable, so logs can be correlated


def test_key_id_keeps_a_recognisable_prefix() -> None:
    assert key_id(KEY).startswith("sk-bast")
    assert key_id(KEY) != key_id(OTHER_KEY)
