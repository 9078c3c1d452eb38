"""The assembled gateway: config, providers and the stages, built once at start-up (and on reload).

This is the one place the request chain is put together, so a reader can list it:
authenticate → read + validate → input guards (``guards``: prompt injection, PII masked /
redacted / refused / kept on premise, the canary) → route (``routing``: rules, ``auto`` tiers,
A/B splits, residency)
→ admission (rate limits, budgets: ``accounting.admit``) → cache (``cache``: exact, then semantic;
identical requests in flight share one upstream call) → execute (strategy, breakers, retries,
fallbacks, provider adapter; a JSON-schema check may re-ask once) → output guards (placeholders
restored, moderation, PII leaks, the canary, streams included) → respond → settle the
reservation and queue the ledger row (``accounting.finish``, after the response).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field

from bastion.accounting.catalog import PriceCatalog
from bastion.accounting.recorder import UsageRecorder
from bastion.api.auth import Authenticator
from bastion.cache.stage import CacheStage
from bastion.config import BastionConfig
from bastion.guards.stage import GuardStage
from bastion.limits.admission import Admission
from bastion.providers.base import Provider
from bastion.providers.registry import build_providers
from bastion.routing.executor import Executor
from bastion.routing.retry import RetryBudget
from bastion.routing.router import Router
from bastion.routing.stage import RoutingStage
from bastion.services import Services

log = logging.getLogger("bastion")


@dataclass(eq=False)
class Gateway:
    config: BastionConfig
    providers: dict[str, Provider]
    router: Router
    executor: Executor
    auth: Authenticator
    services: Services
    accounting: UsageRecorder
    max_body_bytes: int
    cache: CacheStage | None = None  # None when no model group caches anything
    routing: RoutingStage | None = None  # None when there are no routing rules or aliases
    guards: GuardStage | None = None  # None when every guard is off
    fresh_providers: set[str] = field(default_factory=set)  # built by this gateway, not handed over
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    active: int = 0  # requests in flight on this gateway (a replaced one closes when it reaches 0)

    @classmethod
    def from_config(cls, config: BastionConfig, previous: Gateway | None = None) -> Gateway:
        """Build every stage; ``previous`` hands over unchanged providers (their pools) and breaker state."""
        reused: dict[str, Provider] = {}
        if previous is not None:
            for name, provider_config in config.providers.items():
                if previous.config.providers.get(name) == provider_config:
                    reused[name] = previous.providers[name]
        providers = build_providers(config, reuse=reused)
        server = config.server
        # a reload shares the services; ``accept`` hands them the new config once it is taken
        services = previous.services if previous is not None else Services.build(config)
        router = Router(config, providers, previous=previous.router if previous else None)
        budget_config = config.routing.retry_budget
        budget = RetryBudget(
            ratio=budget_config.ratio,
            window_seconds=budget_config.window_seconds,
            min_retries_per_second=budget_config.min_retries_per_second,
        )
        gateway = cls(
            config=config,
            providers=providers,
            router=router,
            executor=Executor(router, budget),
            routing=RoutingStage.build(config, router),
            guards=GuardStage.build(config, previous.guards if previous is not None else None),
            auth=Authenticator(services.identities, server.dev_mode, server.admin_key),
            services=services,
            accounting=_recorder(config, services, providers),
            max_body_bytes=server.max_body_bytes,
            fresh_providers=set(providers) - set(reused),
        )
        gateway.cache = CacheStage.build(config, services.cache, gateway)
        return gateway

    def would_run_in_dev_mode(self) -> bool:
        """Whether this gateway, once accepted, would accept any token (decided before ``accept``)."""
        server = self.config.server
        if server.dev_mode is not None:
            return server.dev_mode
        return not (server.admin_key or server.api_keys or self.services.identities.keys)

    def accept(self) -> None:
        """Hand this config's keys and key defaults to the shared services (after a reload was accepted)."""
        self.services.adopt(self.config)

    async def start(self) -> None:
        await self.services.start(self.config)
        for name in self.fresh_providers:
            await self.providers[name].start()
        self.ready = True

    async def close(self) -> None:
        """Close every provider and the long-lived services (server shutdown)."""
        self.ready = False
        if self.cache is not None:
            await self.cache.close()
        for provider in self.providers.values():
            await provider.close()
        await self.services.close()

    async def retire(self, successor: Gateway) -> None:
        """Close the providers the successor did not take over (after a reload drained)."""
        self.ready = False
        kept = {id(p) for p in successor.providers.values()}
        for provider in self.providers.values():
            if id(provider) not in kept:
                await provider.close()


def _recorder(config: BastionConfig, services: Services, providers: dict[str, Provider]) -> UsageRecorder:
    limits = config.limits
    admission = Admission(
        end_users=limits.end_users,
        models=limits.models,
        features=limits.features,
        counters=services.counters,
        fallback=services.fallback,
        fail_closed=limits.on_backend_error == "fail_closed",
    )
    catalog = PriceCatalog(config)
    log.info("price table %s", catalog.version)
    if catalog.unpriced:
        log.warning(
            "no price known for %s: their requests cost $0 in the ledger and budgets (set pricing:)",
            ", ".join(catalog.unpriced),
        )
    families = {name: providers[group.deployments[0].provider].kind for name, group in config.models.items()}
    return UsageRecorder(
        admission=admission,
        alerts=services.alerts,
        catalog=catalog,
        tokens=services.tokens,
        ledger=services.ledger,
        default_output_tokens=limits.default_output_tokens,
        families=families,
        audit=services.audit,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
