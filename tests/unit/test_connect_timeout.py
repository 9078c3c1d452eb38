"""A model group's ``timeouts.connect_seconds`` reaches the upstream request of every HTTP adapter."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bastion.config import AnthropicProviderConfig, GeminiProviderConfig, OpenAIProviderConfig
from bastion.providers import _http
from bastion.providers.anthropic import AnthropicProvider
from bastion.providers.base import ChatRequest, Deployment
from bastion.providers.gemini import GeminiProvider
from bastion.providers.openai import OpenAIProvider


class Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


class RecordingSession:
    """Stands in for aiohttp.ClientSession: records the post() call and stops there."""

    def post(self, url: str, **kwargs: Any) -> Any:
        raise Captured(kwargs)


def test_request_timeout_only_when_the_group_sets_one() -> None:
    assert _http.request_timeout(None, 600) is None
    timeout = _http.request_timeout(0.5, 30)
    assert timeout == aiohttp.ClientTimeout(total=None, sock_connect=0.5, sock_read=30)


@pytest.mark.parametrize(
    "provider",
    [
        OpenAIProvider(
            "o", OpenAIProviderConfig(type="openai", base_url="http://127.0.0.1:9/v1", api_key="k")
        ),
        AnthropicProvider(
            "a", AnthropicProviderConfig(type="anthropic", base_url="http://127.0.0.1:9", api_key="k")
        ),
        GeminiProvider("g", GeminiProviderConfig(type="gemini", base_url="http://127.0.0.1:9", api_key="k")),
    ],
)
@pytest.mark.parametrize("connect", [None, 0.25])
async def test_adapters_pass_the_group_connect_timeout(provider: Any, connect: float | None) -> None:
    provider.session = RecordingSession()
    request = ChatRequest(
        body={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, model="m", stream=False
    )
    with pytest.raises(Captured) as caught:
        await provider.chat(request, Deployment("p", "m", {}, connect))
    timeout = caught.value.kwargs.get("timeout")
    if connect is None:
        assert timeout is None
    else:
        assert timeout.sock_connect == connect
        assert timeout.sock_read == provider.config.read_timeout
