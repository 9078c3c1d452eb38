"""The floor with httpx instead of aiohttp as the upstream client (added for Bastion).

Same work as floor.py (parse the JSON body, forward it, relay the answer; stream bytes as they
arrive), over one pooled ``httpx.AsyncClient``. Comparing it with floor.py in the same harness run
measures what the choice of upstream client costs per request.
"""

import os

import httpx
import orjson

BASE = int(os.environ.get("MOCK_BASE_PORT", "18080"))
ROUTES = {
    "gpt-4o-mini": f"http://127.0.0.1:{BASE}/v1/chat/completions",
    "gpt-4o-mini-slow": f"http://127.0.0.1:{BASE + 1}/v1/chat/completions",
}
HEADERS = {"content-type": "application/json", "authorization": "Bearer upstream"}
_client: httpx.AsyncClient | None = None


async def app(scope, receive, send):
    global _client
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                # no pool cap (like aiohttp's limit=0) and every connection kept alive, so 256 in
                # flight reuse their connections instead of reconnecting
                limits = httpx.Limits(
                    max_connections=None, max_keepalive_connections=None, keepalive_expiry=60
                )
                if os.environ.get("FLOOR_HTTPX_LIMITS") == "default":  # httpx's own: 100 connections, 20 kept
                    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
                _client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0))
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await _client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    req = orjson.loads(body)
    url = ROUTES[req["model"]]
    if req.get("stream"):
        async with _client.stream("POST", url, content=body, headers=HEADERS) as r:
            await send(
                {
                    "type": "http.response.start",
                    "status": r.status_code,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
                }
            )
            async for chunk in r.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    else:
        r = await _client.post(url, content=body, headers=HEADERS)
        data = r.content
        await send(
            {
                "type": "http.response.start",
                "status": r.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
