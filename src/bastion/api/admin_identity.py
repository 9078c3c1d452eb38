"""The admin API for keys, users, teams and usage: ``/admin/{keys,users,teams,usage}``.

One endpoint handles the whole subtree so resource ids can sit in the path
(``DELETE /admin/keys/key_1a2b…``). Writes go straight to storage; this replica's key cache
is refreshed at once, the others within ``limits.identity_refresh_seconds``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import orjson

from bastion.api.admin import AdminEndpoint
from bastion.api.asgi import Receive, Scope, read_body
from bastion.errors import GatewayError, InvalidRequest, NotFound
from bastion.identity.manage import IdentityManager, public_key
from bastion.limits.spec import LimitSpec, parse_limits, period_window
from bastion.store.base import TIME_BUCKETS, USAGE_DIMENSIONS, StoreError

ADMIN_BODY_LIMIT = 256 * 1024


class IdentityAdmin(AdminEndpoint):
    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        parts = [p for p in scope["path"].split("/") if p][1:]  # drop "admin"
        method = scope["method"]
        gateway = self.app.gateway
        manager = IdentityManager(gateway.services.store)
        if not parts or parts[0] not in ("keys", "users", "teams", "usage"):
            raise NotFound(f"no admin route {scope['path']}", code="unknown_url")
        resource, ident = parts[0], (parts[1] if len(parts) > 1 else None)
        if len(parts) > 2 or (resource == "usage" and ident is not None):
            raise NotFound(f"no admin route {scope['path']}", code="unknown_url")
        try:
            if resource == "usage":
                _only(method, "GET")
                return 200, await self._usage(scope)
            body = await _json_body(scope, receive) if method in ("POST", "PATCH") else {}
            status, payload = await getattr(self, f"_{resource}")(manager, method, ident, body, scope)
        except StoreError as error:
            raise GatewayError(f"storage error: {error}", status=503, code="storage_unavailable") from None
        if method != "GET":
            await gateway.services.identities.refresh()
        return status, payload

    def describe(self, scope: Scope, payload: object) -> tuple[str, str | None, str | None]:
        parts = [p for p in scope["path"].split("/") if p][1:]
        resource = parts[0] if parts else "admin"
        target = parts[1] if len(parts) > 1 else None
        if target is None and isinstance(payload, dict) and isinstance(payload.get("id"), str):
            target = payload["id"]
        removal = "revoke" if resource == "keys" else "delete"
        verb = {"POST": "create", "PATCH": "update", "DELETE": removal}.get(
            scope["method"], scope["method"].lower()
        )
        subject = None
        if target is not None and resource in ("keys", "users"):
            subject = f"{resource[:-1]}:{target}"  # the data subject the action is about (export shows it)
        return f"{resource}.{verb}", target, subject

    async def _keys(
        self, manager: IdentityManager, method: str, ident: str | None, body: dict[str, Any], scope: Scope
    ) -> tuple[int, object]:
        if ident is None:
            if method == "POST":
                secret, record = await manager.create_key(body)
                return 201, {
                    "key": secret,
                    **public_key(record),
                    "note": "store this key now: it is not shown again",
                }
            _only(method, "GET", "POST")
            query = _query(scope)
            keys = await manager.store.list_keys(
                user_id=query.get("user_id"),
                team_id=query.get("team_id"),
                include_revoked=query.get("include_revoked") in ("1", "true"),
            )
            return 200, {"data": [public_key(k) for k in keys]}
        if method == "GET":
            key = await manager.get_key(ident)
            return 200, {**public_key(key), "budgets": await self._budgets("key", key.id, key.limits)}
        if method == "PATCH":
            return 200, public_key(await manager.update_key(ident, body))
        _only(method, "GET", "PATCH", "DELETE")
        return 200, public_key(await manager.revoke_key(ident))

    async def _users(
        self, manager: IdentityManager, method: str, ident: str | None, body: dict[str, Any], scope: Scope
    ) -> tuple[int, object]:
        if ident is None:
            if method == "POST":
                return 201, _record(await manager.create_user(body))
            _only(method, "GET", "POST")
            users = await manager.store.list_users(team_id=_query(scope).get("team_id"))
            return 200, {"data": [_record(u) for u in users]}
        if method == "GET":
            user = await manager._user(ident)
            return 200, {**_record(user), "budgets": await self._budgets("user", user.id, user.limits)}
        if method == "PATCH":
            return 200, _record(await manager.update_user(ident, body))
        _only(method, "GET", "PATCH", "DELETE")
        await manager.delete_user(ident)
        return 200, {"id": ident, "deleted": True}

    async def _teams(
        self, manager: IdentityManager, method: str, ident: str | None, body: dict[str, Any], scope: Scope
    ) -> tuple[int, object]:
        if ident is None:
            if method == "POST":
                return 201, _record(await manager.create_team(body))
            _only(method, "GET", "POST")
            return 200, {"data": [_record(t) for t in await manager.store.list_teams()]}
        if method == "GET":
            team = await manager._team(ident)
            return 200, {**_record(team), "budgets": await self._budgets("team", team.id, team.limits)}
        if method == "PATCH":
            return 200, _record(await manager.update_team(ident, body))
        _only(method, "GET", "PATCH", "DELETE")
        await manager.delete_team(ident)
        return 200, {"id": ident, "deleted": True}

    async def _budgets(self, kind: str, ident: str, raw_limits: dict[str, Any]) -> list[dict[str, Any]]:
        """Each budget period's limit and what is spent (plus reserved) so far, from the live counters."""
        spec: LimitSpec = parse_limits(raw_limits)
        if spec.budget is None:
            return []
        now = time.time()
        keys = {}
        for period, usd in spec.budget.periods():
            label, _, end = period_window(period, now)
            keys[f"{kind}:{ident}:usd:{period}:{label}"] = (period, usd, end)
        totals = await self.app.gateway.services.counters.budget_totals(list(keys))
        return [
            {
                "period": period,
                "limit_usd": usd,
                "spent_usd": round(totals.get(key, 0.0), 9),
                "mode": spec.budget.mode,
                "resets_at": end or None,
            }
            for key, (period, usd, end) in keys.items()
        ]

    async def _usage(self, scope: Scope) -> object:
        query = _query(scope)
        group_by = [g for g in query.get("group_by", "model").split(",") if g]
        for dimension in group_by:
            if dimension not in USAGE_DIMENSIONS:
                raise InvalidRequest(
                    f"group_by: {dimension!r} is not one of {', '.join(USAGE_DIMENSIONS)}", param="group_by"
                )
        bucket = query.get("bucket")
        if bucket is not None and bucket not in TIME_BUCKETS:
            raise InvalidRequest(f"bucket must be one of {', '.join(TIME_BUCKETS)}", param="bucket")
        filters = {d: query[d] for d in USAGE_DIMENSIONS if d in query and d != "status"}
        if "status" in query:
            filters["status"] = _number(query["status"], "status", int)
        ledger = self.app.gateway.services.ledger
        if ledger is not None:
            await ledger.flush()
        rows = await self.app.gateway.services.store.usage_report(
            group_by,
            start=_when(query.get("start"), "start"),
            end=_when(query.get("end"), "end"),
            bucket=bucket,
            filters=filters,
            limit=int(_number(query.get("limit", "1000"), "limit", int)),
        )
        return {"group_by": group_by, "bucket": bucket, "data": rows}


def _only(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise GatewayError(
            f"method {method} is not allowed here; use {', '.join(allowed)}",
            status=405,
            kind="invalid_request_error",
            code="method_not_allowed",
        )


async def _json_body(scope: Scope, receive: Receive) -> dict[str, Any]:
    raw = await read_body(scope, receive, ADMIN_BODY_LIMIT)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="invalid_json")
    return body


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {name: values[-1] for name, values in parse_qs(raw).items()}


def _number(value: str | None, name: str, kind: type) -> float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be a number", param=name) from None
    if not -(2**53) <= number <= 2**53:  # NaN fails too; databases refuse what does not fit 64 bits
        raise InvalidRequest(f"{name} is out of range", param=name)
    return number


def _when(value: str | None, name: str) -> float | None:
    """A unix time, or an ISO date/time (UTC when no zone is given)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a unix time or an ISO 8601 date", param=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _record(record: object) -> dict[str, Any]:
    return asdict(record)  # type: ignore[call-overload]
