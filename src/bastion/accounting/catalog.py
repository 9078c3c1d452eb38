"""Which price applies: per deployment (config override, then the shipped table) and per model group.

Resolved once when the gateway is built, so costing a request is a dict lookup. A group's
reservation is the dearest estimate among its deployments and fallbacks: what a budget
reserves must not be lower than what any deployment that may answer would charge.
"""

from __future__ import annotations

import logging

from bastion.accounting.pricing import ModelPrice, PriceTable, estimate_cost
from bastion.config import BastionConfig, PriceConfig

log = logging.getLogger("bastion.pricing")


def model_price(config: PriceConfig) -> ModelPrice:
    return ModelPrice(
        input=config.input,
        cached_input=config.cached_input,
        cache_write=config.cache_write,
        output=config.output,
        reasoning=config.reasoning,
        per_hour=config.per_hour,
        context_window=config.context_window,
    )


class PriceCatalog:
    def __init__(self, config: BastionConfig, table: PriceTable | None = None) -> None:
        base = table or PriceTable.builtin()
        self.table = base.with_overrides({name: model_price(p) for name, p in config.pricing.items()})
        self.version = self.table.version
        self.by_deployment: dict[tuple[str, str], ModelPrice | None] = {}
        self.unpriced: list[str] = []
        for group in config.models.values():
            for deployment in group.deployments:
                key = (deployment.provider, deployment.model)
                if key in self.by_deployment:
                    continue
                price = (
                    model_price(deployment.pricing)
                    if deployment.pricing
                    else self._lookup(config, deployment)
                )
                self.by_deployment[key] = price
                if price is None:
                    self.unpriced.append(f"{deployment.provider}/{deployment.model}")
        self.by_group = {name: self._group_price(config, name) for name in config.models}

    def _lookup(self, config: BastionConfig, deployment: object) -> ModelPrice | None:
        provider = config.providers[deployment.provider]  # type: ignore[attr-defined]
        if provider.type in ("simulator", "static"):
            return ModelPrice()  # built-in providers cost nothing, and are known to
        return self.table.lookup(deployment.model)  # type: ignore[attr-defined]

    def _group_price(self, config: BastionConfig, name: str) -> list[ModelPrice]:
        prices: list[ModelPrice] = []
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            group = config.models[current]
            for deployment in group.deployments:
                price = self.by_deployment.get((deployment.provider, deployment.model))
                if price is not None:
                    prices.append(price)
            pending.extend(group.fallbacks)
        return prices

    def for_answer(self, provider: str | None, upstream_model: str | None) -> ModelPrice | None:
        if provider is None or upstream_model is None:
            return None
        return self.by_deployment.get((provider, upstream_model))

    def reservation_usd(self, group: str, prompt_tokens: int, max_output_tokens: int) -> float:
        """The most this request could cost on any deployment that may answer it."""
        prices = self.by_group.get(group)
        if not prices:
            return 0.0
        return max(estimate_cost(prompt_tokens, max_output_tokens, price) for price in prices)
