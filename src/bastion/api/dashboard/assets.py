"""The dashboard's page and its two static files, read once from the package and served as is.

The page holds no data (the data comes from ``/dashboard/api/*`` with the admin key), so it
is served to anyone. Its Content-Security-Policy allows only this origin's script, style and
API: no inline script, no third party, no framing.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from importlib import resources

from bastion.api.asgi import Headers, Receive, Scope, Send, header, send_bytes

CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_COMMON: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_TYPES = {
    "index.html": b"text/html; charset=utf-8",
    "dashboard.js": b"text/javascript; charset=utf-8",
    "dashboard.css": b"text/css; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("bastion.api.dashboard").joinpath("static", name).read_bytes()


@cache
def version() -> str:
    """A digest of the script and style sheet: their URLs change with them, so browsers may cache them."""
    digest = hashlib.sha256(_read("dashboard.js") + _read("dashboard.css")).hexdigest()
    return digest[:12]


class Asset:
    """``GET`` one static file; gzip when the client takes it, 304 when it already has this version."""

    def __init__(self, name: str) -> None:
        body = _read(name)
        if name == "index.html":
            body = body.replace(b"{{version}}", version().encode())
            # the page names the current script version: always revalidate it
            caching: Headers = [
                (b"cache-control", b"no-cache"),
                (b"content-security-policy", CONTENT_SECURITY_POLICY),
            ]
        else:
            caching = [(b"cache-control", b"public, max-age=31536000, immutable")]
        self.etag = b'"' + hashlib.sha256(body).hexdigest()[:16].encode() + b'"'
        self.body = body
        self.gzipped = gzip.compress(body, 9, mtime=0)
        self.headers: Headers = [
            (b"content-type", _TYPES[name]),
            (b"etag", self.etag),
            (b"vary", b"accept-encoding"),
            *caching,
            *_COMMON,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if header(scope, b"if-none-match") == self.etag:
            await send_bytes(send, 304, b"", self.headers)
            return
        if b"gzip" in (header(scope, b"accept-encoding") or b""):
            await send_bytes(send, 200, self.gzipped, [*self.headers, (b"content-encoding", b"gzip")])
            return
        await send_bytes(send, 200, self.body, self.headers)
