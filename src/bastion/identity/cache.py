"""Every active key as a ready ``Principal``, in memory, refreshed from storage every few seconds.

Authentication is a dict lookup by digest: no database round trip per request. Each replica
polls the store for rows changed since its last read (with an overlap, so a slow commit or
a clock a little behind is not missed); a revocation made anywhere reaches every replica
within one refresh interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bastion.identity.keys import key_digest, static_key_id
from bastion.identity.principal import Principal
from bastion.limits.spec import LimitSpec, parse_limits
from bastion.store.base import Store
from bastion.store.records import IdentitySnapshot, KeyRecord, TeamRecord, UserRecord

log = logging.getLogger("bastion.identity")

#: rows changed this long before the last read are read again (commit lag, clock skew between hosts)
REFRESH_OVERLAP_SECONDS = 10.0


class KeyState:
    """Why a digest is not a usable key: kept so a revoked key is told so, not just "invalid"."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    DISABLED = "disabled"  # its user or team was deleted


class IdentityCache:
    def __init__(
        self,
        store: Store | None,
        static_keys: list[str],
        key_defaults: LimitSpec,
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.teams: dict[str, TeamRecord] = {}
        self.users: dict[str, UserRecord] = {}
        self.keys: dict[str, KeyRecord] = {}  # by key id
        self.principals: dict[str, Principal] = {}
        self.refused: dict[str, str] = {}  # digest -> KeyState
        self.reconfigure(static_keys, key_defaults)
        self._since = 0.0
        self._task: asyncio.Task[None] | None = None
        #: called after a refresh changed something (budgets added mid-period are seeded from it)
        self.on_change: Callable[[], None] | None = None
        self.last_refresh_ok = True

    def reconfigure(self, static_keys: list[str], key_defaults: LimitSpec) -> None:
        """Keys from the config file and the limits of keys without their own (set again on reload)."""
        self.key_defaults = key_defaults
        defaults = None if key_defaults.empty else key_defaults
        self._static = {
            key_digest(k): Principal(key_id=static_key_id(k), key_limits=defaults) for k in static_keys
        }
        self._rebuild()

    @property
    def has_keys(self) -> bool:
        return bool(self.principals) or bool(self.refused)

    def lookup(self, digest: str) -> Principal | str | None:
        """The principal, a ``KeyState`` reason when the key exists but may not be used, or None."""
        principal = self.principals.get(digest)
        if principal is not None:
            if principal.expires_at is not None and principal.expires_at <= self.clock():
                return KeyState.EXPIRED
            return principal
        return self.refused.get(digest)

    async def load(self) -> None:
        """The first full read (start-up): failures propagate, a gateway without its keys must not serve."""
        if self.store is None:
            return
        snapshot = await self.store.identity_changes(0.0)
        self.apply(snapshot)

    async def refresh(self) -> bool:
        """Read what changed since the last read; True when something did."""
        if self.store is None:
            return False
        snapshot = await self.store.identity_changes(max(0.0, self._since - REFRESH_OVERLAP_SECONDS))
        return self.apply(snapshot)

    def apply(self, snapshot: IdentitySnapshot) -> bool:
        changed = False
        for team in snapshot.teams:
            changed |= _put(self.teams, team.id, team)
        for user in snapshot.users:
            changed |= _put(self.users, user.id, user)
        for key in snapshot.keys:
            changed |= _put(self.keys, key.id, key)
        self._since = max(self._since, snapshot.as_of)
        if changed or not self._since:
            self._rebuild()
        if changed and self.on_change is not None:
            self.on_change()
        return changed

    def _rebuild(self) -> None:
        principals = dict(self._static)
        refused: dict[str, str] = {}
        for key in self.keys.values():
            reason = self._unusable(key)
            if reason is not None:
                refused[key.digest] = reason
                continue
            try:
                principals[key.digest] = self._principal(key)
            except ValueError as error:
                # a row written by hand with bad limits: refuse the key rather than run it unlimited
                log.error("key %s has invalid limits and is refused: %s", key.id, error)
                refused[key.digest] = KeyState.DISABLED
        self.principals = principals
        self.refused = refused

    def _unusable(self, key: KeyRecord) -> str | None:
        # deletion first: deleting a user or team also revokes its keys, and "disabled" says why
        user = self.users.get(key.user_id) if key.user_id else None
        team_id = key.team_id or (user.team_id if user else None)
        team = self.teams.get(team_id) if team_id else None
        if (user is not None and user.deleted_at is not None) or (
            team is not None and team.deleted_at is not None
        ):
            return KeyState.DISABLED
        if key.revoked_at is not None:
            return KeyState.REVOKED
        return None

    def _principal(self, key: KeyRecord) -> Principal:
        user = self.users.get(key.user_id) if key.user_id else None
        team_id = key.team_id or (user.team_id if user else None)
        team = self.teams.get(team_id) if team_id else None
        key_limits = parse_limits(key.limits)
        if key_limits.empty:
            key_limits = self.key_defaults
        return Principal(
            key_id=key.id,
            name=key.name,
            user_id=key.user_id,
            team_id=team_id,
            models=frozenset(key.models) if key.models else None,
            expires_at=key.expires_at,
            key_limits=None if key_limits.empty else key_limits,
            user_limits=_limits_or_none(user.limits if user else None),
            team_limits=_limits_or_none(team.limits if team else None),
            metadata=dict(key.metadata),
        )

    # ------------------------------------------------------------------ background refresh
    def start(self) -> None:
        if self.store is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="identity-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except Exception as error:  # the store is away: keep serving with what we have
                if self.last_refresh_ok:
                    log.warning("cannot refresh keys from storage (serving the last known set): %s", error)
                self.last_refresh_ok = False
            else:
                if not self.last_refresh_ok:
                    log.info("key refresh from storage works again")
                self.last_refresh_ok = True


def _put(table: dict, ident: str, record: object) -> bool:
    if table.get(ident) == record:
        return False
    table[ident] = record
    return True


def _limits_or_none(raw: object) -> LimitSpec | None:
    spec = parse_limits(raw)
    return None if spec.empty else spec
