"""The accounting stage's end of a request: in place without limits, settled with them, no slot leaked."""

from __future__ import annotations

import pytest

from bastion.accounting.catalog import PriceCatalog
from bastion.accounting.ledger import BatchWriter
from bastion.accounting.pricing import ModelPrice
from bastion.accounting.recorder import UsageRecorder
from bastion.accounting.tokens import TokenCounter
from bastion.config import BastionConfig
from bastion.context import RequestContext
from bastion.errors import GatewayError
from bastion.limits.admission import Admission
from bastion.limits.alerts import BudgetAlerts
from bastion.limits.memory import MemoryCounters
from bastion.limits.spec import LimitSpec
from bastion.store.records import LedgerRow

USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "prompt_tokens_details": {"cached_tokens": 20},
    "completion_tokens_details": {"reasoning_tokens": 10},
}


def recorder(models: dict[str, LimitSpec], rows: list[LedgerRow]) -> UsageRecorder:
    async def write(batch: object) -> None:  # never called: rows are read from the queue
        raise AssertionError("not written in these tests")

    ledger: BatchWriter[LedgerRow] = BatchWriter(write, "ledger")
    ledger.submit = lambda row: rows.append(row) or True  # type: ignore[method-assign]
    return UsageRecorder(
        admission=Admission(
            end_users=LimitSpec(),
            models=models,
            features={},
            counters=MemoryCounters(),
            fallback=None,
            fail_closed=False,
        ),
        alerts=BudgetAlerts([1.0], None),
        catalog=PriceCatalog(BastionConfig()),
        tokens=TokenCounter(),
        ledger=ledger,
        default_output_tokens=100,
        families={},
    )


def answered(request_id: str) -> RequestContext:
    ctx = RequestContext(request_id=request_id, ingress="openai")
    ctx.model, ctx.provider, ctx.upstream_model, ctx.route, ctx.attempts = (
        "gpt",
        "openai",
        "gpt-4o",
        "chat",
        1,
    )
    ctx.usage = dict(USAGE)
    return ctx


async def test_without_limits_a_request_ends_in_place_with_its_row_and_cost() -> None:
    rows: list[LedgerRow] = []
    stage = recorder({}, rows)
    stage.catalog.by_deployment[("openai", "gpt-4o")] = ModelPrice(input=2.5, cached_input=1.25, output=10.0)
    ctx = answered("req-1")
    await stage.admit(ctx, "gpt", {"messages": []}, "chat")
    assert stage.finish(ctx, 200) is None
    [row] = rows
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.reasoning_tokens) == (
        120,
        30,
        20,
        10,
    )
    # 100 uncached + 20 cached input tokens, 20 output + 10 reasoning tokens (at the output rate)
    assert row.cost_usd == pytest.approx((100 * 2.5 + 20 * 1.25 + 30 * 10.0) / 1e6)


async def test_a_held_slot_is_settled_even_when_recording_fails() -> None:
    rows: list[LedgerRow] = []
    stage = recorder({"gpt": LimitSpec(max_concurrent=1)}, rows)
    first = answered("req-1")
    await stage.admit(first, "gpt", {"messages": []}, "chat")
    assert first.ticket is not None
    with pytest.raises(GatewayError):  # the one slot is taken
        await stage.admit(answered("req-2"), "gpt", {"messages": []}, "chat")

    def broken(*args: object) -> LedgerRow:
        raise RuntimeError("a row that cannot be built")

    stage._row = broken  # type: ignore[method-assign]
    settling = stage.finish(first, 200)
    assert settling is not None and rows == []
    await settling
    second = answered("req-3")
    await stage.admit(second, "gpt", {"messages": []}, "chat")  # the slot came back
    assert second.ticket is not None
