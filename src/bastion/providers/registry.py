"""Build provider adapters from config: the only place that maps a ``type`` to a class."""

from __future__ import annotations

import importlib

from bastion.config import BastionConfig
from bastion.config_loader import ConfigError
from bastion.providers.base import Provider

# Imported on demand, so a config that uses one provider type loads only that adapter.
_CLASSES = {
    "openai": ("bastion.providers.openai", "OpenAIProvider"),
    "anthropic": ("bastion.providers.anthropic", "AnthropicProvider"),
    "gemini": ("bastion.providers.gemini", "GeminiProvider"),
    "simulator": ("bastion.providers.simulator", "SimulatorProvider"),
    "static": ("bastion.providers.static", "StaticProvider"),
}


def build_providers(config: BastionConfig, reuse: dict[str, Provider] | None = None) -> dict[str, Provider]:
    """One adapter per configured provider; ``reuse`` supplies already running ones (on reload)."""
    providers: dict[str, Provider] = dict(reuse or {})
    for name, provider_config in config.providers.items():
        if name in providers:
            continue
        module_name, class_name = _CLASSES[provider_config.type]
        provider_class = getattr(importlib.import_module(module_name), class_name)
        try:
            providers[name] = provider_class(name, provider_config)
        except ValueError as exc:
            raise ConfigError("config", [f"providers.{name}: {exc}"]) from None
    return providers
