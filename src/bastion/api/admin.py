"""The admin API (``/admin/…``): live deployment state and config reload, behind the admin key.

Every admin request that changes something (any method but GET) leaves an audit entry, refused
ones included: who (a digest prefix of the admin key, never the key), what, on which id, the
status, and a summary of the result that keeps only fields known to hold no secret.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, header, new_request_id, send_bytes
from bastion.api.auth import key_digest
from bastion.api.errors import openai_error_body
from bastion.audit.summary import safe_summary
from bastion.errors import AuthenticationFailed, GatewayError, PermissionDenied
from bastion.gateway import Gateway


class Reloadable(Protocol):
    gateway: Gateway

    async def reload(self) -> list[str]:
        """Apply the config again; return the problems that kept the old one serving (empty = done)."""
        ...


class AdminEndpoint:
    """Admin routes read the *current* gateway on every call, so they see a reload at once."""

    def __init__(self, app: Reloadable) -> None:
        self.app = app

    def authorize(self, scope: Scope) -> None:
        gateway = self.app.gateway
        admin_key = gateway.config.server.admin_key
        if admin_key is None:
            if gateway.auth.dev_mode:
                return
            raise PermissionDenied("the admin API is off: set server.admin_key", code="admin_disabled")
        raw = header(scope, b"authorization") or b""
        scheme, _, token = raw.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("the admin API needs 'Authorization: Bearer <admin key>'")
        if key_digest(token.strip()) != key_digest(admin_key):
            raise AuthenticationFailed("invalid admin key", code="invalid_api_key")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id(scope)
        headers = [JSON_CONTENT_TYPE, (b"x-request-id", request_id.encode())]
        actor = "anonymous"
        try:
            self.authorize(scope)
            actor = self.actor(scope)
            status, payload = await self.handle(scope, receive)
        except GatewayError as error:
            self.audit(scope, actor, error.status, {"error": error.code or error.kind})
            await send_bytes(send, error.status, openai_error_body(error), headers)
            return
        self.audit(scope, actor, status, payload)
        await send_bytes(send, status, orjson.dumps(payload), headers)

    def actor(self, scope: Scope) -> str:
        """Who is acting, for the audit log: the admin key's digest prefix (or dev mode), never the key."""
        raw = header(scope, b"authorization") or b""
        token = raw.decode("latin-1").partition(" ")[2].strip()
        if self.app.gateway.config.server.admin_key is None or not token:
            return "admin:dev-mode"
        return "admin:" + key_digest(token)[:12]

    def describe(self, scope: Scope, payload: object) -> tuple[str, str | None, str | None]:
        """(action, target id, data subject) of a mutating request, for its audit entry."""
        return f"{scope['method'].lower()} {scope['path']}", None, None

    def audit(self, scope: Scope, actor: str, status: int, payload: object) -> None:
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return
        audit = self.app.gateway.services.audit
        if audit is None:
            return
        action, target, subject = self.describe(scope, payload)
        client = scope.get("client")
        audit.record_admin(
            actor,
            action,
            target,
            safe_summary(payload),
            status=status,
            subject=subject,
            source=client[0] if client else None,
        )

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        raise NotImplementedError


class Deployments(AdminEndpoint):
    """``GET /admin/deployments``: every model group's deployments with breaker state and live stats."""

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        gateway = self.app.gateway
        return 200, {
            "groups": gateway.router.snapshot(),
            "retry_budget": gateway.executor.budget.snapshot(),
        }


class Reload(AdminEndpoint):
    """``POST /admin/reload``: re-read the config; an invalid one is refused and the old one keeps serving."""

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        problems = await self.app.reload()
        if problems:
            return 422, {"reloaded": False, "problems": problems}
        return 200, {"reloaded": True, "models": sorted(self.app.gateway.router.groups)}

    def describe(self, scope: Scope, payload: object) -> tuple[str, str | None, str | None]:
        return "config.reload", None, None
