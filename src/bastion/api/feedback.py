"""``POST /v1/feedback``: a quality score for one request, from the key that made the request.

The score is checked against the request's ledger row (who made it, which model, feature and
variant answered), so it costs the LLM path nothing: the ledger keeps being written in batches
off the hot path, and only when the row is not in the database yet is this replica's ledger
queue flushed and the row read again. A request made with another key answers 404, exactly as
an unknown one does, so an id never reveals another tenant's request. One score per request:
a second one from the same key replaces the first.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, read_body, send_bytes
from bastion.api.endpoint import Endpoint
from bastion.api.openai_schema import parse_json_object
from bastion.context import RequestContext
from bastion.errors import GatewayError, InvalidRequest, NotFound
from bastion.store.base import StoreError
from bastion.store.records import FeedbackRecord, LedgerRow
from bastion.telemetry.feedback_metrics import FEEDBACK

if TYPE_CHECKING:
    from bastion.services import Services

log = logging.getLogger("bastion.api")

FEEDBACK_BODY_LIMIT = 64 * 1024
MAX_REQUEST_ID_CHARS = 128  # what ``new_request_id`` accepts from a client
MAX_COMMENT_CHARS = 4000
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
THUMBS = {"up": 1.0, "down": -1.0}
_FIELDS = ("request_id", "score", "thumbs", "comment", "metadata")


@dataclass(frozen=True, slots=True)
class FeedbackInput:
    """A validated feedback body."""

    request_id: str
    score: float
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def validate_feedback(body: dict[str, Any]) -> FeedbackInput:
    """The body as a FeedbackInput, or a 400 that names the offending field."""
    for name in body:
        if name not in _FIELDS:
            raise InvalidRequest(
                f"Unrecognized request argument supplied: '{name}'.", param=name, code="unknown_parameter"
            )
    return FeedbackInput(
        request_id=_request_id(body.get("request_id")),
        score=_score(body),
        comment=_comment(body.get("comment")),
        metadata=_metadata(body.get("metadata")),
    )


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {message}", param=param, code="invalid_value")


def _request_id(value: Any) -> str:
    if value is None:
        raise InvalidRequest(
            "Missing required parameter: 'request_id'.", param="request_id", code="missing_required_parameter"
        )
    if not isinstance(value, str) or not value or len(value) > MAX_REQUEST_ID_CHARS:
        raise _invalid(
            "request_id", f"expected the x-request-id of a request (1 to {MAX_REQUEST_ID_CHARS} chars)"
        )
    return value


def _score(body: dict[str, Any]) -> float:
    score, thumbs = body.get("score"), body.get("thumbs")
    if score is not None and thumbs is not None:
        raise _invalid("score", "give either 'score' or 'thumbs', not both")
    if thumbs is not None:
        if not isinstance(thumbs, str) or thumbs not in THUMBS:  # a list or object is unhashable
            raise _invalid("thumbs", "expected 'up' or 'down'")
        return THUMBS[thumbs]
    if score is None:
        raise InvalidRequest(
            "Missing required parameter: 'score' (a number in [-1, 1]) or 'thumbs' ('up' or 'down').",
            param="score",
            code="missing_required_parameter",
        )
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise _invalid("score", "expected a number in [-1, 1]")
    if not -1 <= score <= 1:
        raise _invalid("score", f"{score} is outside [-1, 1]")
    return float(score)


def _comment(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("comment", "expected a string")
    if len(value) > MAX_COMMENT_CHARS:
        raise _invalid("comment", f"{len(value)} characters; at most {MAX_COMMENT_CHARS}")
    return value


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("metadata", "expected an object")
    if len(value) > MAX_METADATA_PAIRS:
        raise _invalid("metadata", f"{len(value)} keys; at most {MAX_METADATA_PAIRS}")
    for name, item in value.items():
        if len(name) > MAX_METADATA_KEY_CHARS:
            raise _invalid("metadata", f"key {name[:20]!r}… is over {MAX_METADATA_KEY_CHARS} characters")
        if isinstance(item, str):
            if len(item) > MAX_METADATA_VALUE_CHARS:
                raise _invalid("metadata", f"value of {name!r} is over {MAX_METADATA_VALUE_CHARS} characters")
        elif not (item is None or isinstance(item, bool | int | float)):
            raise _invalid("metadata", f"value of {name!r} must be a string, number, boolean or null")
    return value


def feedback_payload(record: FeedbackRecord) -> dict[str, Any]:
    """What the API answers for a stored score."""
    return {
        "id": record.id,
        "object": "feedback",
        "request_id": record.request_id,
        "score": record.score,
        "comment": record.comment,
        "metadata": record.metadata,
        "created_at": int(record.created_at),
        "updated_at": int(record.updated_at),
    }


class Feedback(Endpoint):
    protocol = "openai"

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        gateway = self.gateway
        # the Anthropic SDK's key header too: feedback is for requests made on either ingress
        principal = ctx.principal = gateway.auth.authenticate(scope, allow_x_api_key=True)
        given = validate_feedback(parse_json_object(await read_body(scope, receive, FEEDBACK_BODY_LIMIT)))
        services = gateway.services
        if services.ledger is None:
            raise GatewayError(
                "feedback needs the usage ledger, and storage.ledger is off",
                status=503,
                code="feedback_unavailable",
            )
        try:
            row = await _ledger_row(services, given.request_id, principal.key_id)
            if row is None:
                raise NotFound(
                    f"no request {given.request_id!r} made with this API key", code="request_not_found"
                )
            stored, _created = await services.store.upsert_feedback(_record(given, row))
        except StoreError as error:
            log.error("feedback for request %s not stored: %s", given.request_id, error)
            raise GatewayError(
                f"feedback storage is unavailable; try again (request id {ctx.request_id})",
                status=503,
                code="storage_unavailable",
            ) from None
        FEEDBACK.record(stored)
        body = orjson.dumps(feedback_payload(stored))
        await send_bytes(send, 200, body, [JSON_CONTENT_TYPE, *ctx.response_headers()])
        return 200


async def _ledger_row(services: Services, request_id: str, key_id: str) -> LedgerRow | None:
    """The request's ledger row if ``key_id`` made it; this replica's queue is flushed only on a miss.

    Another key's row is a miss too, flush included, so the time taken does not tell it apart
    from an id never used.
    """
    store, ledger = services.store, services.ledger
    row = await store.get_ledger_row(request_id, key_id)
    if row is None and ledger is not None and ledger.queued:
        await ledger.flush()
        row = await store.get_ledger_row(request_id, key_id)
    return row if row is not None and row.key_id == key_id else None


def _record(given: FeedbackInput, row: LedgerRow) -> FeedbackRecord:
    return FeedbackRecord(
        id="fb_" + os.urandom(12).hex(),
        request_id=row.request_id,
        ts=row.ts,
        score=given.score,
        key_id=row.key_id,
        comment=given.comment,
        metadata=given.metadata,
        model=row.model,
        deployment=row.deployment,
        provider=row.provider,
        feature=row.feature,
        variant=row.variant,
        route_rule=row.route_rule,
        user_id=row.user_id,
        team_id=row.team_id,
    )
