"""A/B splits: an alias whose ``variants`` share traffic by weight, sticky per end user.

The variant is a pure function of (alias, tenant, end user): a keyed hash placed on the
cumulative weights. Every replica, and the same replica after a restart, assigns an end user
the same variant, with no state to share. The tenant (team, else key) is part of the hash so
two customers' users named ``alice`` are independent draws. A request without an end user is
assigned at random, each time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from bastion.config import RouteAlias
from bastion.context import RequestContext

_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class VariantChoice:
    group: str
    variant: str
    reason: str


class SplitAlias:
    def __init__(self, name: str, alias: RouteAlias, rng: random.Random | None = None) -> None:
        assert alias.variants is not None
        self.name = name
        self.variants = [(v.name, v.model) for v in alias.variants]
        total = sum(v.weight for v in alias.variants)
        self.shares = [v.weight / total for v in alias.variants]
        self.bounds: list[float] = []
        running = 0.0
        for share in self.shares:
            running += share
            self.bounds.append(running)
        self.rng = rng or random.Random()

    def choose(self, ctx: RequestContext, usable: Callable[[str], bool] | None = None) -> VariantChoice:
        """The variant for this request; ``usable`` (a residency check on the group) narrows the draw."""
        if ctx.end_user is not None:
            principal = ctx.principal
            tenant = "" if principal is None else (principal.team_id or principal.key_id)
            point = sticky_point(self.name, tenant, ctx.end_user)
            how = "sticky per end user"
        else:
            point = self.rng.random()
            how = "no end user: random"
        index = self.index_of(point)
        variant, group = self.variants[index]
        if usable is not None and not usable(group):
            # the draw lands on a variant residency rules out: redraw the same point over the variants
            # that are allowed, weighted as configured, so the user stays sticky within what is allowed
            allowed = [i for i, (_, g) in enumerate(self.variants) if usable(g)]
            if allowed:
                total = sum(self.shares[i] for i in allowed)
                running = 0.0
                index = allowed[-1]
                for i in allowed:
                    running += self.shares[i] / total
                    if point < running:
                        index = i
                        break
                how += f"; {variant} not allowed by residency"
                variant, group = self.variants[index]
        reason = f"split {self.name}: variant {variant} ({self.shares[index]:.0%}), {how}"
        return VariantChoice(group, variant, reason)

    def index_of(self, point: float) -> int:
        for index, bound in enumerate(self.bounds):
            if point < bound:
                return index
        return len(self.bounds) - 1  # rounding left the last bound a hair under 1


def sticky_point(alias: str, tenant: str, end_user: str) -> float:
    """A uniform number in [0, 1) that depends only on its arguments."""
    digest = hashlib.blake2b(f"{alias}\0{tenant}\0{end_user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE
