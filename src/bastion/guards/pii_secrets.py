"""Secrets: API keys and tokens by their provider prefix, private key blocks, passwords in URLs and
after a ``password:`` / ``api_key=`` label, and bare high-entropy tokens.

Only the secret itself is a finding, never the name it is assigned to (``API_KEY=<SECRET_1>``),
so a masked prompt still reads right.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from bastion.guards.pii_scan import matches_after, word_or_dash

# Every alternative opens with a literal character, so re skips ahead in C to the next place one
# could start (see pii_scan); the "not glued to a word" rule before a key is checked in Python.
# Only words of 20+ characters are searched: every key here is at least that long.
_PRIVATE_KEY_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
)
_PREFIXED_RE = re.compile(
    r"(?:sk-ant-[A-Za-z0-9_-]{20,}"  # Anthropic (api03, admin01)
    r"|sk-[A-Za-z0-9_-]{20,}"  # OpenAI (incl. proj-, svcacct-, admin-), OpenRouter, DeepSeek
    r"|sk_(?:live|test)_[A-Za-z0-9]{16,}|rk_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|pk_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}"
    r"|A(?:KIA|SIA|BIA|CCA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|gl(?:pat|dt|rt|ptt|ft|soat|cbt)-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{20,}"  # Slack
    r"|https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}|GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{20,}"  # Google
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # signed JWT
    r"|SK[0-9a-fA-F]{32}"  # Twilio API key
    r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"  # SendGrid
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"  # PyPI
    r"|hf_[A-Za-z0-9]{34}|api_org_[A-Za-z0-9]{34}"  # Hugging Face
    r"|gsk_[A-Za-z0-9]{48}|xai-[A-Za-z0-9]{48,}"  # Groq, xAI
    r"|r8_[A-Za-z0-9]{37}|pplx-[A-Za-z0-9]{48}"  # Replicate, Perplexity
    r"|dop_v1_[a-f0-9]{64}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"  # DigitalOcean, Shopify
    r"|bst_[A-Za-z0-9_-]{32,}"  # Bastion virtual keys
    r")(?![\w-])"
)
# user:password@host in a URL (postgres://app:s3cret@db:5432/x): the password is the secret
_URL_PASSWORD_RE = re.compile(r"://[^\s:/@]{1,64}:([^\s/@]{3,128})@")
_TOKEN_RE = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/=-])")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")

#: label words (lower case) whose assigned value is a secret: ``password: hunter22``
LABELS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "client_secret",
        "client secret",
        "secret_key",
        "secret key",
        "api_key",
        "api key",
        "apikey",
        "api-key",
        "access_token",
        "access token",
        "auth_token",
        "auth token",
        "token",
        "bearer",
        "aws_secret_access_key",
        "secret access key",
        "private_key",
    }
)
_ASSIGNED_RE = re.compile(r"""["']?[ \t]*(?:[:=]|:=|=>|\bis\b)?[ \t]*["'`]?([^\s"'`,;<>{}()\[\]]{6,200})""")
_BEARER_RE = re.compile(r"[ \t]+([A-Za-z0-9._~+/-]{16,}=*)")
_WORDS_ONLY_RE = re.compile(r"[A-Za-z]+(?:[_.-][A-Za-z]+)*")
_PLACEHOLDER_WORDS = ("your", "xxx", "***", "example", "changeme", "redacted", "placeholder")


def shannon_entropy(token: str) -> float:
    """Bits per character of a token's character distribution."""
    length = len(token)
    return -sum(n / length * math.log2(n / length) for n in Counter(token).values())


def looks_random(token: str) -> bool:
    """A long token mixing upper case, lower case and digits with high entropy, e.g. a bare key.

    Hex hashes and UUIDs have no upper case (or no lower case) and are left alone.
    """
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    digits = sum(c.isdigit() for c in token)
    if upper < 2 or lower < 2 or digits < 2:
        return False
    return shannon_entropy(token) >= 4.0


def find_secrets(text: str) -> Iterator[tuple[int, int]]:
    """Spans of prefixed keys, private key blocks, URL passwords and high-entropy tokens."""
    known = []
    if "-----BEGIN" in text:
        known.extend(match.span() for match in _PRIVATE_KEY_RE.finditer(text))
    # every other key is a run of 20+ characters without spaces: look inside such words only
    long_words = _long_words(text, 20)
    for start, end in long_words:
        known.extend(match.span() for match in matches_after(_PREFIXED_RE, text, word_or_dash, start, end))
    if "://" in text:
        known.extend(match.span(1) for match in _URL_PASSWORD_RE.finditer(text) if _plausible(match.group(1)))
    yield from known
    for word_start, word_end in long_words:
        if word_end - word_start < 32:
            continue
        for match in _TOKEN_RE.finditer(text, word_start, word_end):
            start, end = match.span()
            if start and text[start - 1] in _TOKEN_CHARS:
                continue  # the tail of a longer run that the pattern already tried from its start
            if looks_random(match.group()) and all(end <= s or start >= e for s, e in known):
                yield start, end


def _long_words(text: str, minimum: int) -> list[tuple[int, int]]:
    """Spans of the whitespace-separated words of at least ``minimum`` characters."""
    spans = []
    position = 0
    for word in [word for word in text.split() if len(word) >= minimum]:
        start = text.find(word, position)
        position = start + len(word)
        spans.append((start, position))
    return spans


def find_after_label(text: str, label: str, label_end: int) -> tuple[int, int] | None:
    """The span of the secret assigned to a ``password`` / ``api_key`` label, if it looks like one.

    The value must not be a plain word or identifier (``YOUR_API_KEY``, ``expired``), a template
    (``${TOKEN}``, ``<token>``) or a placeholder (``xxxx``, ``changeme``).
    """
    if label == "bearer":
        match = _BEARER_RE.match(text, label_end)
    else:
        if label_end < len(text) and (text[label_end].isalnum() or text[label_end] == "_"):
            return None
        match = _ASSIGNED_RE.match(text, label_end)
        if match is not None and not _assigned(text, label_end, match.start(1)):
            return None
    if match is None:
        return None
    value = match.group(1).rstrip(".")
    if not _plausible(value):
        return None
    return match.start(1), match.start(1) + len(value)


def _assigned(text: str, label_end: int, value_start: int) -> bool:
    """Whether a label and its value are joined by ``:``, ``=`` or ``is``, not just a space."""
    between = text[label_end:value_start]
    return any(mark in between for mark in ":=") or " is " in f" {between} "


def _plausible(value: str) -> bool:
    """Whether a value could be a real password or key rather than a word, template or placeholder."""
    if len(value) < 6 or value[0] in "$%*#&/~." or len(set(value)) < 4 or "://" in value:
        return False  # templates, masks, paths and URLs
    if _WORDS_ONLY_RE.fullmatch(value) or not any(char.isalpha() for char in value):
        return False  # identifiers (YOUR_API_KEY, os.environ), numbers and dates
    lowered = value.lower()
    return not any(word in lowered for word in _PLACEHOLDER_WORDS)
