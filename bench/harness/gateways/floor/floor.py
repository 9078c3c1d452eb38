"""The floor: the least a Python ASGI gateway can do per request.

Parses the JSON body (every gateway must, to find the model and the stream flag),
forwards it to the upstream over a pooled aiohttp session, and relays the answer
(bytes as they arrive for streams). No auth, no translation, no accounting.
It is the reference for "how close to the limit of a Python gateway" we are.
"""

import os

import aiohttp
import orjson

BASE = int(os.environ.get("MOCK_BASE_PORT", "18080"))
ROUTES = {
    "gpt-4o-mini": f"http://127.0.0.1:{BASE}/v1/chat/completions",
    "gpt-4o-mini-slow": f"http://127.0.0.1:{BASE + 1}/v1/chat/completions",
}
_session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global _session
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                _session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
                )
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await _session.close()
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
    async with _session.post(
        url, data=body, headers={"content-type": "application/json", "authorization": "Bearer upstream"}
    ) as r:
        if req.get("stream"):
            await send(
                {
                    "type": "http.response.start",
                    "status": r.status,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
                }
            )
            async for chunk in r.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            data = await r.read()
            await send(
                {
                    "type": "http.response.start",
                    "status": r.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(data)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": data})
