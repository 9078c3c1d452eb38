"""What outlives a config reload: storage, limit counters, the ledger queue, the key cache and the cache.

A reload builds a new ``Gateway`` (providers, routes, limits) but keeps these: reconnecting
to the database or dropping counters because a model was added would lose state. Changing
where state lives (storage URL, limits backend) therefore needs a restart, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field

from bastion.accounting.ledger import BatchWriter
from bastion.accounting.tokens import TokenCounter
from bastion.audit.retention import Retention
from bastion.audit.signing import AuditKeyError
from bastion.audit.writer import AuditLog
from bastion.cache.state import CacheState
from bastion.config import BastionConfig
from bastion.config_loader import ConfigError
from bastion.identity.cache import IdentityCache
from bastion.limits.alerts import BudgetAlerts
from bastion.limits.checks import Counters
from bastion.limits.errors import CountersUnavailable
from bastion.limits.memory import MemoryCounters
from bastion.limits.spec import PERIODS, LimitSpec, period_window
from bastion.store.base import Store
from bastion.store.factory import open_store
from bastion.store.records import LedgerRow

log = logging.getLogger("bastion")

#: how often each replica makes the ledger's partitions ahead (PostgreSQL), and how many days ahead
PARTITION_INTERVAL_SECONDS = 3600.0
PARTITION_DAYS_AHEAD = 7

#: ledger columns that hold each budget scope's id
_SCOPE_COLUMNS = {
    "key": "key_id",
    "user": "user_id",
    "team": "team_id",
    "feature": "feature",
    "model": "model",
}


@dataclass(eq=False)
class Services:
    store: Store
    counters: Counters
    fallback: MemoryCounters | None
    ledger: BatchWriter[LedgerRow] | None
    identities: IdentityCache
    alerts: BudgetAlerts
    tokens: TokenCounter
    cache: CacheState
    state_settings: tuple[object, ...]  # what a reload cannot change
    audit: AuditLog | None = None  # None when audit.enabled is false
    retention: Retention | None = None  # None when no retention period is set
    started: bool = False
    closed: bool = False
    _config: BastionConfig | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _partitions: asyncio.Task[None] | None = None  # makes ledger partitions ahead
    _extra: list[object] = field(default_factory=list)

    @classmethod
    def build(cls, config: BastionConfig) -> Services:
        storage, limits = config.storage, config.limits
        store = open_store(
            storage.url, pool_max_size=storage.pool_max_size, pool_min_size=storage.pool_min_size
        )
        counters: Counters
        fallback: MemoryCounters | None = None
        if limits.backend == "redis":
            from bastion.limits.redis import RedisCounters

            assert limits.redis_url is not None
            counters = RedisCounters(limits.redis_url)
            if limits.on_backend_error == "fail_open":
                fallback = MemoryCounters()
        else:
            counters = MemoryCounters()
        ledger = None
        if storage.ledger:
            ledger = BatchWriter(
                store.write_ledger,
                name="ledger",
                flush_interval=storage.ledger_flush_ms / 1000,
                batch_size=storage.ledger_batch_size,
                max_queue=storage.ledger_max_queue,
                probe=store.schema_version,  # tells "database away" from "rows refused"
            )
        identities = IdentityCache(
            store, config.server.api_keys, limits.keys, refresh_seconds=limits.identity_refresh_seconds
        )
        alerts = BudgetAlerts(limits.alerts.thresholds, limits.alerts.webhook_url)
        audit, retention = _audit(config, store)
        return cls(
            audit=audit,
            retention=retention,
            store=store,
            counters=counters,
            fallback=fallback,
            ledger=ledger,
            identities=identities,
            alerts=alerts,
            tokens=TokenCounter(),
            cache=CacheState(config.cache),
            state_settings=cls.settings_of(config),
        )

    @staticmethod
    def settings_of(config: BastionConfig) -> tuple[object, ...]:
        storage, limits = config.storage, config.limits
        return (
            storage.url,
            storage.pool_min_size,
            storage.pool_max_size,
            storage.ledger,
            limits.backend,
            limits.redis_url,
            config.audit,
        )

    def adopt(self, config: BastionConfig) -> None:
        """Take what a reload may change (static keys, default key limits); warn about what it may not."""
        if self.settings_of(config) != self.state_settings:
            log.warning("storage, limits backend or audit settings changed: they take effect after a restart")
        self.identities.reconfigure(config.server.api_keys, config.limits.keys)
        self._config = config
        self.reseed_budgets()  # a reload may add budgets mid-period
        if CacheState.settings_of(config.cache) != self.cache.settings:
            log.warning("cache backend and size settings changed: they take effect after a restart")

    async def start(self, config: BastionConfig) -> None:
        if self.started:
            return
        self.started = True
        await self.store.open()
        await self.identities.load()
        await self.cache.start(config.cache.mode != "off")
        try:
            await self.counters.start()
        except CountersUnavailable as error:
            # serve anyway: each request then fails open or closed as configured, and Redis is retried
            log.error("limits backend unreachable at start-up: %s", error)
        if self.ledger is not None:
            self.ledger.start()
            self._partitions = asyncio.create_task(self._make_partitions(), name="ledger-partitions")
        if self.audit is not None:
            self.audit.start()
        if self.retention is not None:
            self.retention.start()
        self.identities.start()
        self._config = config
        await self._seed_budgets(config)
        self.identities.on_change = self.reseed_budgets
        if self._limits_in_use(config):
            # the tokenizer's vocabulary takes ~0.2 s to load: not on the first limited request
            await asyncio.to_thread(self.tokens.load)

    def reseed_budgets(self) -> None:
        """Seed budget counters again in the background (set-if-absent: live counters are kept).

        A budget created or changed mid-period (admin API, CLI, reload) then starts from what the
        ledger says was spent this period, not from zero.
        """
        if not self.started or self.closed or self._config is None:
            return
        task = asyncio.create_task(self._seed_budgets(self._config))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _limits_in_use(self, config: BastionConfig) -> bool:
        limits = config.limits
        if not (limits.keys.empty and limits.end_users.empty) or limits.models or limits.features:
            return True
        return any(
            p.key_limits is not None or p.user_limits is not None or p.team_limits is not None
            for p in self.identities.principals.values()
        )

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.identities.close()
        if self._partitions is not None:
            self._partitions.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._partitions
        if self.ledger is not None:
            await self.ledger.close()
        if self.retention is not None:
            await self.retention.close()
        if self.audit is not None:
            await self.audit.close()
        await self.alerts.close()
        await self.counters.close()
        await self.cache.close()
        if self.fallback is not None:
            await self.fallback.close()
        await self.store.close()

    async def _make_partitions(self) -> None:
        """Keep a week of ledger partitions ahead (a no-op on SQLite), now and every hour or so.

        Every replica runs this; the store serialises them. A run that fails (database away, a
        table lock not granted in time) is retried next time: a week ahead leaves room, and rows
        of a day without its partition wait in the default one until it is made.
        """
        while True:
            try:
                await self.store.create_ledger_partitions(days_ahead=PARTITION_DAYS_AHEAD)
            except Exception as error:
                log.warning("could not make the ledger's partitions ahead (trying again later): %s", error)
            # jittered, so replicas started together do not all run at once
            await asyncio.sleep(PARTITION_INTERVAL_SECONDS * random.uniform(0.9, 1.1))

    async def _seed_budgets(self, config: BastionConfig) -> None:
        """Budget counters start from what the ledger says was spent this period (counters live in memory)."""
        holders: dict[str, dict[str, LimitSpec]] = {kind: {} for kind in _SCOPE_COLUMNS}
        for principal in self.identities.principals.values():
            if principal.key_limits is not None:
                holders["key"][principal.key_id] = principal.key_limits
            if principal.user_id and principal.user_limits is not None:
                holders["user"][principal.user_id] = principal.user_limits
            if principal.team_id and principal.team_limits is not None:
                holders["team"][principal.team_id] = principal.team_limits
        holders["feature"].update(config.limits.features)
        holders["model"].update(config.limits.models)
        try:
            await self._seed(holders)
            await self._seed_end_users(config.limits.end_users)
        except Exception as error:
            log.warning("could not seed budgets from the ledger (they count from zero): %s", error)

    async def _seed(self, holders: dict[str, dict[str, LimitSpec]]) -> None:
        now = time.time()
        for kind, specs in holders.items():
            for period in PERIODS:
                wanted = {
                    ident: spec
                    for ident, spec in specs.items()
                    if spec.budget is not None and getattr(spec.budget, period) is not None
                }
                if not wanted:
                    continue
                label, start, end = period_window(period, now)
                spent = await self.store.spend_since(_SCOPE_COLUMNS[kind], start)
                expires = end + 86_400.0 if end else 0.0
                for ident in wanted:
                    if spent.get(ident):
                        await self.counters.seed_budget(
                            f"{kind}:{ident}:usd:{period}:{label}", spent[ident], expires
                        )

    async def _seed_end_users(self, spec: LimitSpec) -> None:
        """End users are counted per tenant (team, else key): rebuild those sums from the ledger."""
        if spec.budget is None:
            return
        now = time.time()
        for period, _ in spec.budget.periods():
            label, start, end = period_window(period, now)
            rows = await self.store.usage_report(
                ["team_id", "key_id", "end_user"], start=start, limit=1_000_000
            )
            spent: dict[str, float] = {}
            for row in rows:
                if row.get("end_user") and row.get("cost_usd"):
                    tenant = row.get("team_id") or row.get("key_id") or "-"
                    ident = f"{tenant}/{row['end_user']}"
                    spent[ident] = spent.get(ident, 0.0) + float(row["cost_usd"])
            expires = end + 86_400.0 if end else 0.0
            for ident, usd in spent.items():
                await self.counters.seed_budget(f"end_user:{ident}:usd:{period}:{label}", usd, expires)


def _audit(config: BastionConfig, store: Store) -> tuple[AuditLog | None, Retention | None]:
    """The audit log (when enabled) and retention task (when a period is set); bad keys are config errors."""
    settings = config.audit
    try:
        audit = AuditLog.build(settings, store) if settings.enabled else None
    except AuditKeyError as error:
        raise ConfigError("config", [f"audit: {error}"]) from None
    retention = None
    if settings.retention.any:
        retention = Retention(settings.retention, store, audit.signer if audit else None, audit)
    return audit, retention
