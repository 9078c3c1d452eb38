"""Managing teams, users and keys: the operations the admin API and the ``bastion`` CLI share.

Input is checked here (ids, limits, models, expiry), so both front ends refuse the same
things with the same words. A key's secret is returned once, by ``create_key``, and never
again: only its digest and visible prefix are stored.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError

from bastion.errors import InvalidRequest, NotFound
from bastion.identity.keys import key_digest, new_key, new_key_id, visible_prefix
from bastion.limits.spec import LimitSpec
from bastion.store.base import Store
from bastion.store.records import KeyRecord, TeamRecord, UserRecord

_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@+")


class Conflict(InvalidRequest):
    status = 409


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 128 or not set(value) <= _ID_CHARS:
        raise InvalidRequest(
            f"{what} must be 1-128 characters of letters, digits and - _ . @ +", param=what, code="invalid_id"
        )
    return value


def check_limits(value: Any) -> dict[str, Any]:
    """Validated limits as stored (unset fields dropped, so the row shows what was asked)."""
    if value is None:
        return {}
    try:
        return LimitSpec.model_validate(value).model_dump(exclude_none=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRequest(
            f"limits.{where}: {first['msg']}" if where else f"limits: {first['msg']}",
            param=f"limits.{where}" if where else "limits",
            code="invalid_limits",
        ) from None


def _check_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be an object", param=what)
    return value


def _check_models(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise InvalidRequest("models must be a list of model names", param="models")
    return value


def _check_expiry(fields: dict[str, Any]) -> float | None:
    if fields.get("expires_in_days") is not None:
        days = fields["expires_in_days"]
        if not isinstance(days, int | float) or isinstance(days, bool) or days <= 0:
            raise InvalidRequest("expires_in_days must be a positive number", param="expires_in_days")
        return time.time() + days * 86_400
    expires = fields.get("expires_at")
    if expires is None:
        return None
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= 0:
        raise InvalidRequest("expires_at must be a unix time in seconds", param="expires_at")
    return float(expires)


def public_key(key: KeyRecord) -> dict[str, Any]:
    """A key as admins see it: everything but the digest."""
    shown = asdict(key)
    shown.pop("digest")
    shown["status"] = "revoked" if key.revoked_at else ("expired" if _expired(key) else "active")
    return shown


def _expired(key: KeyRecord) -> bool:
    return key.expires_at is not None and key.expires_at <= time.time()


class IdentityManager:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ teams
    async def create_team(self, fields: dict[str, Any]) -> TeamRecord:
        team_id = check_id(fields.get("id"), "id")
        existing = await self.store.get_team(team_id)
        if existing is not None and existing.deleted_at is None:
            raise Conflict(f"team {team_id!r} already exists", code="already_exists")
        team = TeamRecord(
            id=team_id,
            name=str(fields.get("name") or ""),
            limits=check_limits(fields.get("limits")),
            metadata=_check_dict(fields.get("metadata"), "metadata"),
        )
        return await self.store.upsert_team(team)

    async def update_team(self, team_id: str, fields: dict[str, Any]) -> TeamRecord:
        team = await self._team(team_id)
        if "name" in fields:
            team.name = str(fields["name"] or "")
        if "limits" in fields:
            team.limits = check_limits(fields["limits"])
        if "metadata" in fields:
            team.metadata = _check_dict(fields["metadata"], "metadata")
        return await self.store.upsert_team(team)

    async def delete_team(self, team_id: str) -> None:
        if not await self.store.delete_team(team_id):
            raise NotFound(f"no team {team_id!r}", code="team_not_found")
        # its keys go with it: a team created later under the same id must not bring them back
        keys = await self.store.list_keys(team_id=team_id)
        for user in await self.store.list_users(team_id=team_id):
            keys += [k for k in await self.store.list_keys(user_id=user.id) if k.team_id is None]
        await self._revoke_all(keys)

    async def _team(self, team_id: str) -> TeamRecord:
        team = await self.store.get_team(team_id)
        if team is None or team.deleted_at is not None:
            raise NotFound(f"no team {team_id!r}", code="team_not_found")
        return team

    # ------------------------------------------------------------------ users
    async def create_user(self, fields: dict[str, Any]) -> UserRecord:
        user_id = check_id(fields.get("id"), "id")
        existing = await self.store.get_user(user_id)
        if existing is not None and existing.deleted_at is None:
            raise Conflict(f"user {user_id!r} already exists", code="already_exists")
        team_id = fields.get("team_id")
        if team_id is not None:
            await self._team(check_id(team_id, "team_id"))
        user = UserRecord(
            id=user_id,
            name=str(fields.get("name") or ""),
            team_id=team_id,
            limits=check_limits(fields.get("limits")),
            metadata=_check_dict(fields.get("metadata"), "metadata"),
        )
        return await self.store.upsert_user(user)

    async def update_user(self, user_id: str, fields: dict[str, Any]) -> UserRecord:
        user = await self._user(user_id)
        if "name" in fields:
            user.name = str(fields["name"] or "")
        if "team_id" in fields:
            if fields["team_id"] is not None:
                await self._team(check_id(fields["team_id"], "team_id"))
            user.team_id = fields["team_id"]
        if "limits" in fields:
            user.limits = check_limits(fields["limits"])
        if "metadata" in fields:
            user.metadata = _check_dict(fields["metadata"], "metadata")
        return await self.store.upsert_user(user)

    async def delete_user(self, user_id: str) -> None:
        if not await self.store.delete_user(user_id):
            raise NotFound(f"no user {user_id!r}", code="user_not_found")
        await self._revoke_all(await self.store.list_keys(user_id=user_id))

    async def _revoke_all(self, keys: list[KeyRecord]) -> None:
        for key in keys:
            await self.store.revoke_key(key.id)

    async def _user(self, user_id: str) -> UserRecord:
        user = await self.store.get_user(user_id)
        if user is None or user.deleted_at is not None:
            raise NotFound(f"no user {user_id!r}", code="user_not_found")
        return user

    # ------------------------------------------------------------------ keys
    async def create_key(self, fields: dict[str, Any]) -> tuple[str, KeyRecord]:
        """A new key: the secret (shown to the caller once) and the stored record."""
        user_id = fields.get("user_id")
        team_id = fields.get("team_id")
        if user_id is not None:
            # a key without its own team follows its user's team, also when the user moves later
            await self._user(check_id(user_id, "user_id"))
        if team_id is not None:
            await self._team(check_id(team_id, "team_id"))
        secret = new_key()
        record = KeyRecord(
            id=new_key_id(),
            digest=key_digest(secret),
            prefix=visible_prefix(secret),
            name=str(fields.get("name") or ""),
            user_id=user_id,
            team_id=team_id,
            models=_check_models(fields.get("models")),
            limits=check_limits(fields.get("limits")),
            metadata=_check_dict(fields.get("metadata"), "metadata"),
            expires_at=_check_expiry(fields),
        )
        return secret, await self.store.create_key(record)

    async def update_key(self, key_id: str, fields: dict[str, Any]) -> KeyRecord:
        key = await self.get_key(key_id)
        if "name" in fields:
            key.name = str(fields["name"] or "")
        if "models" in fields:
            key.models = _check_models(fields["models"])
        if "limits" in fields:
            key.limits = check_limits(fields["limits"])
        if "metadata" in fields:
            key.metadata = _check_dict(fields["metadata"], "metadata")
        if "expires_at" in fields or "expires_in_days" in fields:
            key.expires_at = _check_expiry(fields)
        return await self.store.update_key(key)

    async def revoke_key(self, key_id: str) -> KeyRecord:
        key = await self.store.revoke_key(key_id)
        if key is None:
            raise NotFound(f"no key {key_id!r}", code="key_not_found")
        return key

    async def get_key(self, key_id: str) -> KeyRecord:
        key = await self.store.get_key(key_id)
        if key is None:
            raise NotFound(f"no key {key_id!r}", code="key_not_found")
        return key
