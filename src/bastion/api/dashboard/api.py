"""``GET /dashboard/api/*``: the dashboard's data, as JSON, behind the admin key.

Every figure comes from the rollup tables (a few hundred rows for any window), the newest
ledger rows (read through the index on ``ts``), the feedback table, or this replica's router;
none reads the ledger as a whole, so a page load costs the same with ten or ten million
requests logged.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from bastion.api.admin import AdminEndpoint, Reloadable
from bastion.api.admin_identity import _number, _query
from bastion.api.asgi import Receive, Scope
from bastion.api.dashboard.panels import WINDOWS, Window, deployments, overview, request_row, spend_by_day
from bastion.errors import GatewayError, InvalidRequest
from bastion.store.base import StoreError
from bastion.store.rollups import DAY, SPEND_DIMENSIONS, SPEND_SUMS, day_range

#: dimensions the cost-per-day chart can be split by
SPEND_SPLITS = SPEND_DIMENSIONS
MAX_DAYS = 366
MAX_REQUESTS = 500


class DashboardEndpoint(AdminEndpoint):
    """An admin endpoint whose store errors become a 503 the page can show."""

    def __init__(self, app: Reloadable, clock: Callable[[], float] = time.time) -> None:
        super().__init__(app)
        self.clock = clock

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        try:
            return 200, await self.read(_query(scope))
        except StoreError as error:
            raise GatewayError(f"storage error: {error}", status=503, code="storage_unavailable") from None

    async def read(self, query: dict[str, str]) -> dict[str, object]:
        raise NotImplementedError


def _window(query: dict[str, str]) -> Window:
    name = query.get("range", "1h")
    window = WINDOWS.get(name)
    if window is None:
        raise InvalidRequest(f"range must be one of {', '.join(WINDOWS)}", param="range")
    return window


class Overview(DashboardEndpoint):
    """Totals, time series and per-deployment health for ``range`` (1h, 6h, 24h, 7d, 30d)."""

    async def read(self, query: dict[str, str]) -> dict[str, object]:
        window = _window(query)
        end = self.clock()
        start = end - window.seconds
        gateway = self.app.gateway
        store = gateway.services.store
        series_rows = await store.rollup_traffic(
            start, end, grain=window.grain, step=window.step, group_by=["status_class"]
        )
        deployment_rows = await store.rollup_traffic(
            start, end, grain=window.grain, group_by=["model", "provider", "deployment", "status_class"]
        )
        totals, series = overview(series_rows, window, start, end)
        ledger = gateway.services.ledger
        return {
            "range": window.name,
            "start": start,
            "end": end,
            "step": window.step,
            "totals": totals,
            "series": series,
            "deployments": deployments(deployment_rows, gateway.router.snapshot(), window.seconds),
            "replica": socket.gethostname(),
            "ledger": {
                "enabled": ledger is not None,
                "queued": ledger.queued if ledger is not None else 0,
                "dropped": ledger.dropped if ledger is not None else 0,
            },
        }


class Spend(DashboardEndpoint):
    """Cost per UTC day split by ``by`` (model, feature, user_id…), and the top spenders, for ``days``."""

    async def read(self, query: dict[str, str]) -> dict[str, object]:
        days = int(_number(query.get("days", "7"), "days", int))
        if not 1 <= days <= MAX_DAYS:
            raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}", param="days")
        split = query.get("by", "model")
        if split not in SPEND_SPLITS:
            raise InvalidRequest(f"by must be one of {', '.join(SPEND_SPLITS)}", param="by")
        end = self.clock()
        first, last = day_range(end - (days - 1) * DAY, end)
        day_starts = list(range(first, last, DAY))
        store = self.app.gateway.services.store
        per_day = await store.rollup_spend(first, last, split, by_day=True, limit=100_000)
        spenders = await store.rollup_spend(first, last, "key_id", limit=10)
        for row in spenders:  # who holds each key: ten lookups by primary key
            key = await store.get_key(row["value"]) if row["value"] else None
            row["user_id"], row["team_id"] = (key.user_id, key.team_id) if key is not None else (None, None)
        models = await store.rollup_spend(first, last, "model", limit=10_000)
        totals = {name: sum(row[name] for row in models) for name in SPEND_SUMS}
        return {
            "days": day_starts,
            "by": split,
            "series": spend_by_day(per_day, day_starts),
            "totals": totals,
            "spenders": spenders,
            "features": await store.rollup_spend(first, last, "feature", limit=10),
            "models": models[:10],
        }


class Feedback(DashboardEndpoint):
    """Feedback scores per model group over ``range``."""

    async def read(self, query: dict[str, str]) -> dict[str, object]:
        window = _window(query)
        end = self.clock()
        rows = await self.app.gateway.services.store.feedback_report(
            ["model"], start=end - window.seconds, end=end, limit=50
        )
        return {"range": window.name, "data": rows}


class Requests(DashboardEndpoint):
    """The newest requests with their decision trail."""

    async def read(self, query: dict[str, str]) -> dict[str, object]:
        limit = int(_number(query.get("limit", "50"), "limit", int))
        if not 1 <= limit <= MAX_REQUESTS:
            raise InvalidRequest(f"limit must be between 1 and {MAX_REQUESTS}", param="limit")
        rows = await self.app.gateway.services.store.recent_requests(limit)
        return {"data": [request_row(row) for row in rows]}
