"""Typed configuration: the YAML file's schema, ``${ENV}`` interpolation and strict validation.

Every section is a pydantic model with ``extra="forbid"`` so a misspelt key is an
error, not a silently ignored setting. Errors name the dotted path and the YAML
line it came from (``bastion.config_loader`` does the reading).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.audit.config import AuditConfig
from bastion.guards.config import GuardsConfig
from bastion.limits.spec import LimitSpec
from bastion.telemetry.config import TelemetryConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- server


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger bodies get 413")
    graceful_shutdown_seconds: float = Field(
        30.0, ge=0, description="in-flight streams get this long on SIGTERM"
    )
    api_keys: list[str] = Field(
        default_factory=list, description="static client keys (kept hashed in memory)"
    )
    admin_key: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    dev_mode: bool | None = Field(
        None, description="accept any bearer token; default: on when no keys are configured"
    )


# --------------------------------------------------------------------------- providers


class ProviderPlacement(Strict):
    """Where a provider runs, for data-residency rules (``routing.rules[].require``)."""

    on_premise: bool = Field(False, description="runs on infrastructure you control")
    region: str | None = Field(None, description="where requests are processed, e.g. eu, us")


class HttpProviderBase(ProviderPlacement):
    base_url: str | None = None
    api_key: str | None = Field(None, repr=False)
    api_key_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0, description="max silence between bytes from upstream")
    max_connections: int = Field(0, ge=0, description="0 = unlimited pooled connections")

    @model_validator(mode="after")
    def _one_key_source(self) -> HttpProviderBase:
        if self.api_key and self.api_key_file:
            raise ValueError("set api_key or api_key_file, not both")
        return self

    def resolved_api_key(self) -> str | None:
        """The key from ``api_key`` or the content of ``api_key_file`` (surrounding whitespace removed)."""
        if self.api_key_file:
            try:
                with open(self.api_key_file, encoding="utf-8") as handle:
                    return handle.read().strip() or None
            except OSError as exc:
                raise ValueError(
                    f"api_key_file {self.api_key_file}: cannot read it ({exc.strerror})"
                ) from None
        return self.api_key or None


OpenAIPreset = Literal[
    "openai",
    "azure",
    "vllm",
    "tgi",
    "ollama",
    "llamacpp",
    "groq",
    "together",
    "mistral",
    "deepseek",
    "openrouter",
    "fireworks",
]


class OpenAIProviderConfig(HttpProviderBase):
    type: Literal["openai"]
    preset: OpenAIPreset = "openai"
    api_version: str | None = Field(None, description="Azure OpenAI api-version query parameter")
    stream_usage: bool = Field(True, description="ask upstream for stream_options.include_usage")


class AnthropicProviderConfig(HttpProviderBase):
    type: Literal["anthropic"]
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(4096, ge=1, description="Anthropic requires max_tokens; used when absent")


class GeminiProviderConfig(HttpProviderBase):
    type: Literal["gemini"]


class OutageWindow(Strict):
    start_seconds: float = Field(ge=0, description="seconds after start-up")
    duration_seconds: float = Field(gt=0)
    status: int = Field(503, ge=400, le=599)


class SimulatorProviderConfig(ProviderPlacement):
    type: Literal["simulator"]
    ttft_ms: float = Field(0.0, ge=0, description="time to first token")
    tokens_per_second: float = Field(0.0, ge=0, description="0 = as fast as possible")
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=400, le=599)
    outages: list[OutageWindow] = Field(default_factory=list)
    outage_period_seconds: float | None = Field(None, gt=0, description="repeat outage windows every N s")
    seed: int = 0
    reply: str | None = Field(
        None, description="fixed reply text; default: deterministic text from the prompt"
    )
    max_reply_tokens: int = Field(48, ge=1)
    embedding_dimensions: int = Field(64, ge=1, le=4096)


class StaticProviderConfig(ProviderPlacement):
    type: Literal["static"]
    content: str = Field(description="the reply every request gets")
    finish_reason: Literal["stop", "length"] = "stop"


ProviderConfig = Annotated[
    OpenAIProviderConfig
    | AnthropicProviderConfig
    | GeminiProviderConfig
    | SimulatorProviderConfig
    | StaticProviderConfig,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- models


class PriceConfig(Strict):
    """USD per 1M tokens (or per GPU-hour for self-hosted capacity); unset rates fall back as documented."""

    input: float = Field(0.0, ge=0)
    cached_input: float | None = Field(None, ge=0, description="default: the input rate")
    cache_write: float | None = Field(None, ge=0, description="default: the input rate")
    output: float = Field(0.0, ge=0)
    reasoning: float | None = Field(None, ge=0, description="default: the output rate")
    per_hour: float = Field(0.0, ge=0, description="cost by time: USD per hour of request duration")
    context_window: int | None = Field(None, ge=1)


class DeploymentConfig(Strict):
    provider: str
    model: str = Field(description="the model name the provider knows")
    params: dict[str, Any] = Field(
        default_factory=dict, description="request defaults for this deployment (e.g. max_tokens)"
    )
    weight: float = Field(1.0, ge=0, description="share of traffic under the weighted strategy")
    context_window: int | None = Field(
        None, ge=1, description="prompt + max output tokens it accepts; larger requests skip it"
    )
    pricing: PriceConfig | None = Field(None, description="default: the shipped price table's entry")


class TimeoutsConfig(Strict):
    """Per-attempt time limits; ``ttft_seconds`` on a stream fails over before the client got a byte."""

    connect_seconds: float | None = Field(None, gt=0, description="default: the provider's connect_timeout")
    ttft_seconds: float | None = Field(None, gt=0, description="time to the first token (or whole answer)")
    idle_seconds: float | None = Field(None, gt=0, description="longest gap between stream chunks")
    total_seconds: float | None = Field(None, gt=0, description="whole attempt, first byte to last")


class RetryConfig(Strict):
    max_attempts: int = Field(3, ge=1, le=10, description="attempts per model group, the first included")
    backoff_base_ms: float = Field(50, ge=0)
    backoff_max_ms: float = Field(2000, ge=0)
    max_retry_after_seconds: float = Field(
        5.0, ge=0, description="a longer Retry-After fails over to another deployment instead of waiting"
    )


class BreakerConfig(Strict):
    enabled: bool = True
    consecutive_failures: int = Field(5, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1, description="volume in the window before error_rate applies")
    window_seconds: float = Field(30.0, gt=0)
    ttft_threshold_ms: float | None = Field(None, gt=0, description="open when the TTFT EWMA exceeds this")
    latency_threshold_ms: float | None = Field(
        None, gt=0, description="open when the latency EWMA exceeds this"
    )
    latency_factor: float | None = Field(
        None, gt=1, description="open when latency EWMA exceeds factor x the healthy baseline"
    )
    open_seconds: float = Field(15.0, gt=0, description="how long an open breaker rests before probing")
    half_open_probes: int = Field(1, ge=1, description="concurrent probe requests while half-open")
    when_all_open: Literal["least_recently_failed", "fail"] = Field(
        "least_recently_failed", description="what to do when every deployment of the group is open"
    )


class HedgeConfig(Strict):
    enabled: bool = False
    after_ms: float | Literal["p95"] = Field(
        "p95", description="send one hedge after this long without a first token (or the observed p95 TTFT)"
    )
    min_after_ms: float = Field(100, ge=0, description="floor for the p95-based delay")


Strategy = Literal["p2c", "priority", "weighted", "least_inflight", "lowest_latency"]

#: which requests the cache answers: only repeatable ones (temperature 0 or a seed, or opted in),
#: every request, or none
CacheMode = Literal["repeatable", "always", "off"]


class GroupCacheConfig(Strict):
    """A model group's cache settings; unset values inherit the top-level ``cache:`` section."""

    enabled: bool = True
    mode: CacheMode | None = Field(None, description="default: cache.mode")
    ttl_seconds: float | None = Field(None, gt=0, description="default: cache.default_ttl_seconds")
    shared: bool = Field(
        False, description="one cache for every caller of this group (default: one per team, or key)"
    )
    semantic: bool | None = Field(None, description="default: cache.semantic.enabled")


