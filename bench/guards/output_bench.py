#!/usr/bin/env python3
"""Cost of the output guards on a 1 KB answer: JSON schema, moderation, leaks, canary, streaming.

Each check runs --rounds times on the same answer (p50 / p99 of one call). The stream rows feed
the 1 KB answer in chunks of --chunk characters (about one token) through ``StreamTextGuard``
and time the whole answer: their cost over the whole-answer rows is the price of scanning
incrementally with a bounded hold-back. Prints markdown.

    .venv/bin/python bench/guards/output_bench.py [--rounds 2000] [--chunk 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.guards import schema as schema_module
from bastion.guards.leaks import LeakScanner, leaked, new_canary
from bastion.guards.moderation import Moderator
from bastion.guards.pii import PiiDetector
from bastion.guards.schema import expected_schemas
from bastion.guards.stream_scan import StreamTextGuard

PROSE = (
    "Thanks for reaching out about order 48213. The replacement ships from our Rotterdam warehouse "
    "on Tuesday and should arrive within 3 to 5 working days. If the tracking page has not updated "
    "by Friday, reply to this message and we will look into it. You can also change the delivery "
    "address in your account settings until the parcel leaves the warehouse. The refund for the "
    "damaged item was issued today; banks usually take 2 to 7 days to show it on the statement. "
)
SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "name": {"type": "string"},
                    "price": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["sku", "name", "price", "tags"],
                "additionalProperties": False,
            },
        },
        "total": {"type": "number"},
    },
    "required": ["items", "total"],
    "additionalProperties": False,
}
#: three categories of 60 terms each, the size of a realistic operator list
CATEGORIES = {
    name: [f"{name}term{n}" for n in range(59)] + [f"{name} phrase number {n}" for n in range(1)]
    for name in ("violence", "self_harm", "hate")
}


def one_kb_prose() -> str:
    return (PROSE * 4)[:1024]


def one_kb_json() -> str:
    items = []
    while True:
        items.append(
            {"sku": f"SKU-{len(items):04d}", "name": "Blue mug", "price": 9.5, "tags": ["kitchen", "gift"]}
        )
        text = json.dumps({"items": items, "total": 9.5 * len(items)})
        if len(text) >= 1000:
            return text


def timed(function: Callable[[], Any], rounds: int) -> tuple[float, float]:
    function()  # warm caches
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e6)
    quantiles = statistics.quantiles(samples, n=100)
    return quantiles[49], quantiles[98]


def streamed(make: Callable[[], StreamTextGuard], text: str, chunk: int) -> Callable[[], None]:
    chunks = [text[i : i + chunk] for i in range(0, len(text), chunk)]

    def run() -> None:
        guard = make()
        for part in chunks:
            guard.feed(part)
        guard.finish()

    return run


def whole(make: Callable[[], StreamTextGuard], text: str) -> Callable[[], None]:
    def run() -> None:
        guard = make()
        guard.feed(text)
        guard.finish()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=4, help="characters per stream chunk")
    args = parser.parse_args()
    rounds, chunk = args.rounds, args.chunk

    answer_json = one_kb_json()
    body = {
        "messages": [{"role": "user", "content": "list"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "items", "strict": True, "schema": SCHEMA},
        },
    }
    response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer_json}}]}
    plain_body = {"messages": [{"role": "user", "content": "hi"}]}
    prose = one_kb_prose()
    moderator = Moderator(CATEGORIES)
    detector = PiiDetector()
    scanner = LeakScanner(detector, allowed=["jane@example.com"])
    canary = new_canary()

    def cold_schema() -> None:
        schema_module._CACHE.clear()
        expected_schemas(body)

    rows: list[tuple[str, tuple[float, float]]] = [
        (
            "no schema asked: `expected_schemas` fast path",
            timed(lambda: expected_schemas(plain_body), rounds),
        ),
        ("schema: `expected_schemas` (cached validator)", timed(lambda: expected_schemas(body), rounds)),
        ("schema: first sight of a schema (check + compile)", timed(cold_schema, max(50, rounds // 20))),
        (
            "schema: `expected_schemas` + `check_response`, valid 1 KB",
            timed(lambda: expected_schemas(body).check_response(response), rounds),  # type: ignore[union-attr]
        ),
        ("moderation: `check`, 3 x 60 terms", timed(lambda: moderator.check(prose), rounds)),
        ("leaks: `LeakScanner.findings`", timed(lambda: scanner.findings(prose), rounds)),
        ("canary: `leaked`", timed(lambda: leaked(canary, prose), rounds)),
    ]

    def all_guards(mode: str) -> Callable[[], StreamTextGuard]:
        return lambda: StreamTextGuard(moderator=moderator, leaks=scanner, canary=canary, mode=mode)  # type: ignore[arg-type]

    stream_rounds = max(50, rounds // 10)
    rows += [
        (
            "text guard, whole answer (moderation + leaks + canary)",
            timed(whole(all_guards("redact"), prose), rounds),
        ),
        (
            f"stream guard, redact, {chunk}-char chunks, moderation only",
            timed(
                streamed(
                    lambda: StreamTextGuard(moderator=moderator, leaks=None, canary=None, mode="redact"),
                    prose,
                    chunk,
                ),
                stream_rounds,
            ),
        ),
        (
            f"stream guard, redact, {chunk}-char chunks, leaks only",
            timed(
                streamed(
                    lambda: StreamTextGuard(moderator=None, leaks=scanner, canary=None, mode="redact"),
                    prose,
                    chunk,
                ),
                stream_rounds,
            ),
        ),
        (
            f"stream guard, redact, {chunk}-char chunks, all three",
            timed(streamed(all_guards("redact"), prose, chunk), stream_rounds),
        ),
        (
            f"stream guard, redact, {chunk}-char chunks, all three, `scan_every=16`",
            timed(
                streamed(
                    lambda: StreamTextGuard(
                        moderator=moderator, leaks=scanner, canary=canary, mode="redact", scan_every=16
                    ),
                    prose,
                    chunk,
                ),
                stream_rounds,
            ),
        ),
        (
            f"stream guard, redact, {chunk * 4}-char chunks, all three",
            timed(streamed(all_guards("redact"), prose, chunk * 4), stream_rounds),
        ),
    ]
    print(f"1 KB answer; {rounds} rounds (stream rows {stream_rounds}); Python {sys.version.split()[0]}\n")
    print("| check | p50 µs | p99 µs |")
    print("|---|---:|---:|")
    for name, (p50, p99) in rows:
        print(f"| {name} | {p50:,.1f} | {p99:,.1f} |")


if __name__ == "__main__":
    main()
