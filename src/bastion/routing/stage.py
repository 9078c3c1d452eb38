"""The routing stage: rules, aliases (``auto`` tiers, A/B splits) and residency, before admission.

Per chat request, after validation and before admission and the cache:
  1. every rule whose ``match`` holds applies, in order: ``reject`` refuses at once (403);
     the first ``model`` wins; the smallest ``set.max_tokens`` caps the request; every
     ``require`` must hold (the providers allowed are the intersection);
  2. the model name (the client's, or a rule's) may be an alias: tiers ask the complexity
     classifier and move up past tiers whose context window is too small; variants pick an
     A/B arm sticky per end user;
  3. the result is the model group to admit, cache and execute, and on ``ctx``: ``residency``
     (the executor honours it on every attempt and fallback), ``route_rule`` (the rules, then
     the alias, that decided: ``x-bastion-route``), ``route_reason`` and ``variant``.
With no rules and no aliases the gateway does not build this stage at all.
"""

from __future__ import annotations

from typing import Any

from bastion.config import BastionConfig
from bastion.context import RequestContext
from bastion.errors import PermissionDenied
from bastion.providers.base import ChatRequest
from bastion.routing.residency import combine, describe, providers_satisfying
from bastion.routing.router import ModelGroup, Router
from bastion.routing.rules import CompiledRule, RequestFacts, compile_rule
from bastion.routing.splits import SplitAlias
from bastion.routing.tiers import Classifier, TierAlias, fits


class RoutingStage:
    def __init__(self, config: BastionConfig, router: Router, classifier: Classifier | None = None) -> None:
        self.router = router
        routing = config.routing
        self.rules: list[CompiledRule] = []
        for rule in routing.rules:
            residency = None
            if rule.require is not None:
                allowed = providers_satisfying(rule.require, config.providers)
                residency = (describe(rule.require), allowed)
            self.rules.append(compile_rule(rule, residency))
        self.aliases: dict[str, TierAlias | SplitAlias] = {}
        for name, alias in routing.aliases.items():
            if alias.tiers is not None:
                self.aliases[name] = TierAlias(name, alias, router.groups, classifier)
            else:
                self.aliases[name] = SplitAlias(name, alias)

    @classmethod
    def build(cls, config: BastionConfig, router: Router) -> RoutingStage | None:
        """The stage, or None when nothing is configured (then routing costs nothing)."""
        if not config.routing.rules and not config.routing.aliases:
            return None
        return cls(config, router)

    def route(self, ctx: RequestContext, request: ChatRequest, region: str | None = None) -> ModelGroup:
        """The model group that serves this request; sets the route decision on ``ctx`` (may raise 403)."""
        body = request.body
        name = request.model
        trail: list[str] = []
        reasons: list[str] = []
        cap: int | None = None
        residency: list[tuple[str, str, frozenset[str]]] = []
        chosen = False
        if self.rules:
            facts = RequestFacts(ctx, body, name, region)
            for rule in self.rules:
                if not rule.matches(facts):
                    continue
                trail.append(rule.name)
                if rule.reject is not None:
                    ctx.route_rule = ",".join(trail)
                    ctx.route_reason = f"rule {rule.name} ({rule.conditions}): rejected"
                    raise PermissionDenied(rule.reject, code="rejected_by_rule")
                what = []
                if rule.model is not None and not chosen:
                    chosen = True
                    name = rule.model
                    what.append(f"model {rule.model}")
                if rule.max_tokens is not None:
                    cap = rule.max_tokens if cap is None else min(cap, rule.max_tokens)
                    what.append(f"max_tokens <= {rule.max_tokens}")
                if rule.residency is not None:
                    residency.append((rule.name, *rule.residency))
                    what.append(f"requires {rule.residency[0]}")
                reasons.append(f"rule {rule.name} ({rule.conditions}): {', '.join(what) or 'no change'}")
            if residency:
                earlier = ctx.residency  # a guard's (PII kept on premise) holds as well
                if earlier is not None:
                    residency.insert(0, (",".join(earlier.rules), earlier.requirement, earlier.allowed))
                ctx.residency = combine(residency)
            if cap is not None:
                _cap_output(body, cap)
        alias = self.aliases.get(name)
        if alias is not None:
            trail.append(alias.name)
            if isinstance(alias, SplitAlias):
                residency = ctx.residency
                usable = None
                if residency is not None:
                    groups = self.router.groups

                    def usable(group: str) -> bool:
                        return group in groups and fits(groups[group], 0, residency)

                split = alias.choose(ctx, usable)
                ctx.variant = split.variant
                name, reason = split.group, split.reason
            else:
                tier = alias.choose(body, ctx.residency)
                name, reason = tier.group, tier.reason
            reasons.append(reason)
        group = self.router.resolve(name, "chat")
        if trail:
            ctx.route_rule = ",".join(trail)
            ctx.route_reason = "; ".join(reasons)
        ctx.model = group.name
        return group


def _cap_output(body: dict[str, Any], cap: int) -> None:
    """The smaller of the client's output limit and ``cap`` (set when the client gave none)."""
    field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    current = body.get(field)
    if not isinstance(current, int) or isinstance(current, bool) or current > cap:
        body[field] = cap
