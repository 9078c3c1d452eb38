"""``GET /admin/feedback``: feedback scores aggregated per model, deployment, feature, variant… and time.

One aggregate query over the feedback table (the request's attributes were copied there when
the score arrived): count, mean score with a 95% Student t interval, share of positive scores,
and the sums the interval comes from. Time is the request's start; ``start`` / ``end`` are unix
time or ISO 8601.
"""

from __future__ import annotations

from typing import Any

from bastion.api.admin import AdminEndpoint
from bastion.api.admin_identity import _number, _query, _when
from bastion.api.asgi import Receive, Scope
from bastion.errors import GatewayError, InvalidRequest
from bastion.routing.experiments import Sample
from bastion.store.base import FEEDBACK_DIMENSIONS, TIME_BUCKETS, StoreError


class FeedbackReport(AdminEndpoint):
    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        query = _query(scope)
        group_by = [g for g in query.get("group_by", "model").split(",") if g]
        for dimension in group_by:
            if dimension not in FEEDBACK_DIMENSIONS:
                raise InvalidRequest(
                    f"group_by: {dimension!r} is not one of {', '.join(FEEDBACK_DIMENSIONS)}",
                    param="group_by",
                )
        bucket = query.get("bucket")
        if bucket is not None and bucket not in TIME_BUCKETS:
            raise InvalidRequest(f"bucket must be one of {', '.join(TIME_BUCKETS)}", param="bucket")
        filters: dict[str, Any] = {d: query[d] for d in FEEDBACK_DIMENSIONS if d in query}
        try:
            rows = await self.app.gateway.services.store.feedback_report(
                group_by,
                start=_when(query.get("start"), "start"),
                end=_when(query.get("end"), "end"),
                bucket=bucket,
                filters=filters,
                limit=int(_number(query.get("limit", "1000"), "limit", int)),
            )
        except StoreError as error:
            raise GatewayError(f"storage error: {error}", status=503, code="storage_unavailable") from None
        for row in rows:
            interval = Sample(row["count"], row["score_sum"], row["score_squares"]).interval()
            row["ci95"] = list(interval) if interval else None
        return 200, {"group_by": group_by, "bucket": bucket, "data": rows}