class ModelGroupConfig(Strict):
    """A public model name and the deployments that serve it, with how to choose and recover."""

    deployments: list[DeploymentConfig] = Field(min_length=1)
    kind: Literal["chat", "embeddings"] = "chat"
    strategy: Strategy = "p2c"
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    hedge: HedgeConfig = Field(default_factory=HedgeConfig)
    fallbacks: list[str] = Field(
        default_factory=list, description="model groups to try, in order, when this one fails"
    )
    content_policy_fallback: bool = Field(
        True, description="a refusal on policy grounds (content_filter) moves to the fallbacks"
    )
    static_reply: str | None = Field(
        None, description="last-resort answer when every deployment and fallback failed"
    )
    cache: GroupCacheConfig = Field(default_factory=GroupCacheConfig)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `name: {provider: p, model: m}` is a group of one deployment.
        keys = ("provider", "model", "params", "weight", "context_window", "pricing")
        if isinstance(value, dict) and "provider" in value and "deployments" not in value:
            deployment = {k: value[k] for k in keys if k in value}
            rest = {k: v for k, v in value.items() if k not in keys}
            return {"deployments": [deployment], **rest}
        return value


class RetryBudgetConfig(Strict):
    ratio: float = Field(0.2, ge=0, le=10, description="extra attempts allowed per client request")
    window_seconds: float = Field(10.0, gt=0)
    min_retries_per_second: float = Field(1.0, ge=0, description="floor so a quiet gateway can still retry")


