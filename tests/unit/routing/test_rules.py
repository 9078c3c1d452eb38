"""Routing decisions as a table: (caller, headers, body) -> (model group, max_tokens, refusal, rule trail).

Plus the pieces around the table: residency sets, ``auto`` tiers with a stub classifier and the
context-window move-up, sticky A/B assignment, and start-up validation of the ``routing`` section.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from bastion.config_loader import ConfigError, load_config_text
from bastion.context import RequestContext
from bastion.errors import NotFound, PermissionDenied
from bastion.identity.principal import Principal
from bastion.providers.base import ChatRequest
from bastion.providers.registry import build_providers
from bastion.routing.router import Router
from bastion.routing.splits import SplitAlias, sticky_point
from bastion.routing.stage import RoutingStage

CONFIG = """
providers:
  us-cloud: {type: simulator, region: us}
  eu-cloud: {type: simulator, region: eu}
  eu-backup: {type: simulator, region: eu}
  basement: {type: simulator, on_premise: true, region: eu}
models:
  gpt-4o-mini: {provider: us-cloud, model: mini}
  gpt-4o:
    deployments:
      - {provider: us-cloud, model: big}
      - {provider: eu-cloud, model: big-eu}
  claude-haiku: {provider: eu-cloud, model: haiku}
  vision: {provider: us-cloud, model: vision}
  long: {provider: eu-backup, model: long, context_window: 200000}
  small-window: {provider: us-cloud, model: tiny, context_window: 100}
  local: {provider: basement, model: llama}
routing:
  rules:
    - name: block-tools-for-trial
      match: {team: trial, has_tools: true}
      reject: "tools are not available on the trial plan"
    - name: eu-data-stays-in-eu
      match: {team: eu-sales}
      require: {region: eu}
    - name: pii-stays-on-premise
      match: {sensitive: pii}
      require: {on_premise: true}
    - name: cap-autocomplete
      match: {feature: autocomplete}
      set: {max_tokens: 256}
    - name: cheap-summaries
      match: {feature: summarise}
      model: gpt-4o-mini
    - name: images-to-vision
      match: {has_images: true}
      model: vision
    - name: long-prompts
      match: {min_prompt_tokens: 1000}
      model: long
    - name: gold-metadata
      match: {metadata: {tier: gold}}
      model: gpt-4o
    - name: free-plan-cap
      match: {key_metadata: {plan: free}}
      set: {max_tokens: 100}
    - name: streamed-big-cap
      match: {stream: true, model: gpt-4o}
      set: {max_tokens: 512}
    - name: bob-likes-haiku
      match: {user: bob}
      model: claude-haiku
    - name: vip-end-users
      match: {end_user: [vip-1, vip-2]}
      model: gpt-4o
    - name: eu-header
      match: {region: eu}
      require: {region: eu}
    - name: by-key-name
      match: {key: batch-key, max_prompt_tokens: 20}
      model: auto
  aliases:
    auto:
      tiers:
        - {name: small, model: gpt-4o-mini}
        - {name: medium, model: claude-haiku}
        - {name: premium, model: gpt-4o}
    chat-ab:
      variants:
        - {name: control, model: gpt-4o, weight: 90}
        - {name: candidate, model: claude-haiku, weight: 10}
