"""Virtual key material: generation, the digest that is stored, and the prefix people recognise.

Keys carry 256 random bits, so a plain SHA-256 digest is enough to store them safely (no
password-style stretching is needed for a secret nobody can guess), and lookups stay O(1).
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "bst_"
VISIBLE_CHARS = 12  # "bst_" and 8 random characters: enough to tell keys apart in a list


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh secret key: ``bst_`` + 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_CHARS]


def static_key_id(key: str) -> str:
    """The id logs and headers show for a key from the config file: its prefix and a short digest."""
    return f"{key[: min(7, len(key) // 2)]}…{key_digest(key)[:8]}"
