"""``GET /admin/experiments[/NAME]``: A/B splits compared on latency, cost, error rate and feedback.

Reads the usage ledger (flushed first, so the last requests count) and the feedback table for
the requests in the window given by ``start`` / ``end`` (unix time or ISO 8601; default:
everything recorded).
"""

from __future__ import annotations

from typing import Any

from bastion.api.admin import AdminEndpoint
from bastion.api.admin_identity import _query, _when
from bastion.api.asgi import Receive, Scope
from bastion.errors import GatewayError, NotFound
from bastion.routing.experiments import compare, totals_by_experiment
from bastion.routing.splits import SplitAlias
from bastion.store.base import StoreError

#: (route_rule, variant) pairs read from the feedback table: every one there is, in practice
_FEEDBACK_GROUPS = 1_000_000


class Experiments(AdminEndpoint):
    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        parts = [p for p in scope["path"].split("/") if p][2:]  # drop "admin", "experiments"
        if len(parts) > 1:
            raise NotFound(f"no admin route {scope['path']}", code="unknown_url")
        if scope["method"] != "GET":
            raise GatewayError("use GET", status=405, kind="invalid_request_error", code="method_not_allowed")
        query = _query(scope)
        gateway = self.app.gateway
        arms = _configured(gateway.routing.aliases if gateway.routing is not None else {})
        ledger = gateway.services.ledger
        if ledger is not None:
            await ledger.flush()
        start, end = _when(query.get("start"), "start"), _when(query.get("end"), "end")
        store = gateway.services.store
        try:
            rows = await store.variant_totals(start=start, end=end)
            scores = await store.feedback_report(
                ["route_rule", "variant"], start=start, end=end, limit=_FEEDBACK_GROUPS
            )
        except StoreError as error:
            raise GatewayError(f"storage error: {error}", status=503, code="storage_unavailable") from None
        totals = totals_by_experiment(rows, scores)
        if parts:
            name = parts[0]
            if name not in arms and name not in totals:
                raise NotFound(f"no A/B split named {name!r}", code="experiment_not_found")
            return 200, compare(name, arms.get(name, []) or _unknown(totals[name]), totals.get(name, {}))
        names = sorted(set(arms) | set(totals))
        data = [compare(n, arms.get(n, []) or _unknown(totals[n]), totals.get(n, {})) for n in names]
        return 200, {"data": data}


def _configured(aliases: dict[str, Any]) -> dict[str, list[tuple[str, str, float]]]:
    """Each configured split's (variant, model group, share), in config order (the first is the control)."""
    return {
        name: [(variant, model, share) for (variant, model), share in zip(a.variants, a.shares, strict=True)]
        for name, a in aliases.items()
        if isinstance(a, SplitAlias)
    }


def _unknown(variants: dict[str, Any]) -> list[tuple[str, str, float]]:
    """A split no longer configured: its variants as recorded, alphabetically."""
    return [(name, "", 0.0) for name in sorted(variants)]
