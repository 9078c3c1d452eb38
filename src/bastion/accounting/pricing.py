"""Prices per model, and what one request cost from the usage its provider reported.

The shipped table (``prices.json``) is versioned and read from the package, never fetched:
spend figures must not change because a web page did. Config overrides it per model name
and per deployment; self-hosted capacity is priced per token, per GPU-hour, or both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

TOKENS_PER_RATE_UNIT = 1_000_000  # rates are USD per 1M tokens
SECONDS_PER_HOUR = 3600

# Keys of a price entry that document it and do not price anything.
_METADATA_KEYS = frozenset({"provider", "note"})
_RATE_FIELDS = ("input", "cached_input", "cache_write", "output", "reasoning", "per_hour")
_TOKEN_FIELDS = ("context_window", "long_context_threshold")

# Suffixes naming a snapshot of the same model: -2024-08-06, -20250929, @20250929 (Vertex),
# -latest, -001. Stripped one at a time, never a prefix match, so "gpt-4o-mini-2024-07-18"
# finds gpt-4o-mini and an unknown model stays unpriced instead of borrowing a neighbour's price.
_SNAPSHOT_SUFFIX = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8})|-latest|-\d{3})$")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M tokens of each kind; an unset rate is billed at the rate it falls back to."""

    input: float = 0.0
    cached_input: float | None = None  # unset: the input rate (no cache discount)
    cache_write: float | None = None  # unset: the input rate
    output: float = 0.0
    reasoning: float | None = None  # unset: the output rate
    per_hour: float = 0.0  # self-hosted capacity: USD per hour of request duration
    context_window: int | None = None
    long_context_threshold: int | None = None  # prompts longer than this are billed at long_context
    long_context: ModelPrice | None = None

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            _check_rate(name, getattr(self, name))
        for name in _TOKEN_FIELDS:
            _check_token_count(name, getattr(self, name))
        if (self.long_context is None) != (self.long_context_threshold is None):
            raise ValueError("long_context and long_context_threshold go together")
        if self.long_context is not None and not isinstance(self.long_context, ModelPrice):
            raise ValueError(f"price long_context must be a price, not {self.long_context!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModelPrice:
        """A price from its JSON form; an unknown key is an error, so a typo cannot price a model at $0."""
        known = {field.name for field in fields(cls)}
        unknown = set(data) - known - _METADATA_KEYS
        if unknown:
            raise ValueError(f"unknown price fields: {', '.join(sorted(unknown))}")
        values = {key: value for key, value in data.items() if key in known}
        if isinstance(values.get("long_context"), Mapping):
            values["long_context"] = cls.from_mapping(values["long_context"])
        return cls(**values)

    @property
    def cached_input_rate(self) -> float:
        return self.input if self.cached_input is None else self.cached_input

    @property
    def cache_write_rate(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    @property
    def reasoning_rate(self) -> float:
        return self.output if self.reasoning is None else self.reasoning

    def tier(self, prompt_tokens: int) -> ModelPrice:
        """The rates a prompt of this size is billed at: all of it, once it passes the threshold."""
        threshold = self.long_context_threshold
        if self.long_context is not None and threshold is not None and prompt_tokens > threshold:
            return self.long_context
        return self


@dataclass(frozen=True, slots=True)
class Cost:
    """USD one request cost, by what was billed; ``total`` is the sum of the rest."""

    total: float = 0.0
    input: float = 0.0
    cached_input: float = 0.0
    cache_write: float = 0.0
    output: float = 0.0
    reasoning: float = 0.0
    time: float = 0.0


class PriceTable:
    """Prices by model name; ``version`` says which table priced a request (ledger rows record it)."""

    def __init__(
        self, version: str, models: Mapping[str, ModelPrice], aliases: Mapping[str, str] | None = None
    ) -> None:
        self.version = version
        self._models: Mapping[str, ModelPrice] = MappingProxyType(dict(models))
        self._aliases: Mapping[str, str] = MappingProxyType(dict(aliases or {}))

    @classmethod
    def builtin(cls) -> PriceTable:
        """The table shipped in the package, read once."""
        return _builtin_table()

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        return self._models

    def with_overrides(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """This table with whole entries replaced or added; the version says the prices are local."""
        if not overrides:
            return self
        return PriceTable(f"{self.version}+config", {**self._models, **overrides}, self._aliases)

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of an upstream model name, or None when the table does not know the model."""
        for candidate in _candidate_names(model):
            price = self._models.get(candidate)
            if price is None and candidate in self._aliases:
                price = self._models.get(self._aliases[candidate])
            if price is not None:
                return price
        return None


def request_cost(usage: Mapping[str, Any] | None, price: ModelPrice, duration_seconds: float = 0.0) -> Cost:
    """USD of one answered request, from its OpenAI-shaped usage as Bastion's adapters report it.

    ``prompt_tokens`` includes cached and cache-written tokens and ``completion_tokens`` includes
    reasoning tokens, so each detail count is billed at its own rate and the rest at the base rate.
    Missing or malformed counts count as zero: a request is never refused for its bill.
    """
    return tokens_cost(BilledTokens.from_usage(usage), price, duration_seconds)


def tokens_cost(tokens: BilledTokens, price: ModelPrice, duration_seconds: float = 0.0) -> Cost:
    """``request_cost`` of a usage already split into billed counts (``BilledTokens.from_usage``)."""
    rates = price.tier(tokens.prompt)
    # Token count times USD-per-1M first, one division per figure: exact for the usual counts and rates.
    uncached = tokens.uncached_input * rates.input
    cached = tokens.cached_input * rates.cached_input_rate
    written = tokens.cache_write * rates.cache_write_rate
    output = tokens.output * rates.output
    reasoning = tokens.reasoning * rates.reasoning_rate
    time = _time_cost(duration_seconds, price.per_hour) if price.per_hour else 0.0
    unit = TOKENS_PER_RATE_UNIT
    return Cost(
        total=(uncached + cached + written + output + reasoning) / unit + time,
        input=uncached / unit,
        cached_input=cached / unit,
        cache_write=written / unit,
        output=output / unit,
        reasoning=reasoning / unit,
        time=time,
    )


def estimate_cost(prompt_tokens: int, max_output_tokens: int, price: ModelPrice) -> float:
    """USD to reserve before the call: no usage within these token counts can cost more.

    Every prompt token at the dearest input rate (an Anthropic cache write costs more than a
    plain input token) and every output token at the dearer of output and reasoning. Time is
    unknown before the call, so per-hour pricing reserves nothing.
    """
    prompt = max(0, prompt_tokens)
    output = max(0, max_output_tokens)
    tiers = (price, price.tier(prompt))  # a shorter actual prompt may fall back to the base tier
    input_rate = max(max(tier.input, tier.cached_input_rate, tier.cache_write_rate) for tier in tiers)
    output_rate = max(max(tier.output, tier.reasoning_rate) for tier in tiers)
    return (prompt * input_rate + output * output_rate) / TOKENS_PER_RATE_UNIT


@dataclass(frozen=True, slots=True)
class BilledTokens:
    """A usage split into disjoint counts, each billed at one rate."""

    uncached_input: int
    cached_input: int
    cache_write: int
    output: int
    reasoning: int

    @property
    def prompt(self) -> int:
        return self.uncached_input + self.cached_input + self.cache_write

    @property
    def completion(self) -> int:
        return self.output + self.reasoning

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any] | None) -> BilledTokens:
        """Details are clamped to their totals, so a malformed usage never bills more than it reported."""
        usage = usage if isinstance(usage, dict | Mapping) else {}
        prompt_details = _mapping(usage.get("prompt_tokens_details"))
        completion_details = _mapping(usage.get("completion_tokens_details"))
        prompt = _count(usage.get("prompt_tokens"))
        cached = min(_count(prompt_details.get("cached_tokens")), prompt)
        written = min(_count(prompt_details.get("cache_creation_tokens")), prompt - cached)
        completion = _count(usage.get("completion_tokens"))
        reasoning = min(_count(completion_details.get("reasoning_tokens")), completion)
        return cls(prompt - cached - written, cached, written, completion - reasoning, reasoning)


def _count(value: object) -> int:
    """A token count from provider JSON; anything but a finite, non-negative number is zero."""
    if type(value) is int:  # the usual case first (bool is not int here)
        return value if value > 0 else 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time_cost(duration_seconds: float, per_hour: float) -> float:
    if not per_hour or not math.isfinite(duration_seconds) or duration_seconds <= 0:
        return 0.0
    return duration_seconds * per_hour / SECONDS_PER_HOUR


def _check_rate(name: str, value: object) -> None:
    if value is None and name in ("cached_input", "cache_write", "reasoning"):
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"price {name} must be a finite number >= 0, not {value!r}")


def _check_token_count(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"price {name} must be a whole number of tokens >= 1, not {value!r}")


def _candidate_names(model: str) -> Iterator[str]:
    """The name as given; lower-cased without a path ("openai/", "models/"); then each snapshot suffix off."""
    yield model
    name = model.strip().lower().rsplit("/", 1)[-1]
    yield name
    while (shorter := _SNAPSHOT_SUFFIX.sub("", name)) != name:
        name = shorter
        yield name


@cache
def _builtin_table() -> PriceTable:
    text = resources.files("bastion.accounting").joinpath("prices.json").read_text(encoding="utf-8")
    data = json.loads(text)
    models = {name: ModelPrice.from_mapping(entry) for name, entry in data["models"].items()}
    return PriceTable(data["version"], models, data.get("aliases"))
