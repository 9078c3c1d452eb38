"""The feedback part of the store contract, on both databases: ledger lookup, upsert, the quality report."""

from __future__ import annotations

import math

import pytest

from bastion.store.base import FEEDBACK_DIMENSIONS, FEEDBACK_METRICS, Store, StoreError
from bastion.store.migrations import LATEST_VERSION
from bastion.store.records import FeedbackRecord, LedgerRow
from tests.unit.store.test_store_contract import DAY, T0, make_store, store  # noqa: F401  (fixtures)


def feedback_for(row: LedgerRow, score: float, **fields: object) -> FeedbackRecord:
    """A feedback record carrying the ledger row's attributes, as the endpoint builds it."""
    values: dict[str, object] = {
        "id": f"fb_{row.request_id}",
        "request_id": row.request_id,
        "ts": row.ts,
        "score": score,
        "key_id": row.key_id,
        "model": row.model,
        "deployment": row.deployment,
        "provider": row.provider,
        "feature": row.feature,
        "variant": row.variant,
        "route_rule": row.route_rule,
        "user_id": row.user_id,
        "team_id": row.team_id,
    }
    values.update(fields)
    return FeedbackRecord(**values)  # type: ignore[arg-type]


async def test_schema_has_the_feedback_migration(store: Store) -> None:  # noqa: F811
    assert LATEST_VERSION >= 4
    assert await store.schema_version() == LATEST_VERSION


async def test_get_ledger_row_round_trips_every_field(store: Store) -> None:  # noqa: F811
    row = LedgerRow(
        "req-1",
        ts=T0 + 12.25,
        key_id="key_a",
        user_id="alice",
        team_id="search",
        end_user="u1",
        feature="chat",
        model="gpt-4o",
        provider="openai",
        deployment="gpt-4o-2024",
        route="chat",
        stream=True,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.5,
        usage_estimated=True,
        latency_ms=12.5,
        ttft_ms=3.0,
        status=200,
        attempts=1,
        route_rule="chat-ab",
        variant="control",
    )
    await store.write_ledger([row])
    found = await store.get_ledger_row("req-1")
    assert found is not None
    assert found.ts == pytest.approx(row.ts, abs=1e-5)
    found.ts = row.ts
    assert found == row
    assert await store.get_ledger_row("req-unknown") is None


async def test_upsert_creates_then_replaces_keeping_id_and_created_at(store: Store) -> None:  # noqa: F811
    row = LedgerRow("req-1", ts=T0, key_id="key_a", model="gpt-4o", feature="chat", team_id="search")
    first, created = await store.upsert_feedback(
        feedback_for(row, 1.0, comment="great", metadata={"screen": "answer"})
    )
    assert created
    assert (first.id, first.request_id, first.score, first.comment) == ("fb_req-1", "req-1", 1.0, "great")
    assert first.metadata == {"screen": "answer"}
    assert (first.model, first.feature, first.team_id, first.key_id) == ("gpt-4o", "chat", "search", "key_a")
    assert first.ts == pytest.approx(T0)
    assert first.created_at > 0 and first.updated_at == pytest.approx(first.created_at)

    second, created = await store.upsert_feedback(feedback_for(row, -0.5, id="fb_other", comment=None))
    assert not created
    assert (second.id, second.score, second.comment, second.metadata) == ("fb_req-1", -0.5, None, {})
    assert second.created_at == pytest.approx(first.created_at)
    assert second.updated_at >= first.updated_at
    assert [r["count"] for r in await store.feedback_report(["model"])] == [1]


async def test_scores_are_per_request_and_key_so_a_reused_id_never_replaces_another_keys(
    store: Store,  # noqa: F811
) -> None:
    row = LedgerRow("req-1", ts=T0, key_id="key_a")
    await store.upsert_feedback(feedback_for(row, 1.0))
    other, created = await store.upsert_feedback(feedback_for(row, -1.0, key_id="key_b", id="fb_b"))
    assert created and other.score == -1.0 and other.key_id == "key_b"
    mine, created = await store.upsert_feedback(feedback_for(row, 0.5))
    assert not created and mine.score == 0.5 and mine.key_id == "key_a"
    (only,) = await store.feedback_report([])
    assert only["count"] == 2 and only["mean_score"] == -0.25