"""


@dataclass
class StubDecision:
    tier: str
    score: float
    reason: str


class StubClassifier:
    """Scores by a keyword, so a test says which tier it wants."""

    def classify(self, body: dict[str, Any]) -> StubDecision:
        text = str(body["messages"][-1]["content"])
        if "prove" in text:
            return StubDecision("premium", 0.9, "multi-step proof")
        if "explain" in text:
            return StubDecision("medium", 0.5, "explanation")
        return StubDecision("small", 0.1, "short chat")


def make_stage(config_text: str = CONFIG) -> RoutingStage:
    config = load_config_text(config_text)
    router = Router(config, build_providers(config))
    return RoutingStage(config, router, classifier=StubClassifier())


@pytest.fixture(scope="module")
def stage() -> RoutingStage:
    return make_stage()


def route(
    stage: RoutingStage,
    *,
    model: str = "gpt-4o",
    content: Any = "hi",
    team: str | None = None,
    user: str | None = None,
    key: str = "key_1",
    key_name: str = "",
    key_metadata: dict[str, Any] | None = None,
    feature: str | None = None,
    end_user: str | None = None,
    region: str | None = None,
    sensitive: set[str] | None = None,
    stream: bool = False,
    **body: Any,
) -> tuple[RequestContext, dict[str, Any], str]:
    principal = Principal(key_id=key, name=key_name, user_id=user, team_id=team, metadata=key_metadata or {})
    ctx = RequestContext(request_id="req", ingress="openai", principal=principal)
    ctx.feature, ctx.end_user, ctx.stream = feature, end_user, stream
    ctx.sensitive = sensitive or set()
    request_body = {"model": model, "messages": [{"role": "user", "content": content}], **body}
    group = stage.route(ctx, ChatRequest(request_body, model, stream), region)
    return ctx, request_body, group.name


EU = frozenset({"eu-cloud", "eu-backup", "basement"})
IMAGE = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:x"}}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {}}}]

# id, request, expected group, expected max_tokens in the body, rule trail, allowed providers (None: any)
TABLE: list[tuple[str, dict[str, Any], str, int | None, str | None, frozenset[str] | None]] = [
    ("no rule matches", {}, "gpt-4o", None, None, None),
    (
        "feature routes to a cheaper group",
        {"feature": "summarise"},
        "gpt-4o-mini",
        None,
        "cheap-summaries",
        None,
    ),
    ("feature caps max_tokens", {"feature": "autocomplete"}, "gpt-4o", 256, "cap-autocomplete", None),
    (
        "cap keeps the client's smaller max_tokens",
        {"feature": "autocomplete", "max_tokens": 50},
        "gpt-4o",
        50,
        "cap-autocomplete",
        None,
    ),
    (
        "cap lowers a larger max_tokens",
        {"feature": "autocomplete", "max_tokens": 4000},
        "gpt-4o",
        256,
        "cap-autocomplete",
        None,
    ),
    ("team requires the EU", {"team": "eu-sales"}, "gpt-4o", None, "eu-data-stays-in-eu", EU),
    (
        "PII flag requires on premise",
        {"sensitive": {"pii"}},
        "gpt-4o",
        None,
        "pii-stays-on-premise",
        frozenset({"basement"}),
    ),
    (
        "EU team with PII: both hold",
        {"team": "eu-sales", "sensitive": {"pii"}},
        "gpt-4o",
        None,
        "eu-data-stays-in-eu,pii-stays-on-premise",
        frozenset({"basement"}),
    ),
    ("other flags do not match", {"sensitive": {"secrets"}}, "gpt-4o", None, None, None),
    ("images go to the vision group", {"content": IMAGE}, "vision", None, "images-to-vision", None),
    ("long prompt", {"content": "word " * 1200}, "long", None, "long-prompts", None),
    (
        "request metadata",
        {"metadata": {"tier": "gold"}, "model": "gpt-4o-mini"},
        "gpt-4o",
        None,
        "gold-metadata",
        None,
    ),
    ("other metadata value", {"metadata": {"tier": "silver"}}, "gpt-4o", None, None, None),
    ("key metadata caps", {"key_metadata": {"plan": "free"}}, "gpt-4o", 100, "free-plan-cap", None),
    ("stream on gpt-4o caps", {"stream": True}, "gpt-4o", 512, "streamed-big-cap", None),
    (
        "stream on another model does not",
        {"stream": True, "model": "claude-haiku"},
        "claude-haiku",
        None,
        None,
        None,
    ),
    ("user", {"user": "bob"}, "claude-haiku", None, "bob-likes-haiku", None),
    (
        "end user in a list",
        {"end_user": "vip-2", "model": "gpt-4o-mini"},
        "gpt-4o",
        None,
        "vip-end-users",
        None,
    ),
    (
        "end user not in the list",
        {"end_user": "vip-3", "model": "gpt-4o-mini"},
        "gpt-4o-mini",
        None,
        None,
        None,
    ),
    ("region header", {"region": "eu"}, "gpt-4o", None, "eu-header", EU),
    (
        "first model wins, caps still add up",
        {"feature": "summarise", "user": "bob", "key_metadata": {"plan": "free"}},
        "gpt-4o-mini",
        100,
        "cheap-summaries,free-plan-cap,bob-likes-haiku",
        None,
    ),
    (
        "smallest cap wins",
        {"feature": "autocomplete", "key_metadata": {"plan": "free"}, "stream": True},
        "gpt-4o",
        100,
        "cap-autocomplete,free-plan-cap,streamed-big-cap",
        None,
    ),
    ("trial team without tools", {"team": "trial"}, "gpt-4o", None, None, None),
    (
        "rule routes to an alias",
        {"key_name": "batch-key", "content": "prove it"},
        "gpt-4o",
        None,
        "by-key-name,auto",
        None,
    ),
    (
        "key rule limited by prompt size",
        {"key_name": "batch-key", "content": "x" * 200},
        "gpt-4o",
        None,
        None,
        None,
    ),
    ("auto small", {"model": "auto"}, "gpt-4o-mini", None, "auto", None),
    ("auto medium", {"model": "auto", "content": "explain this"}, "claude-haiku", None, "auto", None),
    ("auto premium", {"model": "auto", "content": "prove that"}, "gpt-4o", None, "auto", None),
    ("A/B split", {"model": "chat-ab", "end_user": "u-1"}, "", None, "chat-ab", None),
]


@pytest.mark.parametrize(
    ("case", "request_", "group", "max_tokens", "trail", "allowed"), TABLE, ids=[r[0] for r in TABLE]
)
def test_routing_decision_table(
    stage: RoutingStage,
    case: str,
    request_: dict[str, Any],
    group: str,
    max_tokens: int | None,
    trail: str | None,
    allowed: frozenset[str] | None,
) -> None:
    ctx, body, chosen = route(stage, **request_)
    if group:
        assert chosen == group
    else:
        assert chosen in ("gpt-4o", "claude-haiku")
    assert ctx.model == chosen
    assert body.get("max_tokens") == max_tokens
    assert ctx.route_rule == trail
    assert (ctx.route_reason is None) == (trail is None)
    assert (ctx.residency.allowed if ctx.residency else None) == allowed


def test_reject_stops_with_403_and_names_the_rule(stage: RoutingStage) -> None:
    with pytest.raises(PermissionDenied) as caught:
        route(stage, team="trial", tools=TOOLS)
    assert caught.value.status == 403
    assert caught.value.code == "rejected_by_rule"
    assert caught.value.message == "tools are not available on the trial plan"


def test_reject_sets_the_route_headers(stage: RoutingStage) -> None:
    principal = Principal(key_id="k", team_id="trial")
    ctx = RequestContext(request_id="r", ingress="openai", principal=principal)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
    with pytest.raises(PermissionDenied):
        stage.route(ctx, ChatRequest(body, "gpt-4o", False))
    headers = dict(ctx.response_headers())
    assert headers[b"x-bastion-route"] == b"block-tools-for-trial"
    assert b"rejected" in headers[b"x-bastion-route-reason"]


def test_max_completion_tokens_is_the_field_capped_when_the_client_used_it(stage: RoutingStage) -> None:
    _, body, _ = route(stage, feature="autocomplete", max_completion_tokens=999)
    assert body["max_completion_tokens"] == 256
    assert "max_tokens" not in body


def test_unknown_model_is_still_404(stage: RoutingStage) -> None:
    with pytest.raises(NotFound):
        route(stage, model="nope")


def test_contradictory_residency_rules_refuse_the_request() -> None:
    text = CONFIG.replace(
        "    - name: eu-header\n      match: {region: eu}\n      require: {region: eu}",
        "    - name: us-header\n      match: {region: us}\n      require: {region: us}",
    )
    stage = make_stage(text)
    with pytest.raises(PermissionDenied) as caught:
        route(stage, team="eu-sales", region="us")
    assert caught.value.code == "residency_unsatisfiable"
    assert "eu-data-stays-in-eu" in caught.value.message and "us-header" in caught.value.message


def test_route_reason_says_what_matched(stage: RoutingStage) -> None:
    ctx, _, _ = route(stage, feature="summarise")
    assert ctx.route_reason == "rule cheap-summaries (feature=summarise): model gpt-4o-mini"
    ctx, _, _ = route(stage, model="auto", content="explain this")
    assert ctx.route_reason == "tier medium: explanation (score 0.50)"
    headers = dict(ctx.response_headers())
    assert headers[b"x-bastion-route"] == b"auto"
    assert headers[b"x-bastion-route-reason"] == b"tier medium: explanation (score 0.50)"


# ------------------------------------------------------------------ tiers and context windows

TIERED = """
providers:
  cloud: {type: simulator}
  eu: {type: simulator, region: eu}
