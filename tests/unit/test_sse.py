"""The SSE decoder for upstream streams and the encoders for client streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from bastion.wire.sse import SseDecoder, SseEvent, encode_data, encode_event, iter_sse

ANTHROPIC_STYLE = (
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b": keep-alive\n"
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","delta":{"text":"hi"}}\n'
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    SseEvent("message_start", b'{"type":"message_start"}'),
    SseEvent("content_block_delta", b'{"type":"content_block_delta","delta":{"text":"hi"}}'),
    SseEvent(None, b"[DONE]"),
]


def decode(chunks: Iterable[bytes]) -> list[SseEvent]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def test_whole_stream_in_one_chunk() -> None:
    assert decode([ANTHROPIC_STYLE]) == EXPECTED


def test_events_split_byte_by_byte() -> None:
    assert decode(byte_by_byte(ANTHROPIC_STYLE)) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(ANTHROPIC_STYLE)))
def test_events_split_at_every_boundary(cut: int) -> None:
    assert decode([ANTHROPIC_STYLE[:cut], ANTHROPIC_STYLE[cut:]]) == EXPECTED


def test_event_is_returned_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\n") == [SseEvent(None, b"one")]
    assert decoder.feed(b"data: two\n\n") == [SseEvent(None, b"two")]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_line_endings(newline: bytes) -> None:
    stream = ANTHROPIC_STYLE.replace(b"\n", newline)
    assert decode([stream]) == EXPECTED
    assert decode(byte_by_byte(stream)) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    # If the \r and \n were read as two line endings, the \n would end the event early
    # and "data: b" would become a second event.
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\n") == [SseEvent(None, b"a\nb")]


def test_lone_cr_at_chunk_end_still_ends_the_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"data: b\r\r") == [SseEvent(None, b"a")]
    assert decoder.close() == [SseEvent(None, b"b")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    events = decode([b"data: first\ndata: second\ndata:\ndata:third\n\n"])
    assert events == [SseEvent(None, b"first\nsecond\n\nthird")]


def test_only_one_leading_space_is_removed() -> None:
    assert decode([b"data:  two spaces \n\n"]) == [SseEvent(None, b" two spaces ")]


def test_comments_and_keep_alives_produce_no_events() -> None:
    assert decode([b": ping\n\n:\n\n: another\n\n"]) == []
    assert decode([b"data: a\n: interleaved comment\ndata: b\n\n"]) == [SseEvent(None, b"a\nb")]


def test_unknown_fields_are_ignored() -> None:
    assert decode([b"id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n"]) == [SseEvent(None, b"x")]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    events = decode([b"event: ping\ndata: {}\n\ndata: plain\n\n"])
    assert events == [SseEvent("ping", b"{}"), SseEvent(None, b"plain")]


def test_empty_lines_alone_produce_no_events() -> None:
    assert decode([b"\n\n\n\r\n\r\r"]) == []


def test_close_flushes_an_unterminated_last_event() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'event: done\ndata: {"end": true}') == []
    assert decoder.close() == [SseEvent("done", b'{"end": true}')]


def test_close_flushes_an_event_missing_only_the_blank_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: last\n") == []
    assert decoder.close() == [SseEvent(None, b"last")]


def test_close_with_nothing_pending_returns_nothing() -> None:
    decoder = SseDecoder()
    decoder.feed(b"data: a\n\n: trailing comment")
    assert decoder.close() == []
    assert SseDecoder().close() == []


def test_utf8_split_inside_a_character_is_reassembled() -> None:
    payload = '{"text":"héllo ✓"}'.encode()
    assert decode(byte_by_byte(b"data: " + payload + b"\n\n")) == [SseEvent(None, payload)]


async def test_iter_sse_decodes_and_flushes() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\r"
        yield b"\n\r\nevent: e\ndata: "
        yield b"b"  # stream ends without the blank line

    assert [event async for event in iter_sse(chunks())] == [SseEvent(None, b"a"), SseEvent("e", b"b")]


def test_encode_data() -> None:
    assert encode_data(b'{"a":1}') == b'data: {"a":1}\n\n'


def test_encode_event() -> None:
    assert encode_event("message_stop", b'{"type":"message_stop"}') == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_encoded_events_round_trip_through_the_decoder() -> None:
    stream = encode_event("ping", b"{}") + encode_data(b"[DONE]")
    assert decode(byte_by_byte(stream)) == [SseEvent("ping", b"{}"), SseEvent(None, b"[DONE]")]
