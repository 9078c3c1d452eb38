"""Public model names → the deployments that serve them.

The resilience work replaces the single-deployment choice with strategies,
breakers and fallbacks; this module owns only the name lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.config import BastionConfig
from bastion.errors import InvalidRequest, NotFound
from bastion.providers.base import Deployment, Provider


@dataclass(slots=True, frozen=True)
class ModelGroup:
    name: str
    kind: str  # "chat" | "embeddings"
    deployments: tuple[tuple[Deployment, Provider], ...]


class Router:
    """Resolves the ``model`` a client asked for."""

    def __init__(self, config: BastionConfig, providers: dict[str, Provider]) -> None:
        self.groups: dict[str, ModelGroup] = {}
        for name, group in config.models.items():
            pairs = tuple(
                (Deployment(d.provider, d.model, dict(d.params)), providers[d.provider])
                for d in group.deployments
            )
            self.groups[name] = ModelGroup(name=name, kind=group.kind, deployments=pairs)
        self._names_by_kind = {
            kind: ", ".join(sorted(n for n, g in self.groups.items() if g.kind == kind))
            for kind in ("chat", "embeddings")
        }

    def resolve(self, model: str, kind: str) -> ModelGroup:
        group = self.groups.get(model)
        if group is None:
            raise NotFound(
                f"The model '{model}' does not exist. Available {kind} models: "
                f"{self._names_by_kind[kind] or 'none'}",
                param="model",
                code="model_not_found",
            )
        if group.kind != kind:
            choices = self._names_by_kind[kind] or "none"
            raise InvalidRequest(
                f"The model '{model}' is an {group.kind} model; use one of: {choices}",
                param="model",
                code="wrong_model_kind",
            )
        return group
