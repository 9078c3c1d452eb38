"""The dashboard's panel arithmetic: totals, rates, percentiles and zero-filled series from rollup rows."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.api.dashboard.panels import WINDOWS, deployments, overview, request_row, spend_by_day
from bastion.store.records import LedgerRow
from bastion.store.rollups import TRAFFIC_SUMS, RollupDeltas

T0 = 1_780_000_200  # a multiple of 60


def _rows(*ledger: LedgerRow, group_by: tuple[str, ...] = ("status_class",)) -> list[dict[str, Any]]:
    """What ``rollup_traffic(grain=60, step=60, group_by=...)`` returns for these ledger rows."""
    rows = []
    for values in RollupDeltas.of(ledger).traffic:
        grain, bucket, model, provider, deployment, status_class, *sums = values
        if grain != 60:
            continue
        keys = {"model": model or None, "provider": provider or None, "deployment": deployment or None}
        row = {
            "t": bucket,
            "status_class": status_class,
            **{name: keys[name] for name in group_by if name in keys},
        }
        row.update(zip(TRAFFIC_SUMS, sums, strict=True))
        rows.append(row)
    return rows


def test_overview_totals_rates_and_zero_filled_series() -> None:
    ledger = [
        LedgerRow("a", ts=T0 + 1, latency_ms=100, ttft_ms=40, cost_usd=0.5, prompt_tokens=10),
        LedgerRow("b", ts=T0 + 2, latency_ms=200, status=503, attempts=2),
        LedgerRow("c", ts=T0 + 125, latency_ms=300, cache_hit="hit", fallbacks="backup"),
    ]
    window = WINDOWS["1h"]
    totals, series = overview(_rows(*ledger), window, T0 - 60, T0 + 180)
    assert (totals["requests"], totals["errors"], totals["fallbacks"], totals["retried"]) == (3, 1, 1, 1)
    assert totals["error_rate"] == pytest.approx(1 / 3) and totals["cache_hit_rate"] == pytest.approx(1 / 3)
    assert totals["throughput_rps"] == pytest.approx(3 / 240)
    assert totals["latency_ms"]["avg"] == pytest.approx(200) and totals["ttft_ms"]["p50"] == pytest.approx(
        40
    )  # mid-bucket (30, 50]
    assert series["t"] == [T0 - 60, T0, T0 + 60, T0 + 120, T0 + 180]
    assert series["requests"] == [0, 2, 0, 1, 0] and series["errors"] == [0, 1, 0, 0, 0]
    assert series["latency_p50"][0] is None and series["latency_p50"][3] == pytest.approx(250)
    assert series["cost_usd"][1] == pytest.approx(0.5)


def test_empty_window_has_no_percentiles() -> None:
    totals, series = overview([], WINDOWS["24h"], T0, T0 + 3600)
    assert totals["requests"] == 0 and totals["error_rate"] is None and totals["latency_ms"]["p95"] is None
    assert set(series["requests"]) == {0}


def test_deployments_pair_traffic_with_live_breakers() -> None:
    ledger = [
        LedgerRow("a", ts=T0, model="chat", provider="openai", deployment="gpt-4o", latency_ms=90),
        LedgerRow("b", ts=T0, model="chat", provider="openai", deployment="gpt-4o", status=500),
        LedgerRow("c", ts=T0, model="chat", provider="anthropic", deployment="sonnet", fallbacks="backup"),
    ]
    groups = {
        "chat": {
            "deployments": [
                {
                    "deployment": "openai/gpt-4o",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "breaker": {"state": "open"},
                },
                {
                    "deployment": "gemini/flash",
                    "provider": "gemini",
                    "model": "flash",
                    "breaker": {"state": "closed"},
                },
            ]
        }
    }
    listed = deployments(_rows(*ledger, group_by=("model", "provider", "deployment")), groups, 3600)
    assert [(row["deployment"], row["requests"]) for row in listed] == [
        ("gpt-4o", 2),
        ("flash", 0),
        ("sonnet", 1),
    ]
    assert listed[0]["live"]["breaker"] == {"state": "open"} and listed[0]["error_rate"] == 0.5
    assert listed[2]["live"] is None and listed[2]["fallbacks"] == 1  # a fallback's answer: no breaker here


def test_spend_by_day_keeps_the_top_values_and_sums_the_rest() -> None:
    days = [0, 86_400]
    rows = [{"day": day, "value": f"v{n}", "cost_usd": float(n)} for n in range(10) for day in days]
    series = spend_by_day(rows, days, top=3)
    assert [item["name"] for item in series] == ["v9", "v8", "v7", "other"]
    assert series[0]["cost_usd"] == [9.0, 9.0] and series[-1]["total_usd"] == pytest.approx(2 * sum(range(7)))


def test_a_request_row_shows_the_trail_and_not_the_end_user() -> None:
    shown = request_row(LedgerRow("r", ts=T0, end_user="alice", fallbacks="b1,b2", attempts=3))
    assert shown["fallbacks"] == ["b1", "b2"] and shown["attempts"] == 3 and "end_user" not in shown