#: a value a rule condition accepts: one, or any of a list
OneOrMore = str | list[str]
_RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class RuleMatch(Strict):
    """What a routing rule matches; every condition set must hold (a list means any of its values)."""

    key: OneOrMore | None = Field(None, description="key id or key name")
    user: OneOrMore | None = None
    team: OneOrMore | None = None
    feature: OneOrMore | None = Field(None, description="x-bastion-feature")
    end_user: OneOrMore | None = Field(None, description="OpenAI `user` / Anthropic metadata.user_id")
    model: OneOrMore | None = Field(None, description="the model name the client asked for")
    region: OneOrMore | None = Field(None, description="the x-bastion-region request header")
    sensitive: OneOrMore | None = Field(None, description="flags set by guards, e.g. pii")
    metadata: dict[str, OneOrMore] = Field(default_factory=dict, description="the request's metadata")
    key_metadata: dict[str, OneOrMore] = Field(default_factory=dict, description="the key's metadata")
    has_tools: bool | None = None
    has_images: bool | None = None
    stream: bool | None = None
    min_prompt_tokens: int | None = Field(None, ge=0, description="estimated prompt tokens at least")
    max_prompt_tokens: int | None = Field(None, ge=0, description="estimated prompt tokens at most")


class RuleRequire(Strict):
    """Data residency: only deployments whose provider satisfies this may serve (fallbacks included)."""

    region: str | None = None
    on_premise: bool = False

    @model_validator(mode="after")
    def _something(self) -> RuleRequire:
        if self.region is None and not self.on_premise:
            raise ValueError("require needs region or on_premise: true")
        return self


class RuleSet(Strict):
    max_tokens: int = Field(ge=1, description="cap: the smaller of the client's and this")


class RoutingRule(Strict):
    """One routing rule: when ``match`` holds, route (``model``), cap (``set``), restrict or refuse."""

    name: str = Field(pattern=_RULE_NAME)
    match: RuleMatch = Field(default_factory=RuleMatch, description="empty: every chat request")
    model: str | None = Field(None, description="the model group (or alias) to use instead")
    set: RuleSet | None = None
    require: RuleRequire | None = None
    reject: str | None = Field(None, min_length=1, description="refuse with 403 and this message")

    @model_validator(mode="after")
    def _actions(self) -> RoutingRule:
        actions = [n for n in ("model", "set", "require", "reject") if getattr(self, n) is not None]
        if not actions:
            raise ValueError(f"rule {self.name!r} has no action: set model, set, require or reject")
        if self.reject is not None and len(actions) > 1:
            raise ValueError(f"rule {self.name!r}: reject cannot be combined with {', '.join(actions[:-1])}")
        return self


class AliasTier(Strict):
    name: str = Field(pattern=_RULE_NAME)
    model: str


class AliasVariant(Strict):
    name: str = Field(pattern=_RULE_NAME)
    model: str
    weight: float = Field(gt=0, description="share of end users, relative to the other variants")


class RouteAlias(Strict):
    """A public model name that is not a group: complexity ``tiers`` or an A/B split (``variants``)."""

    tiers: list[AliasTier] | None = Field(None, min_length=2, description="cheapest first")
    thresholds: list[float] | None = Field(
        None, description="score boundaries between tiers (one fewer than tiers); default: the classifier's"
    )
    variants: list[AliasVariant] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _one_kind(self) -> RouteAlias:
        if (self.tiers is None) == (self.variants is None):
            raise ValueError("an alias has either tiers or variants")
        entries = self.tiers or self.variants or []
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ValueError("tier and variant names must be unique")
        if self.thresholds is not None:
            if self.tiers is None:
                raise ValueError("thresholds go with tiers")
            if len(self.thresholds) != len(self.tiers) - 1:
                raise ValueError(f"{len(self.tiers)} tiers need {len(self.tiers) - 1} thresholds")
            if any(not 0 < t < 1 for t in self.thresholds) or self.thresholds != sorted(set(self.thresholds)):
                raise ValueError("thresholds are increasing scores between 0 and 1")
        return self


