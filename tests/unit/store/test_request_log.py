"""The request log read back: filters, newest first, paging by ``end``, the decision trail kept whole."""

from __future__ import annotations

import pytest

from bastion.store.base import Store
from bastion.store.records import LedgerRow
from tests.unit.store.test_store_contract import make_store, store  # noqa: F401  (fixtures)

T0 = 1_790_000_000.0


def _row(n: int, **values: object) -> LedgerRow:
    defaults: dict[str, object] = {
        "request_id": f"req_{n:03d}",
        "ts": T0 + n,
        "key_id": "key_a" if n % 2 else "key_b",
        "model": "gpt" if n % 3 else "claude",
        "status": 200 if n % 5 else 429,
        "latency_ms": 10.0 + n,
    }
    defaults.update(values)
    return LedgerRow(**defaults)  # type: ignore[arg-type]


async def test_filters_order_and_paging(store: Store) -> None:  # noqa: F811
    await store.write_ledger([_row(n) for n in range(1, 31)])
    page = await store.list_requests(filters={"key_id": "key_a", "model": "gpt"}, limit=5)
    assert [row.request_id for row in page] == ["req_029", "req_025", "req_023", "req_019", "req_017"]
    following = await store.list_requests(
        filters={"key_id": "key_a", "model": "gpt"}, end=page[-1].ts, limit=5
    )
    assert following[0].request_id == "req_013"
    limited = await store.list_requests(filters={"status": 429}, start=T0 + 10, end=T0 + 26)
    assert [row.request_id for row in limited] == ["req_025", "req_020", "req_015", "req_010"]
    assert [row.request_id for row in await store.list_requests(request_id="req_007")] == ["req_007"]


async def test_the_decision_trail_round_trips(store: Store) -> None:  # noqa: F811
    row = _row(
        1,
        guards="input:pii=mask(EMAIL=1);output:pii_leak=redact(EMAIL)",
        breaker_skips=2,
        hedged=True,
        degraded="static",
        upstream_ms=123.5,
        limit_state="requests 59/60, tokens 900/1000",
        fallbacks="backup",
        attempts=3,
        stream=True,
    )
    await store.write_ledger([row])
    (stored,) = await store.list_requests(request_id="req_001")
    assert stored == row


async def test_unknown_filters_are_refused(store: Store) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="unknown usage dimension"):
        await store.list_requests(filters={"prompt": "x"})
