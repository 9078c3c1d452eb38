"""What every HTTP provider adapter shares: the pooled session, error mapping, secret scrubbing.

One ``aiohttp.ClientSession`` per provider, created at start-up and reused for every
request (keep-alive), so nothing is built per request.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import yarl

from bastion.errors import ProviderError, provider_error_from_status
from bastion.wire.sse import SseDecoder, SseEvent


def new_session(
    *, connect_timeout: float, read_timeout: float, max_connections: int
) -> aiohttp.ClientSession:
    """A keep-alive session with the provider's time-outs.

    ``sock_read`` bounds the silence between bytes (a stalled stream), not the whole
    answer, so long generations are not cut off.
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,
        keepalive_timeout=60,
        enable_cleanup_closed=True,
        ttl_dns_cache=300,
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        json_serialize=lambda o: orjson.dumps(o).decode(),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date); garbage is ignored."""
    value = headers.get("retry-after-ms")
    if value:
        seconds = _finite_seconds(value)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite_seconds(value)
    if seconds is not None:
        return seconds
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


_RESET_HEADERS = (
    "x-ratelimit-reset-requests",  # OpenAI and compatibles: a duration such as "1s", "6m0s", "20ms"
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-reset",  # Anthropic: an RFC 3339 time
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def rate_limit_wait(headers: Any, now: float | None = None) -> float | None:
    """How long a 429 asks to wait: ``Retry-After`` first, else the longest provider reset header."""
    explicit = parse_retry_after(headers, now)
    if explicit is not None:
        return explicit
    waits = [w for name in _RESET_HEADERS if (w := _reset_seconds(headers.get(name), now)) is not None]
    return max(waits) if waits else None


def _reset_seconds(value: str | None, now: float | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    parts = _DURATION_PART.findall(value)
    if parts and "".join(number + unit for number, unit in parts) == value:
        return sum(float(number) * _DURATION_SECONDS[unit] for number, unit in parts)
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _finite_seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return max(0.0, number)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove our provider keys from anything an upstream echoes back."""
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, "***")
    return text


def upstream_error_message(body: bytes) -> tuple[str, str | None]:
    """The message and type from an OpenAI, Anthropic or Gemini error body (or a short raw excerpt)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:300], None)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Gemini sometimes wraps errors in a list
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message") or ""
            kind = error.get("type") or error.get("status") or error.get("code")
            return (str(message)[:1000], str(kind) if kind is not None else None)
        if isinstance(error, str):
            return (error[:1000], None)
        if "message" in data:
            return (str(data["message"])[:1000], None)
    return (body[:300].decode("utf-8", "replace"), None)


async def raise_for_upstream_status(
    response: aiohttp.ClientResponse, provider: str, secrets: Iterable[str | None]
) -> None:
    """Turn a non-2xx upstream answer into a ``ProviderError`` with a scrubbed message."""
    if response.status < 400:
        return
    try:
        body = await response.read()
    except (TimeoutError, aiohttp.ClientError):
        body = b""
    message, kind = upstream_error_message(body)
    raise provider_error_from_status(
        provider,
        response.status,
        scrub(message, secrets),
        retry_after_seconds=(
            rate_limit_wait(response.headers)
            if response.status == 429
            else parse_retry_after(response.headers)
        ),
        upstream_type=kind,
    )


def request_timeout(connect_timeout: float | None, read_timeout: float) -> aiohttp.ClientTimeout | None:
    """A per-request time-out when the model group bounds connecting tighter than the provider does."""
    if connect_timeout is None:
        return None
    return aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)


def transport_error(provider: str, exc: BaseException) -> ProviderError:
    """Map a connection-level failure (no HTTP answer) to a retryable ``ProviderError``."""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return ProviderError(
            f"{provider}: upstream timed out",
            provider=provider,
            retryable=True,
            status=504,
            kind="timeout_error",
            code="upstream_timeout",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProviderError(
            f"{provider}: cannot connect to upstream",
            provider=provider,
            retryable=True,
            status=502,
            kind="api_error",
            code="upstream_unreachable",
        )
    return ProviderError(
        f"{provider}: upstream connection failed ({type(exc).__name__})",
        provider=provider,
        retryable=True,
        status=502,
        kind="api_error",
        code="upstream_connection_error",
    )


_URLS: dict[str, yarl.URL] = {}
_MAX_URLS = 4096


def parsed_url(url: str) -> yarl.URL:
    """``yarl.URL(url)``, parsed once per distinct URL (aiohttp would parse the string on every request)."""
    parsed = _URLS.get(url)
    if parsed is None:
        if len(_URLS) >= _MAX_URLS:  # deployment names are bounded by the config; this is a guard
            _URLS.clear()
        parsed = _URLS[url] = yarl.URL(url)
    return parsed


@asynccontextmanager
async def post(
    session: aiohttp.ClientSession,
    url: str,
    *,
    provider: str,
    body: Any,
    headers: dict[str, str],
    secrets: Iterable[str | None],
    params: dict[str, str] | None = None,
    timeout: aiohttp.ClientTimeout | None = None,  # noqa: ASYNC109 - aiohttp's per-request socket limits
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST JSON and yield a 2xx response; every failure becomes a ``ProviderError``."""
    extra = {"timeout": timeout} if timeout is not None else {}
    try:
        async with session.post(
            parsed_url(url), data=orjson.dumps(body), headers=headers, params=params, **extra
        ) as response:
            await raise_for_upstream_status(response, provider, secrets)
            yield response
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise transport_error(provider, exc) from None


async def read_json(response: aiohttp.ClientResponse, provider: str) -> Any:
    """Read and parse a JSON body; garbage from upstream is a 502, not a crash."""
    try:
        body = await response.read()
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProviderError(
            f"{provider}: upstream sent a body that is not JSON",
            provider=provider,
            status=502,
            retryable=True,
            code="upstream_bad_response",
        ) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise transport_error(provider, exc) from None


async def sse_batches(response: aiohttp.ClientResponse, provider: str) -> AsyncIterator[list[SseEvent]]:
    """The upstream stream as lists of SSE events, one list per network read that completed any."""
    decoder = SseDecoder()
    try:
        async for chunk in response.content.iter_any():
            events = decoder.feed(chunk)
            if events:
                yield events
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise transport_error(provider, exc) from None
    events = decoder.close()
    if events:
        yield events


async def sse_events(response: aiohttp.ClientResponse, provider: str) -> AsyncIterator[SseEvent]:
    """The upstream stream as SSE events; a dropped or stalled connection raises ``ProviderError``."""
    decoder = SseDecoder()
    try:
        async for chunk in response.content.iter_any():
            for event in decoder.feed(chunk):
                yield event
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise transport_error(provider, exc) from None
    for event in decoder.close():
        yield event


async def finish_body(response: aiohttp.ClientResponse, limit: int = 65536) -> None:
    """Read what follows a stream's protocol-level end (``[DONE]``, ``message_stop``).

    Usually that is only the chunked-encoding terminator; reading it lets the connection go
    back to the pool instead of being closed (a new TCP connection per stream costs more
    than the rest of the relay). Bounded in time and size, so an upstream that keeps
    talking cannot hold the stream open.
    """
    content = response.content
    if content.is_eof():
        return
    received = 0
    try:
        async with asyncio.timeout(1.0):
            while received <= limit:
                data = await content.readany()
                if not data:
                    return
                received += len(data)
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass
    response.close()


def json_headers(extra: dict[str, str]) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    headers.update(extra)
    return headers