class RoutingConfig(Strict):
    retry_budget: RetryBudgetConfig = Field(default_factory=RetryBudgetConfig)
    rules: list[RoutingRule] = Field(
        default_factory=list, description="evaluated in order for every chat request"
    )
    aliases: dict[str, RouteAlias] = Field(
        default_factory=dict, description="public model names resolved per request: tiers or A/B splits"
    )


# --------------------------------------------------------------------------- storage and limits


class StorageConfig(Strict):
    url: str = Field(
        "sqlite:///bastion.db",
        description="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host/db",
    )
    pool_min_size: int = Field(1, ge=0, le=200, description="PostgreSQL connections kept open per process")
    pool_max_size: int = Field(10, ge=1, le=200, description="PostgreSQL connections per process")
    ledger: bool = Field(True, description="write one usage row per request")
    ledger_flush_ms: float = Field(100, gt=0)
    ledger_batch_size: int = Field(1000, ge=1)
    ledger_max_queue: int = Field(
        100_000, ge=1, description="rows buffered while the database is away; past it rows are dropped"
    )

    @model_validator(mode="after")
    def _pool(self) -> StorageConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self


class AlertsConfig(Strict):
    thresholds: list[float] = Field(
        default_factory=lambda: [0.8, 1.0], description="fractions of a budget that raise an alert"
    )
    webhook_url: str | None = Field(None, description="POSTed a JSON event when a threshold is crossed")

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 10 for v in value):
            raise ValueError("thresholds are fractions of the budget, e.g. 0.8 for 80%")
        return sorted(set(value))