models:
  mini: {provider: cloud, model: mini, context_window: 1000}
  mid: {provider: cloud, model: mid, context_window: 8000}
  mid-eu: {provider: eu, model: mid}
  big: {provider: cloud, model: big, context_window: 128000}
routing:
  rules:
    - {name: eu, match: {team: eu}, require: {region: eu}}
  aliases:
    auto:
      tiers: [{name: small, model: mini}, {name: medium, model: mid}, {name: premium, model: big}]
    auto-eu:
      tiers: [{name: small, model: mini}, {name: medium, model: mid-eu}, {name: premium, model: big}]
    scored:
      thresholds: [0.3, 0.6]
      tiers: [{name: a, model: mini}, {name: b, model: mid}, {name: c, model: big}]
"""


def test_a_tier_too_small_for_the_request_moves_up_to_one_that_fits() -> None:
    stage = make_stage(TIERED)
    ctx, _, group = route(stage, model="auto", content="x" * 8000)  # ~2000 tokens: over mini's 1000
    assert group == "mid"
    assert ctx.route_reason is not None
    assert "tier small" in ctx.route_reason
    assert "moved up from small to medium (~2004 tokens exceed its context window)" in ctx.route_reason

    ctx, _, group = route(stage, model="auto", content="x" * 400, max_tokens=7950)  # prompt + output
    assert group == "big"

    ctx, _, group = route(stage, model="auto", content="x" * 40)
    assert group == "mini"
    assert "moved up" not in (ctx.route_reason or "")


def test_nothing_fits_keeps_the_chosen_tier_for_the_executor_to_refuse() -> None:
    stage = make_stage(TIERED)
    _, _, group = route(stage, model="auto", content="x" * 800_000)
    assert group == "mini"


def test_tiers_without_an_allowed_deployment_are_passed_over() -> None:
    stage = make_stage(TIERED)
    ctx, _, group = route(stage, model="auto-eu", team="eu", content="hi")
    assert group == "mid-eu"
    assert "no deployment allowed by residency" in (ctx.route_reason or "")


def test_configured_thresholds_map_the_score() -> None:
    stage = make_stage(TIERED)
    assert route(stage, model="scored", content="hi")[2] == "mini"  # 0.1
    assert route(stage, model="scored", content="explain")[2] == "mid"  # 0.5
    assert route(stage, model="scored", content="prove")[2] == "big"  # 0.9


def test_tiers_work_without_the_complexity_module() -> None:
    from bastion.routing.tiers import LengthClassifier

    decision = LengthClassifier().classify({"messages": [{"role": "user", "content": "hi"}]})
    assert decision.tier == "small"
    assert 0 <= decision.score < 0.35


# ------------------------------------------------------------------ A/B splits


def test_split_is_sticky_per_end_user_and_follows_the_weights(stage: RoutingStage) -> None:
    first = {route(stage, model="chat-ab", end_user="alice", team="t")[0].variant for _ in range(50)}
    assert len(first) == 1
    counts = {"control": 0, "candidate": 0}
    for index in range(2000):
        ctx, _, group = route(stage, model="chat-ab", end_user=f"user-{index}", team="t")
        assert ctx.variant is not None
        counts[ctx.variant] += 1
        assert group == ("gpt-4o" if ctx.variant == "control" else "claude-haiku")
    # 10% of 2000 = 200, sigma ~13.4
    assert 150 <= counts["candidate"] <= 250, counts
    ctx, _, _ = route(stage, model="chat-ab", end_user="alice", team="t")
    assert ctx.route_rule == "chat-ab"
    assert ctx.route_reason is not None and "sticky per end user" in ctx.route_reason
    assert dict(ctx.response_headers())[b"x-bastion-variant"] == ctx.variant.encode()  # type: ignore[union-attr]


def test_the_tenant_is_part_of_the_assignment() -> None:
    points = {sticky_point("chat-ab", tenant, "alice") for tenant in ("team-a", "team-b", "team-c")}
    assert len(points) == 3
    assert sticky_point("chat-ab", "team-a", "alice") == sticky_point("chat-ab", "team-a", "alice")


def test_requests_without_an_end_user_are_assigned_at_random() -> None:
    config = load_config_text(CONFIG)
    split = SplitAlias("chat-ab", config.routing.aliases["chat-ab"], rng=random.Random(3))
    ctx = RequestContext(request_id="r", ingress="openai", principal=Principal(key_id="k"))
    variants = {split.choose(ctx).variant for _ in range(200)}
    assert variants == {"control", "candidate"}


# ------------------------------------------------------------------ start-up validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("model: gpt-4o-mini\n    - name: images", "model: nope\n    - name: images"),
            "neither a chat group",
        ),
        (
            ("require: {region: eu}\n    - name: pii", "require: {region: mars}\n    - name: pii"),
            "no provider has region 'mars'",
        ),
        (("name: cap-autocomplete", "name: cheap-summaries"), "used twice"),
        (("name: eu-header", "name: auto"), "used twice"),
        (("    chat-ab:\n", "    gpt-4o:\n"), "shadows the model group"),
        (("{name: candidate, model: claude-haiku", "{name: candidate, model: nothing"), "not a chat group"),
        (("set: {max_tokens: 256}", "set: {max_tokens: 0}"), "greater than or equal to 1"),
        (
            ('reject: "tools are not available on the trial plan"', "model: gpt-4o\n      reject: nope"),
            "cannot be combined",
        ),
        (("match: {feature: autocomplete}", "match: {feature: autocomplete, colour: red}"), "unknown key"),
        (
            ("{name: premium, model: gpt-4o}", "{name: premium, model: gpt-4o}\n      thresholds: [0.5]"),
            "3 tiers need 2",
        ),
        (
            (
                "{name: candidate, model: claude-haiku, weight: 10}",
                "{name: control, model: claude-haiku, weight: 10}",
            ),
            "unique",
        ),
    ],
)
def test_bad_routing_config_is_refused_at_start_up(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in CONFIG
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG.replace(old, new, 1))
    assert message in str(caught.value), str(caught.value)


def test_on_premise_requirement_needs_an_on_premise_provider() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(
            CONFIG.replace(
                "basement: {type: simulator, on_premise: true, region: eu}",
                "basement: {type: simulator, region: eu}",
            )
        )
    assert "no provider is marked on_premise" in str(caught.value)


def test_no_rules_and_no_aliases_means_no_stage() -> None:
    config = load_config_text("providers:\n  p: {type: simulator}\nmodels:\n  m: {provider: p, model: x}\n")
    assert RoutingStage.build(config, Router(config, build_providers(config))) is None
