"""The assembled gateway: config, providers and the stages, built once at start-up.

This is the one place the request chain is put together, so a reader can list it:
authenticate → read + validate → route → execute (provider adapter) → respond.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field

from bastion.api.auth import Authenticator
from bastion.config import BastionConfig
from bastion.providers.base import Provider
from bastion.providers.registry import build_providers
from bastion.routing.executor import Executor
from bastion.routing.router import Router

log = logging.getLogger("bastion")


@dataclass
class Gateway:
    config: BastionConfig
    providers: dict[str, Provider]
    router: Router
    executor: Executor
    auth: Authenticator
    max_body_bytes: int
    started_at: float = field(default_factory=time.time)
    ready: bool = False

    @classmethod
    def from_config(cls, config: BastionConfig) -> Gateway:
        providers = build_providers(config)
        server = config.server
        dev_mode = (
            server.dev_mode if server.dev_mode is not None else not (server.api_keys or server.admin_key)
        )
        return cls(
            config=config,
            providers=providers,
            router=Router(config, providers),
            executor=Executor(),
            auth=Authenticator(server.api_keys, dev_mode),
            max_body_bytes=server.max_body_bytes,
        )

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        for provider in self.providers.values():
            await provider.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