class LimitsConfig(Strict):
    """Where counters live and the limits that apply beyond each key's, user's and team's own."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = Field(None, description="redis://host:6379/0; required by backend: redis")
    on_backend_error: Literal["fail_open", "fail_closed"] = Field(
        "fail_open", description="Redis unreachable: fall back to per-process limits, or refuse (503)"
    )
    per_process: bool = Field(
        False,
        description="backend memory with `serve --workers N`: accept that each worker counts alone "
        "(every limit and budget up to N times looser); without it several workers refuse to start",
    )
    default_output_tokens: int = Field(
        1024, ge=0, description="tokens reserved for the answer when a request sets no max_tokens"
    )
    identity_refresh_seconds: float = Field(
        2.0, gt=0, le=300, description="how often keys, users and teams are re-read from storage"
    )
    keys: LimitSpec = Field(default_factory=LimitSpec, description="applies to every key without its own")
    end_users: LimitSpec = Field(
        default_factory=LimitSpec, description="per end user (OpenAI `user`, Anthropic metadata.user_id)"
    )
    models: dict[str, LimitSpec] = Field(default_factory=dict, description="per model group, all callers")
    features: dict[str, LimitSpec] = Field(
        default_factory=dict, description="per x-bastion-feature tag, all callers"
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @model_validator(mode="after")
    def _redis_url(self) -> LimitsConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend: redis needs redis_url")
        return self


# --------------------------------------------------------------------------- cache


class SemanticCacheConfig(Strict):
    enabled: bool = False
    embedder: str = Field(
        "local", description='"local" (bundled small model) or the name of an embeddings model group'
    )
    threshold: float | None = Field(
        None, gt=0, le=1, description="cosine similarity a match needs; default: the embedder's"
    )
    max_entries: int = Field(
        10_000, ge=1, description="vectors kept in the in-memory index (and in the Redis stream)"
    )
    refresh_ms: float = Field(
        200.0,
        ge=0,
        le=60_000,
        description="backend redis: a replica reads the others' new vectors at most this often",
    )


class CacheConfig(Strict):
    """The response cache: exact (memory or Redis), semantic, and request coalescing.

    The semantic index is in memory; with the Redis backend every replica's index mirrors the others'.
    """

    mode: CacheMode = Field("repeatable", description="off switches the whole stage off")
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = Field(None, description="redis://host:6379/0; required by backend: redis")
    redis_prefix: str = Field("bastion:cache:", description="prefix of every cache key in Redis")
    max_entries: int = Field(10_000, ge=1, description="memory backend: entries kept (LRU)")
    max_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="memory backend: bytes kept (LRU)")
    max_entry_bytes: int = Field(1024 * 1024, ge=256, description="larger answers are not stored")
    default_ttl_seconds: float = Field(3600.0, gt=0)
    max_ttl_seconds: float = Field(
        7 * 86_400.0, gt=0, description="the most a request's x-bastion-cache-ttl may ask for"
    )
    coalesce: bool = Field(True, description="identical requests in flight share one upstream call")
    semantic: SemanticCacheConfig = Field(default_factory=SemanticCacheConfig)

    @model_validator(mode="after")
    def _redis_url(self) -> CacheConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend: redis needs redis_url")
        return self


# --------------------------------------------------------------------------- root


class BastionConfig(Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelGroupConfig] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    pricing: dict[str, PriceConfig] = Field(
        default_factory=dict, description="per upstream model name: overrides the shipped price table"
    )

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"provider name {name!r} may only use letters, digits, '-', '_' and '.'")
        return value

    @model_validator(mode="after")
    def _references(self) -> BastionConfig:
        for group_name, group in self.models.items():
            for position, fallback in enumerate(group.fallbacks):
                target = self.models.get(fallback)
                if target is None or fallback == group_name:
                    raise ValueError(
                        f"models.{group_name}.fallbacks.{position}: {fallback!r} is not another model group"
                    )
                if target.kind != group.kind:
                    raise ValueError(
                        f"models.{group_name}.fallbacks.{position}: {fallback!r} is an {target.kind} group"
                    )
            for index, deployment in enumerate(group.deployments):
                if deployment.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f"models.{group_name}.deployments.{index}.provider: unknown provider "
                        f"{deployment.provider!r} (configured: {known})"
                    )
        for group_name in self.limits.models:
            if group_name not in self.models:
                raise ValueError(f"limits.models.{group_name}: not a configured model group")
        self._check_cache()
        self._check_routing()
        self._check_guards()
        return self

    def _check_guards(self) -> None:
        guards = self.guards
        sets = [("guards", guards), *((f"guards.overrides.{i}", o) for i, o in enumerate(guards.overrides))]
        for where, guard_set in sets:
            pii = guard_set.pii
            if (
                pii is not None
                and pii.mode == "on_premise"
                and not any(p.on_premise for p in self.providers.values())
            ):
                raise ValueError(f"{where}.pii.mode: on_premise, but no provider is marked on_premise: true")

    def _check_routing(self) -> None:
        routing = self.routing
        chat = {name for name, group in self.models.items() if group.kind == "chat"}
        for alias_name, alias in routing.aliases.items():
            where = f"routing.aliases.{alias_name}"
            if alias_name in self.models:
                raise ValueError(f"{where}: shadows the model group of the same name")
            for kind, entries in (("tiers", alias.tiers), ("variants", alias.variants)):
                for position, entry in enumerate(entries or ()):
                    if entry.model not in chat:
                        raise ValueError(
                            f"{where}.{kind}.{position}.model: {entry.model!r} is not a chat group"
                        )
        seen: set[str] = set()
        regions = {p.region for p in self.providers.values() if p.region}
        for position, rule in enumerate(routing.rules):
            where = f"routing.rules.{position}"
            if rule.name in seen or rule.name in routing.aliases:
                raise ValueError(
                    f"{where}.name: {rule.name!r} is used twice (rule and alias names are unique)"
                )
            seen.add(rule.name)
            if rule.model is not None and rule.model not in chat and rule.model not in routing.aliases:
                raise ValueError(f"{where}.model: {rule.model!r} is neither a chat group nor an alias")
            require = rule.require
            if require is not None and require.region is not None and require.region not in regions:
                known = ", ".join(sorted(regions)) or "none"
                raise ValueError(
                    f"{where}.require.region: no provider has region {require.region!r} (regions: {known})"
                )
            if (
                require is not None
                and require.on_premise
                and not any(p.on_premise for p in self.providers.values())
            ):
                raise ValueError(f"{where}.require.on_premise: no provider is marked on_premise: true")

    def _check_cache(self) -> None:
        semantic = self.cache.semantic
        wanted = semantic.enabled or any(g.cache.semantic for g in self.models.values())
        if not wanted or semantic.embedder == "local":
            return
        target = self.models.get(semantic.embedder)
        if target is None:
            raise ValueError(
                f"cache.semantic.embedder: {semantic.embedder!r} is neither 'local' nor a model group"
            )
        if target.kind != "embeddings":
            raise ValueError(
                f"cache.semantic.embedder: model group {semantic.embedder!r} is a {target.kind} group, "
                "not an embeddings group"
            )