async def test_feedback_report_groups_and_sums(store: Store) -> None:  # noqa: F811
    scores = {"gpt-4o": [1.0, 1.0, -1.0, 0.5], "haiku": [-1.0, 0.0]}
    number = 0
    for model, values in scores.items():
        for score in values:
            number += 1
            row = LedgerRow(f"r{number}", ts=T0 + number, key_id="k", model=model, feature=f"f{number % 2}")
            await store.upsert_feedback(feedback_for(row, score))
    rows = await store.feedback_report(["model"])
    assert [r["model"] for r in rows] == ["gpt-4o", "haiku"]  # by count, descending
    gpt, haiku = rows
    assert set(gpt) == {"model", *FEEDBACK_METRICS}
    assert gpt["count"] == 4 and gpt["positives"] == 3 and gpt["negatives"] == 1
    assert gpt["mean_score"] == pytest.approx(1.5 / 4)
    assert gpt["positive_share"] == pytest.approx(0.75)
    assert gpt["score_sum"] == pytest.approx(1.5)
    assert gpt["score_squares"] == pytest.approx(3.25)
    assert (haiku["count"], haiku["positives"], haiku["negatives"]) == (2, 0, 1)
    assert haiku["mean_score"] == pytest.approx(-0.5)

    two = await store.feedback_report(["model", "feature"])
    assert {(r["model"], r["feature"]): r["count"] for r in two} == {
        ("gpt-4o", "f0"): 2,
        ("gpt-4o", "f1"): 2,
        ("haiku", "f0"): 1,
        ("haiku", "f1"): 1,
    }
    assert [r["count"] for r in await store.feedback_report(["model"], filters={"model": "haiku"})] == [2]
    assert await store.feedback_report(["model"], limit=1) == [gpt]
    (total,) = await store.feedback_report([])
    assert total["count"] == 6 and math.isclose(total["score_sum"], 0.5)


async def test_feedback_report_time_range_and_buckets(store: Store) -> None:  # noqa: F811
    for number, (offset, score) in enumerate([(0.0, 1.0), (3600.0, -1.0), (DAY + 5, 1.0), (8 * DAY, 0.5)]):
        row = LedgerRow(f"r{number}", ts=T0 + offset, key_id="k", model="m")
        await store.upsert_feedback(feedback_for(row, score))
    by_day = await store.feedback_report(["model"], bucket="day")
    assert [(r["bucket"][:10], r["count"]) for r in by_day] == [
        ("2026-01-19", 2),
        ("2026-01-20", 1),
        ("2026-01-27", 1),
    ]
    by_week = await store.feedback_report([], bucket="week")
    assert [(r["bucket"][:10], r["count"]) for r in by_week] == [("2026-01-19", 3), ("2026-01-26", 1)]
    window = await store.feedback_report(["model"], start=T0 + 3600, end=T0 + 8 * DAY)
    assert [(r["count"], r["score_sum"]) for r in window] == [(2, 0.0)]


async def test_feedback_report_refuses_unknown_names(store: Store) -> None:  # noqa: F811
    assert "status" not in FEEDBACK_DIMENSIONS
    with pytest.raises(ValueError, match="unknown feedback dimension"):
        await store.feedback_report(["model; DROP TABLE feedback"])
    with pytest.raises(ValueError, match="unknown feedback dimension"):
        await store.feedback_report(["model"], filters={"status": 200})
    with pytest.raises(ValueError, match="unknown time bucket"):
        await store.feedback_report(["model"], bucket="minute")


async def test_score_outside_the_range_is_refused_by_the_database(store: Store) -> None:  # noqa: F811
    with pytest.raises(StoreError):
        await store.upsert_feedback(feedback_for(LedgerRow("r", ts=T0, key_id="k"), 2.0))
