"""Text normalisation and payload decoding for the prompt-injection detector.

Attackers hide instructions from pattern rules with Unicode tricks (zero-width characters,
bidi controls, Cyrillic or Greek lookalikes, fullwidth or mathematical letters, invisible tag
characters), leetspeak, spaced-out letters and encodings. ``normalize`` undoes the Unicode
tricks and the spelling tricks so one set of lower-case ASCII rules sees through them;
``decoded_variants`` returns the payloads hidden in encodings (base64, hex, rot13, URL and HTML
escapes, reversed text, tag characters), each only after a cheap check says it is plausible, so
ordinary text costs almost nothing.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from urllib.parse import unquote

__all__ = ["decoded_variants", "normalize", "tag_payload"]

#: the Unicode tag block: U+E0020..U+E007E mirror printable ASCII and are rendered as nothing
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")

#: characters that render as nothing (or only steer layout) and are deleted before matching
_INVISIBLE = [
    *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
    *range(0x200B, 0x2010),  # zero-width space/joiners, LRM, RLM
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2060, 0x2070),  # word joiner, invisible operators, bidi isolates
    *range(0xFE00, 0xFE10),  # variation selectors
    *range(0xFFF9, 0xFFFC),  # interlinear annotation
    *range(_TAG_FIRST, _TAG_LAST + 1),
    *range(0xE0100, 0xE01F0),  # variation selectors supplement
]
_DELETE_INVISIBLE = dict.fromkeys(_INVISIBLE)
_HAS_INVISIBLE = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in _INVISIBLE if c < 0x10000) + "\U000e0000-\U000e01ef]"
)

#: lookalikes that NFKC leaves alone: Cyrillic and Greek letters drawn like Latin ones
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r",
        "ѕ": "s", "т": "t", "џ": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y", "ү": "y", "з": "3",
        "А": "a", "В": "b", "С": "c", "Е": "e", "Н": "h", "І": "i", "Ј": "j", "К": "k", "М": "m",
        "О": "o", "Р": "p", "Ѕ": "s", "Т": "t", "Х": "x", "У": "y", "Ү": "y", "Ԝ": "w",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ς": "s",
        "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
        "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
        # others seen in the wild
        "ı": "i", "ȷ": "j", "ℓ": "l", "∕": "/", "‐": "-", "‑": "-", "–": "-", "—": "-",
        "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    }
)  # fmt: skip
_LOOKALIKE = re.compile("[" + "".join(chr(code) for code in _HOMOGLYPHS) + "]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

#: leetspeak inside a token that mixes letters and digits ("1gn0r3" -> "ignore"); plain numbers stay
_LEET_TOKEN = re.compile(r"\b(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]*[a-z][a-z0-9]*\b")
#: two patterns that start with a character class, which ``re`` scans for in C
_LEET_HINTS = (re.compile(r"[a-z][013457]"), re.compile(r"[013457][a-z]"))
_LEET = str.maketrans("013457", "oieast")

#: four or more one-letter tokens split by separators: "i g n o r e", "i.g.n.o.r.e a.l.l"
_SPACED_RUN = re.compile(r"(?<![a-z0-9])[a-z](?:[ .\-_*|/+~]{1,4}[a-z](?![a-z0-9])){3,}")
_SPACED_HINT = re.compile(r"[ .\-_*|/+~][a-z][ .\-_*|/+~]{1,4}[a-z][ .\-_*|/+~]")
_SEPARATOR = re.compile(r"[ .\-_*|/+~]{1,4}")

#: words that spaced-out attacks spell; used to re-split a run like "ignoreallprevious"
# fmt: off
_SEGMENT_WORDS = frozenset({
    "a", "above", "act", "admin", "ai", "all", "allowed", "always", "an", "and", "answer", "any", "are",
    "as", "assistant", "at", "be", "before", "bypass", "call", "can", "character", "code",
    "confidential", "conversation", "dan", "data", "delete", "developer", "directions", "disable",
    "disregard", "do", "dont", "earlier", "every", "everything", "filter", "filters", "follow", "for",
    "forget", "free", "from", "guidelines", "have", "hidden", "i", "ignore", "image", "in", "initial",
    "instruction", "instructions", "is", "it", "jailbreak", "jailbroken", "key", "me", "message", "mode",
    "my", "new", "no", "not", "now", "of", "on", "or", "orders", "output", "override", "password",
    "policies", "policy", "pretend", "previous", "print", "prior", "prompt", "repeat", "restrictions",
    "reveal", "rules", "say", "secret", "send", "show", "stay", "system", "tell", "text", "that", "the",
    "this", "to", "tool", "unrestricted", "url", "what", "with", "you", "your",
})
# fmt: on
_MAX_SEGMENT_WORD = max(len(word) for word in _SEGMENT_WORDS)


def normalize(text: str) -> str:
    """Lower-case ASCII-leaning text for rule matching: Unicode tricks, leetspeak, spacing undone.

    Applies NFKC-compatible folding (fullwidth and mathematical letters become ASCII), strips
    invisible characters (zero-width, bidi controls, variation selectors, Unicode tags), folds
    Cyrillic/Greek lookalikes and accents, case-folds, undoes leetspeak inside mixed tokens,
    joins spaced-out letters and collapses whitespace. The result is for scanning only.
    """
    if not text.isascii():
        text = _fold_unicode(text)
    text = text.lower()
    if _LEET_HINTS[0].search(text) or _LEET_HINTS[1].search(text):
        text = _LEET_TOKEN.sub(_unleet, text)
    if _SPACED_HINT.search(text):
        text = _SPACED_RUN.sub(_join_spaced, text)
    # every whitespace run (str.split's whitespace is re's \s) becomes one space; a regex pass
    # over the text costs five times as much
    return " ".join(text.split())


def _unleet(match: re.Match[str]) -> str:
    return match.group().translate(_LEET)


def _fold_unicode(text: str) -> str:
    if _HAS_INVISIBLE.search(text):
        text = text.translate(_DELETE_INVISIBLE)
    # NFKD, then dropping combining marks, gives NFKC's compatibility folding plus accent removal
    text = unicodedata.normalize("NFKD", text)
    text = _COMBINING.sub("", text)
    # replacing the few lookalikes present is much faster than str.translate over the whole text
    for char in set(_LOOKALIKE.findall(text)):
        text = text.replace(char, _HOMOGLYPHS[ord(char)])
    return text.casefold()


def _join_spaced(match: re.Match[str]) -> str:
    """Rejoin a spaced-out run into words; word gaps are the separators unlike the usual one."""
    run = match.group()
    separators = _SEPARATOR.findall(run)
    letters = _SEPARATOR.split(run)
    usual = max(set(separators), key=separators.count)
    words = [letters[0]]
    for separator, letter in zip(separators, letters[1:], strict=True):
        if separator != usual and (usual != " " or len(separator) > 1):
            words.append(letter)
        else:
            words[-1] += letter
    return " ".join(_segment(word) or word for word in words)


def _segment(letters: str) -> str | None:
    """Split a run of letters into known words ("ignoreallprevious" -> "ignore all previous")."""
    if len(letters) > 200:
        return None
    best: list[list[str] | None] = [None] * (len(letters) + 1)
    best[0] = []
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - _MAX_SEGMENT_WORD), end):
            head = best[start]
            if head is not None and letters[start:end] in _SEGMENT_WORDS:
                candidate = [*head, letters[start:end]]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    words = best[len(letters)]
    return " ".join(words) if words else None


# --- decoding ---------------------------------------------------------------------------------

#: at most this many decoded payloads per text, each cut to this many characters
MAX_VARIANTS = 8
MAX_VARIANT_CHARS = 4096
#: encoded runs longer than this are decoded only up to it (a 1 MB image blob costs the same as 6 KB)
_MAX_ENCODED_CHARS = 6144

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}[ :]?){8,}")
#: eight hex pairs split by spaces or colons; spelled out so it starts with a character class
_SPACED_HEX = re.compile("[0-9a-fA-F][0-9a-fA-F][ :]" * 7 + "[0-9a-fA-F][0-9a-fA-F]")
_MIN_ENCODED_TOKEN = 16
_HEX_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2}){6,}")
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")

#: attack words; their rot13 and reversed spellings are the cheap pre-checks for those encodings
_TRIGGER_WORDS = (
    "ignore",
    "instruction",
    "previous",
    "prompt",
    "system",
    "disregard",
    "forget",
    "password",
    "pretend",
    "restriction",
    "reveal",
    "developer",
    "filter",
    "secret",
    "jailbr",
    "conversation",
    "delete",
)
_ROT13_TRIGGERS = tuple(codecs.encode(word, "rot13") for word in _TRIGGER_WORDS)
_REVERSED_TRIGGERS = tuple(word[::-1] for word in _TRIGGER_WORDS)


def tag_payload(text: str) -> str:
    """The ASCII smuggled in Unicode tag characters (U+E0020..U+E007E), or ''."""
    if text.isascii() or not _TAG_CHARS.search(text):
        return ""
    return "".join(chr(ord(c) - _TAG_FIRST) for c in text if 0xE0020 <= ord(c) <= 0xE007E)


def decoded_variants(text: str) -> list[str]:
    """Hidden payloads worth scanning: decoded base64, hex, rot13, URL/HTML escapes, reversed text.

    Each decoder runs only when a cheap check finds its encoding plausible, and a decoded result
    is kept only when it reads as text (binary blobs such as images or hashes are dropped).
    Payloads found inside a decoded payload are decoded once more. At most ``MAX_VARIANTS``
    strings of at most ``MAX_VARIANT_CHARS`` each are returned.
    """
    found: list[str] = []
    _collect(text, found, depth=0)
    return found


def _collect(text: str, found: list[str], depth: int) -> None:
    for candidate in _decode_once(text):
        if len(found) >= MAX_VARIANTS:
            return
        candidate = candidate[:MAX_VARIANT_CHARS]
        if candidate and candidate != text and candidate not in found:
            found.append(candidate)
            if depth == 0:
                _collect(candidate, found, depth=1)


def _decode_once(text: str) -> list[str]:
    out: list[str] = []
    payload = tag_payload(text)
    if payload:
        out.append(payload)
    # base64 and hex hide in long tokens: prose has none, so most texts skip both decoders
    tokens = text.split()
    long_tokens = [token for token in tokens if len(token) >= _MIN_ENCODED_TOKEN]
    for token in long_tokens[: MAX_VARIANTS * 4]:
        for match in _BASE64_RUN.finditer(token):
            decoded = _from_base64(match.group())
            if decoded:
                out.append(decoded)
        for match in _HEX_RUN.finditer(token):
            decoded = _from_hex(match.group())
            if decoded:
                out.append(decoded)
        if "\\x" in token:
            for match in _HEX_ESCAPES.finditer(token):
                decoded = _from_hex_escapes(match.group())
                if decoded:
                    out.append(decoded)
        if len(out) >= MAX_VARIANTS:
            return out
    spaced = _SPACED_HEX.search(text)
    if spaced:
        match = _HEX_RUN.match(text, spaced.start())
        decoded = _from_hex(match.group()) if match else None
        if decoded:
            out.append(decoded)
    if "%" in text:
        escaped = [t for t in tokens if t.count("%") >= 3 and len(_PERCENT_ESCAPE.findall(t)) >= 3]
        for token in escaped[:MAX_VARIANTS]:
            decoded = unquote(token[:_MAX_ENCODED_CHARS])
            if _reads_as_text(decoded):
                out.append(decoded)
    if "&#" in text:
        escaped = [token for token in tokens if "&#" in token]
        decoded = html.unescape(" ".join(escaped)[:_MAX_ENCODED_CHARS])
        if _reads_as_text(decoded):
            out.append(decoded)
    lowered = text.lower()
    around = _around_first(lowered, text, _ROT13_TRIGGERS)
    if around:
        out.append(codecs.encode(around, "rot13"))
    around = _around_first(lowered, text, _REVERSED_TRIGGERS)
    if around:
        out.append(around[::-1])
    return out


def _around_first(lowered: str, text: str, needles: tuple[str, ...]) -> str:
    """The part of ``text`` around the first needle found in ``lowered`` (all of a short text), or ''."""
    positions = [at for at in (lowered.find(needle) for needle in needles) if at >= 0]
    if not positions:
        return ""
    half = MAX_VARIANT_CHARS // 2
    at = min(positions)
    return text[max(0, at - half) : at + half]


def _from_base64(run: str) -> str | None:
    run = run[:_MAX_ENCODED_CHARS]
    # a run of one letter case without digits is a long word or identifier, not base64
    if run.isalpha() and (run.islower() or run.isupper()):
        return None
    body = run.rstrip("=")
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    padded = body + "=" * (-len(body) % 4)
    decode = base64.urlsafe_b64decode if "-" in padded or "_" in padded else base64.b64decode
    try:
        raw = decode(padded)
    except (binascii.Error, ValueError):
        return None
    return _as_text(raw)


def _from_hex(run: str) -> str | None:
    digits = run.replace(" ", "").replace(":", "")[:_MAX_ENCODED_CHARS]
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return _as_text(bytes.fromhex(digits))
    except ValueError:
        return None


def _from_hex_escapes(run: str) -> str | None:
    return _from_hex(run.replace("\\x", ""))


def _as_text(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _reads_as_text(decoded):
        return decoded
    # an encoding inside an encoding: kept so that the second round decodes it
    return decoded if _BASE64_RUN.fullmatch(decoded) or _HEX_RUN.fullmatch(decoded) else None


_UNREADABLE = re.compile(r"[^\w .,'!?:;\-\"()/]|[\d_]")


def _reads_as_text(decoded: str) -> bool:
    """Mostly letters and spaces, with at least one space: prose, not a key, hash or blob."""
    if len(decoded) < 6 or " " not in decoded:
        return False
    return len(_UNREADABLE.findall(decoded)) <= 0.15 * len(decoded)
