"""``Store.variant_totals`` on both databases: the sums an A/B report is computed from."""

from __future__ import annotations

import pytest

from bastion.store.base import Store
from bastion.store.records import LedgerRow
from tests.unit.store.test_store_contract import make_store, store  # noqa: F401  (fixtures)

T0 = 1_780_000_000.0


async def test_variant_totals_per_rule_and_variant(store: Store) -> None:  # noqa: F811
    rows = [
        LedgerRow("a1", ts=T0, route_rule="chat-ab", variant="control", latency_ms=100.0, cost_usd=0.5),
        LedgerRow("a2", ts=T0 + 1, route_rule="chat-ab", variant="control", latency_ms=300.0, cost_usd=1.5),
        LedgerRow("a3", ts=T0 + 2, route_rule="chat-ab", variant="control", status=503, latency_ms=9.0),
        LedgerRow("a4", ts=T0 + 3, route_rule="chat-ab", variant="control", cache_hit="hit", latency_ms=1.0),
        LedgerRow(
            "b1", ts=T0 + 4, route_rule="cap,chat-ab", variant="candidate", latency_ms=50.0, cost_usd=0.25
        ),
        LedgerRow("c1", ts=T0 + 5, route_rule="cheap-for-summaries", latency_ms=10.0),
    ]
    await store.write_ledger(rows)
    totals = {(r["route_rule"], r["variant"]): r for r in await store.variant_totals()}
    assert set(totals) == {("chat-ab", "control"), ("cap,chat-ab", "candidate")}
    control = totals[("chat-ab", "control")]
    assert (control["requests"], control["errors"], control["cache_hits"], control["measured"]) == (
        4,
        1,
        1,
        2,
    )
    assert control["latency_sum"] == pytest.approx(400.0)
    assert control["latency_squares"] == pytest.approx(100.0**2 + 300.0**2)
    assert control["cost_sum"] == pytest.approx(2.0)
    assert control["cost_squares"] == pytest.approx(0.25 + 2.25)
    assert [r["variant"] for r in await store.variant_totals(start=T0 + 4)] == ["candidate"]
    assert await store.variant_totals(end=T0) == []
