"""Data residency: which providers a request may reach, as decided by routing rules.

A ``require`` action (``region: eu``, ``on_premise: true``) becomes the set of provider names
that satisfy it, worked out once at start-up. A request that matched several such rules may
only use providers in every set. The executor consults ``allows`` for every pick — first
attempt, retries, failover, hedges and fallback groups alike — so a request under a residency
rule can only fail closed, never leak to a provider outside it. The static last-resort reply is
local, so it stays allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bastion.config import ProviderPlacement, RuleRequire
from bastion.errors import PermissionDenied, ProviderError

#: no deployment of the model (or its fallbacks) satisfies the rule: a policy refusal (403)
UNSATISFIABLE = "residency_unsatisfiable"
#: deployments satisfy it, but every one of them failed: fail closed (503)
UNAVAILABLE = "residency_unavailable"


@dataclass(frozen=True, slots=True)
class Residency:
    """The providers a request may reach, and the rules that said so (for error messages)."""

    rules: tuple[str, ...]
    requirement: str  # "region eu, on premise"
    allowed: frozenset[str]

    def allows(self, provider: str) -> bool:
        return provider in self.allowed

    def unsatisfiable(self, group: str) -> ProviderError:
        return ProviderError(
            f"model {group}: no deployment satisfies routing rule {self._names()} ({self.requirement}); "
            "the request was not sent to any other provider",
            provider=group,
            status=403,
            kind="permission_error",
            code=UNSATISFIABLE,
        )

    def unavailable(self, last: ProviderError) -> ProviderError:
        return ProviderError(
            f"every deployment allowed by routing rule {self._names()} ({self.requirement}) failed; "
            f"the request was not sent to any other provider. Last error: {last.message}",
            provider=last.provider,
            status=503,
            kind="overloaded_error",
            code=UNAVAILABLE,
            retry_after_seconds=last.retry_after_seconds,
        )

    def _names(self) -> str:
        return ", ".join(repr(name) for name in self.rules)


def providers_satisfying(require: RuleRequire, providers: Mapping[str, ProviderPlacement]) -> frozenset[str]:
    """The providers a ``require`` action allows."""
    return frozenset(
        name
        for name, placement in providers.items()
        if (require.region is None or placement.region == require.region)
        and (not require.on_premise or placement.on_premise)
    )


def describe(require: RuleRequire) -> str:
    parts = []
    if require.region is not None:
        parts.append(f"region {require.region}")
    if require.on_premise:
        parts.append("on premise")
    return ", ".join(parts)


def combine(parts: Iterable[tuple[str, str, frozenset[str]]]) -> Residency:
    """One residency from every matched rule's (name, requirement, allowed providers): all must hold."""
    names: list[str] = []
    texts: list[str] = []
    allowed: frozenset[str] | None = None
    for name, text, providers in parts:
        names.append(name)
        if text not in texts:
            texts.append(text)
        allowed = providers if allowed is None else allowed & providers
    if allowed is None:
        raise ValueError("combine() needs at least one rule")
    if not allowed:
        raise PermissionDenied(
            f"routing rules {', '.join(map(repr, names))} require {' and '.join(texts)}: "
            "no provider satisfies all of them",
            code=UNSATISFIABLE,
        )
    return Residency(tuple(names), "; ".join(texts), allowed)
