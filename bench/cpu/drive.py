#!/usr/bin/env python3
"""Send N chat completions to a gateway at concurrency 8 over keep-alive; exit 1 on any non-200.

The request is the benchmark's (bench/harness/wrk/chat.lua's prompt is ~200 tokens; this one is
the same size). Used by instructions.sh, between its callgrind on/off switches.

  drive.py PORT N [stream]
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

PROMPT = (
    "Please summarise the following text in two sentences for a busy engineering manager. "
    "Our team spent the last quarter migrating the order processing service from a single "
    "monolithic database to a set of smaller services, each owning its own storage. The "
    "migration was planned in four phases: first we added change data capture on the old "
    "tables, then we built read models in the new services, then we moved writes behind a "
    "feature flag, and finally we removed the old code paths."
)


async def main(port: int, count: int, stream: bool) -> int:
    body: dict[str, object] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": 256,
        "temperature": 0.7,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    left = count
    failed = 0
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    async with aiohttp.ClientSession(headers={"authorization": "Bearer sk-bench-0123456789"}) as session:

        async def worker() -> None:
            nonlocal left, failed
            while left > 0:
                left -= 1
                async with session.post(url, json=body) as response:
                    await response.read()
                    failed += response.status != 200

        await asyncio.gather(*(worker() for _ in range(8)))
    if failed:
        print(f"{failed} of {count} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    stream = len(sys.argv) > 3 and sys.argv[3] == "stream"
    sys.exit(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), stream)))
