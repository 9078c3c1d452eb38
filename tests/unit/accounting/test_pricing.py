"""Golden costs per provider, from usage as each adapter reports it, against hand-computed dollars."""

from __future__ import annotations

import json
import random
from datetime import date
from importlib import resources
from typing import Any

import pytest

from bastion.accounting.pricing import Cost, ModelPrice, PriceTable, estimate_cost, request_cost
from bastion.translate.anthropic_upstream import openai_usage
from bastion.translate.gemini import usage_from_metadata

EXACT = 1e-12


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.builtin()


def price(table: PriceTable, model: str) -> ModelPrice:
    found = table.lookup(model)
    assert found is not None, model
    return found


def assert_cost(cost: Cost, **expected: float) -> None:
    for name, value in expected.items():
        assert getattr(cost, name) == pytest.approx(value, abs=EXACT), name


# --------------------------------------------------------------------------- golden, per provider


def test_openai_reasoning_model_with_cached_prompt(table: PriceTable) -> None:
    usage = {  # an o4-mini chat completion's usage, as OpenAI returns it
        "prompt_tokens": 2006,
        "completion_tokens": 1500,
        "total_tokens": 3506,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 1088,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    cost = request_cost(usage, price(table, "o4-mini-2025-04-16"))
    # 86 uncached x $1.10 + 1920 cached x $0.275 + 412 visible x $4.40 + 1088 reasoning x $4.40, per 1M
    assert_cost(
        cost,
        input=0.0000946,
        cached_input=0.000528,
        output=0.0018128,
        reasoning=0.0047872,
        cache_write=0.0,
        time=0.0,
        total=0.0072226,
    )


def test_openai_chat_model_with_cached_prompt(table: PriceTable) -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 150,
        "total_tokens": 1350,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    cost = request_cost(usage, price(table, "gpt-4o-mini-2024-07-18"))
    # 176 x $0.15 + 1024 x $0.075 + 150 x $0.60, per 1M
    assert_cost(cost, input=0.0000264, cached_input=0.0000768, output=0.00009, total=0.0001932)


def test_openai_embeddings_usage(table: PriceTable) -> None:
    cost = request_cost({"prompt_tokens": 8, "total_tokens": 8}, price(table, "text-embedding-3-small"))
    assert_cost(cost, input=0.00000016, total=0.00000016)


def test_anthropic_cache_read_and_write(table: PriceTable) -> None:
    anthropic = {  # a Messages API response's usage, before translation
        "input_tokens": 50,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 10000,
        "output_tokens": 700,
        "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }
    cost = request_cost(openai_usage(anthropic), price(table, "claude-sonnet-4-5-20250929"))
    # 50 x $3 + 10000 x $0.30 + 2048 x $3.75 + 700 x $15, per 1M
    assert_cost(
        cost,
        input=0.00015,
        cached_input=0.003,
        cache_write=0.00768,
        output=0.0105,
        reasoning=0.0,
        total=0.02133,
    )


def test_anthropic_long_context_bills_the_whole_request_at_the_higher_rates(table: PriceTable) -> None:
    anthropic = {"input_tokens": 230000, "cache_read_input_tokens": 20000, "output_tokens": 2000}
    cost = request_cost(openai_usage(anthropic), price(table, "claude-sonnet-4-5"))
    # 250k prompt > 200k: 230000 x $6 + 20000 x $0.60 + 2000 x $22.50, per 1M
    assert_cost(cost, input=1.38, cached_input=0.012, output=0.045, total=1.437)


def test_gemini_cached_content_and_thinking(table: PriceTable) -> None:
    metadata = {  # a generateContent response's usageMetadata
        "promptTokenCount": 12000,
        "candidatesTokenCount": 800,
        "totalTokenCount": 14000,
        "cachedContentTokenCount": 8000,
        "thoughtsTokenCount": 1200,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12000}],
    }
    cost = request_cost(usage_from_metadata(metadata), price(table, "models/gemini-2.5-flash"))
    # 4000 x $0.30 + 8000 x $0.03 + 800 x $2.50 + 1200 thinking x $2.50, per 1M
    assert_cost(cost, input=0.0012, cached_input=0.00024, output=0.002, reasoning=0.003, total=0.00644)


