"""Routing rules compiled from config: each ``match`` becomes a list of small predicates.

A rule's conditions all have to hold (a list of values means any of them). The request's
properties are read once into ``RequestFacts``; the estimated prompt size is only computed
when a rule asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.config import OneOrMore, RoutingRule, RuleMatch
from bastion.context import RequestContext
from bastion.routing.tokens import estimate_prompt_tokens


class RequestFacts:
    """What rules look at: the caller, the request's headers and the body's properties."""

    __slots__ = ("_prompt_tokens", "body", "ctx", "region", "requested")

    def __init__(self, ctx: RequestContext, body: dict[str, Any], requested: str, region: str | None) -> None:
        self.ctx = ctx
        self.body = body
        self.requested = requested
        self.region = region
        self._prompt_tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        if self._prompt_tokens is None:
            self._prompt_tokens = estimate_prompt_tokens(self.body)
        return self._prompt_tokens

    def principal_field(self, name: str) -> str | None:
        principal = self.ctx.principal
        return None if principal is None else getattr(principal, name)


Predicate = Callable[[RequestFacts], bool]


def _values(value: OneOrMore) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


def _in(values: frozenset[str], getter: Callable[[RequestFacts], str | None]) -> Predicate:
    return lambda facts: getter(facts) in values


def _key(values: frozenset[str]) -> Predicate:
    def matches(facts: RequestFacts) -> bool:
        principal = facts.ctx.principal
        return principal is not None and (principal.key_id in values or principal.name in values)

    return matches


def _mapping(wanted: dict[str, frozenset[str]], getter: Callable[[RequestFacts], Any]) -> Predicate:
    def matches(facts: RequestFacts) -> bool:
        source = getter(facts)
        if not isinstance(source, dict):
            return False
        return all(source.get(name) in values for name, values in wanted.items())

    return matches


def has_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) or bool(body.get("functions"))


def has_images(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image"):
                    return True
    return False


def compile_match(match: RuleMatch) -> list[Predicate]:
    """The predicates of one ``match`` block, cheapest first (an empty list matches everything)."""
    checks: list[Predicate] = []
    by_principal = (("user", "user_id"), ("team", "team_id"))
    for option, attribute in by_principal:
        value = getattr(match, option)
        if value is not None:
            checks.append(_in(_values(value), lambda f, a=attribute: f.principal_field(a)))
    if match.key is not None:
        checks.append(_key(_values(match.key)))
    if match.feature is not None:
        checks.append(_in(_values(match.feature), lambda f: f.ctx.feature))
    if match.end_user is not None:
        checks.append(_in(_values(match.end_user), lambda f: f.ctx.end_user))
    if match.model is not None:
        checks.append(_in(_values(match.model), lambda f: f.requested))
    if match.region is not None:
        checks.append(_in(_values(match.region), lambda f: f.region))
    if match.stream is not None:
        wanted_stream = match.stream
        checks.append(lambda f: f.ctx.stream is wanted_stream)
    if match.sensitive is not None:
        flags = _values(match.sensitive)
        checks.append(lambda f: not flags.isdisjoint(f.ctx.sensitive))
    if match.metadata:
        wanted = {k: _values(v) for k, v in match.metadata.items()}
        checks.append(_mapping(wanted, lambda f: f.body.get("metadata")))
    if match.key_metadata:
        wanted_key = {k: _values(v) for k, v in match.key_metadata.items()}
        checks.append(_mapping(wanted_key, lambda f: f.ctx.principal.metadata if f.ctx.principal else None))
    if match.has_tools is not None:
        wanted_tools = match.has_tools
        checks.append(lambda f: has_tools(f.body) is wanted_tools)
    if match.has_images is not None:
        wanted_images = match.has_images
        checks.append(lambda f: has_images(f.body) is wanted_images)
    if match.min_prompt_tokens is not None:
        low = match.min_prompt_tokens
        checks.append(lambda f: f.prompt_tokens >= low)
    if match.max_prompt_tokens is not None:
        high = match.max_prompt_tokens
        checks.append(lambda f: f.prompt_tokens <= high)
    return checks


@dataclass(slots=True)
class CompiledRule:
    name: str
    checks: list[Predicate]
    model: str | None = None
    max_tokens: int | None = None
    reject: str | None = None
    residency: tuple[str, frozenset[str]] | None = None  # (requirement text, allowed providers)
    conditions: str = ""  # the match block as text, for the route reason

    def matches(self, facts: RequestFacts) -> bool:
        return all(check(facts) for check in self.checks)


def describe_match(match: RuleMatch) -> str:
    """``team=eu-sales, has_tools=true``: the conditions set, for ``x-bastion-route-reason``."""
    parts = []
    for name, value in match.model_dump(exclude_defaults=True).items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = "|".join(map(str, value))
        parts.append(f"{name}={value}")
    return ", ".join(parts) or "every request"


def compile_rule(rule: RoutingRule, residency: tuple[str, frozenset[str]] | None) -> CompiledRule:
    return CompiledRule(
        name=rule.name,
        checks=compile_match(rule.match),
        model=rule.model,
        max_tokens=rule.set.max_tokens if rule.set is not None else None,
        reject=rule.reject,
        residency=residency,
        conditions=describe_match(rule.match),
    )
