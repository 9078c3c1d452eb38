"""The caller as every stage sees it: key, user, team, what it may use and the limits that bind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bastion.limits.spec import LimitSpec


@dataclass(slots=True)
class Principal:
    """Who is calling: the key (by its id, never its secret), its owner and their limits."""

    key_id: str
    dev_mode: bool = False
    name: str = ""
    user_id: str | None = None
    team_id: str | None = None
    models: frozenset[str] | None = None  # allowed model groups; None = all
    expires_at: float | None = None
    key_limits: LimitSpec | None = None
    user_limits: LimitSpec | None = None
    team_limits: LimitSpec | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models