def test_gemini_pro_prompt_over_200k_is_billed_at_the_long_context_tier(table: PriceTable) -> None:
    metadata = {"promptTokenCount": 250000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 500}
    cost = request_cost(usage_from_metadata(metadata), price(table, "gemini-2.5-pro"))
    # 250000 x $2.50 + 1000 x $15 + 500 x $15, per 1M
    assert_cost(cost, input=0.625, output=0.015, reasoning=0.0075, total=0.6475)


def test_gemini_pro_prompt_of_exactly_200k_stays_in_the_base_tier(table: PriceTable) -> None:
    cost = request_cost(usage_from_metadata({"promptTokenCount": 200000}), price(table, "gemini-2.5-pro"))
    assert_cost(cost, input=0.25, total=0.25)


# --------------------------------------------------------------------------- self-hosted


def test_per_gpu_hour_bills_the_duration() -> None:
    cost = request_cost({"prompt_tokens": 500, "completion_tokens": 100}, ModelPrice(per_hour=2.4), 1.5)
    assert_cost(cost, time=0.001, input=0.0, output=0.0, total=0.001)


def test_per_token_and_per_hour_add_up() -> None:
    self_hosted = ModelPrice(input=0.05, output=0.1, per_hour=3.6)
    cost = request_cost({"prompt_tokens": 1000, "completion_tokens": 1000}, self_hosted, 2.0)
    assert_cost(cost, input=0.00005, output=0.0001, time=0.002, total=0.00215)


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan"), float("inf")])
def test_a_missing_or_absurd_duration_costs_nothing(duration: float) -> None:
    assert request_cost(None, ModelPrice(per_hour=2.4), duration) == Cost()


# --------------------------------------------------------------------------- malformed usage


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},
        [],
        "usage",
        {"prompt_tokens": "12", "completion_tokens": None},
        {"prompt_tokens": -5, "completion_tokens": float("nan"), "prompt_tokens_details": [1]},
        {"prompt_tokens": True, "completion_tokens": float("inf"), "completion_tokens_details": "x"},
    ],
)
def test_missing_or_garbage_usage_costs_zero(usage: Any) -> None:
    assert request_cost(usage, ModelPrice(input=1.0, output=2.0)) == Cost()


def test_detail_counts_larger_than_their_totals_are_clamped() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 80, "cache_creation_tokens": 80},
        "completion_tokens_details": {"reasoning_tokens": 50},
    }
    rates = ModelPrice(input=1.0, cached_input=0.5, cache_write=2.0, output=4.0, reasoning=8.0)
    # 80 cached x $0.50 + the remaining 20 written x $2 + 10 reasoning x $8, per 1M
    assert_cost(
        request_cost(usage, rates), input=0.0, cached_input=0.00004, cache_write=0.00004, reasoning=0.00008
    )


def test_unset_rates_fall_back_to_their_base_rate() -> None:
    usage = {
        "prompt_tokens": 300,
        "completion_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 10},
    }
    cost = request_cost(usage, ModelPrice(input=1.0, output=2.0))
    assert_cost(
        cost, input=0.0001, cached_input=0.0001, cache_write=0.0001, output=0.00004, reasoning=0.00002
    )


# --------------------------------------------------------------------------- estimate


def test_estimate_reserves_prompt_at_the_dearest_input_rate(table: PriceTable) -> None:
    # claude-sonnet-4-5: a cache write ($3.75) costs more than plain input ($3); output $15
    assert estimate_cost(1000, 500, price(table, "claude-sonnet-4-5")) == pytest.approx(0.01125, abs=EXACT)


def test_estimate_of_nothing_is_zero(table: PriceTable) -> None:
    assert estimate_cost(0, 0, price(table, "gpt-4o")) == 0.0
    assert estimate_cost(-10, -1, price(table, "gpt-4o")) == 0.0


def _usage_within(rng: random.Random, prompt_limit: int, output_limit: int) -> dict[str, Any]:
    prompt = rng.randint(0, prompt_limit)
    cached = rng.randint(0, prompt)
    written = rng.randint(0, prompt - cached)
    completion = rng.randint(0, output_limit)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_creation_tokens": written},
        "completion_tokens_details": {"reasoning_tokens": rng.randint(0, completion)},
    }


