"""``GET /admin/requests[/<request id>]``: the request log, newest first, with its decision trail.

One ledger row per request: who (key, user, team, end user, feature), what (model group,
deployment, provider, tokens, cost), how (attempts, fallbacks, breaker skips, hedge, cache,
route rule and variant, guard decisions, rate-limit state) and how long (latency, time to
first token, time waiting on providers). Filters are the usage dimensions plus a time range;
``end`` doubles as the cursor of the next page (``next_end`` in the answer). Prompts and answers
are not here: with ``audit.payloads: full`` they are sealed per subject in the audit log
(``bastion audit export``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from bastion.api.admin import AdminEndpoint
from bastion.api.admin_identity import _number, _query, _when
from bastion.api.asgi import Receive, Scope
from bastion.errors import GatewayError, InvalidRequest, NotFound
from bastion.store.base import USAGE_DIMENSIONS, StoreError
from bastion.store.records import LedgerRow

PREFIX = "/admin/requests"
MAX_LIMIT = 1000


class RequestLog(AdminEndpoint):
    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        if scope["method"] != "GET":
            raise GatewayError("the request log is read-only: use GET", status=405, code="method_not_allowed")
        store = self.app.gateway.services.store
        path = scope["path"].rstrip("/")
        try:
            if path != PREFIX:
                request_id = unquote(path[len(PREFIX) + 1 :])
                rows = await store.list_requests(request_id=request_id, limit=MAX_LIMIT)
                if not rows:
                    raise NotFound(f"no request {request_id!r} in the request log", code="request_not_found")
                return 200, {"data": [_row(row) for row in rows]}
            query = _query(scope)
            unknown = sorted(set(query) - {*USAGE_DIMENSIONS, "start", "end", "limit"})
            if unknown:
                known = ", ".join(("start", "end", "limit", *USAGE_DIMENSIONS))
                raise InvalidRequest(f"unknown filter {unknown[0]!r}; filters: {known}", param=unknown[0])
            filters: dict[str, Any] = {d: query[d] for d in USAGE_DIMENSIONS if d in query and d != "status"}
            if "status" in query:
                filters["status"] = int(_number(query["status"], "status", int))
            limit = int(_number(query.get("limit", "100"), "limit", int))
            if not 1 <= limit <= MAX_LIMIT:
                raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
            rows = await store.list_requests(
                start=_when(query.get("start"), "start"),
                end=_when(query.get("end"), "end"),
                filters=filters,
                limit=limit,
            )
        except StoreError as error:
            raise GatewayError(f"storage error: {error}", status=503, code="storage_unavailable") from None
        return 200, {
            "data": [_row(row) for row in rows],
            "next_end": rows[-1].ts if len(rows) == limit else None,
        }


def _row(row: LedgerRow) -> dict[str, Any]:
    record = dataclasses.asdict(row)
    record["time"] = datetime.fromtimestamp(row.ts, UTC).isoformat()
    return record