def test_estimate_is_never_below_the_actual_cost_of_usage_within_it(table: PriceTable) -> None:
    rng = random.Random(20261101)
    prices = [*table.models.values(), ModelPrice(input=1.0, cache_write=0.5, output=2.0, reasoning=9.0)]
    for model_price in prices:
        for _ in range(200):
            prompt_limit = rng.choice([0, 1, 1000, 150_000, 200_000, 300_000])
            output_limit = rng.choice([0, 1, 4096, 65_536])
            usage = _usage_within(rng, prompt_limit, output_limit)
            actual = request_cost(usage, model_price).total
            assert actual <= estimate_cost(prompt_limit, output_limit, model_price) + EXACT, (
                model_price,
                usage,
            )


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("requested", "entry"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("text-embedding-ada-002", "text-embedding-ada-002"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-embedding-001", "gemini-embedding-001"),
    ],
)
def test_lookup_finds_snapshots_and_prefixed_names(table: PriceTable, requested: str, entry: str) -> None:
    assert table.lookup(requested) is table.models[entry]


@pytest.mark.parametrize(
    "requested",
    [
        "my-gpt4o-deployment",  # an Azure deployment name
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-tts",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        "gemini-2.5-flash-preview-05-20",
        "gpt-4",
        "claude",
        "llama-3.1-70b-instruct",
        "",
    ],
)
def test_lookup_leaves_unknown_models_unpriced(table: PriceTable, requested: str) -> None:
    assert table.lookup(requested) is None


# --------------------------------------------------------------------------- overrides


def test_overrides_replace_and_add_entries_without_touching_the_shipped_table(table: PriceTable) -> None:
    cheaper = ModelPrice(input=1.0, output=2.0)
    self_hosted = ModelPrice(per_hour=2.4)
    local = table.with_overrides({"gpt-4o": cheaper, "llama-3.1-70b": self_hosted})
    assert local.lookup("gpt-4o-2024-08-06") is cheaper
    assert local.lookup("llama-3.1-70b") is self_hosted
    assert local.lookup("gpt-4o-mini") is table.models["gpt-4o-mini"]
    assert table.lookup("gpt-4o") is not cheaper
    assert local.version == f"{table.version}+config"
    assert table.with_overrides({}) is table


def test_an_override_of_an_alias_wins_over_the_alias(table: PriceTable) -> None:
    pinned = ModelPrice(input=2.0, output=3.0)
    assert table.with_overrides({"claude-opus-4-0": pinned}).lookup("claude-opus-4-0") is pinned


@pytest.mark.parametrize(
    "entry",
    [
        {"input": 1.0, "ouptut": 2.0},
        {"input": -1.0},
        {"input": "1.0"},
        {"input": float("nan")},
        {"context_window": 0},
        {"long_context_threshold": 1000},
        {"long_context": {"input": 2.0}},
        {"long_context_threshold": 1000, "long_context": 5},
    ],
)
def test_malformed_price_entries_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ModelPrice.from_mapping(entry)


# --------------------------------------------------------------------------- the shipped table


def _shipped() -> dict[str, Any]:
    text = resources.files("bastion.accounting").joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_shipped_table_is_versioned_by_date_and_read_once() -> None:
    data = _shipped()
    date.fromisoformat(data["version"])
    assert data["source"]
    assert PriceTable.builtin() is PriceTable.builtin()
    assert PriceTable.builtin().version == data["version"]


@pytest.mark.parametrize(("name", "entry"), sorted(_shipped()["models"].items()))
def test_every_shipped_model_has_rates_and_a_context_window(name: str, entry: dict[str, Any]) -> None:
    assert entry["provider"] in {"openai", "anthropic", "google"}
    assert isinstance(entry["input"], int | float) and isinstance(entry["output"], int | float)
    assert isinstance(entry["context_window"], int) and entry["context_window"] > 0
    model_price = ModelPrice.from_mapping(entry)
    for tier in filter(None, (model_price, model_price.long_context)):
        assert tier.cached_input_rate <= tier.input
        if entry["provider"] == "anthropic":  # 1.25x and 0.1x input, but Claude 3 Haiku's are 1.2x and 0.12x
            assert tier.cache_write is not None and tier.input < tier.cache_write <= 1.25 * tier.input + EXACT
            assert tier.cached_input is not None and tier.cached_input <= 0.12 * tier.input + EXACT


def test_every_alias_points_at_a_shipped_model() -> None:
    data = _shipped()
    assert set(data["aliases"].values()) <= set(data["models"])
