"""Run one provider fake as its own process, for benchmarks and manual chaos experiments.

    python -m tests.fakes.serve --kind openai --port 9101
    python -m tests.fakes.serve --kind anthropic --port 9102 --chaos '{"error_rate": 0.3}'

Break and heal it at run time through its control routes (see ``tests.fakes.base``):

    curl -X POST localhost:9101/_chaos -d '{"ttft_seconds": 3}'    # degrade
    curl -X POST localhost:9101/_chaos -d '{}'                      # heal
    curl -X POST localhost:9101/_pause -d '{"seconds": 10}'         # hard down for 10 s
    curl localhost:9101/_stats                                      # requests received
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from .anthropic_fake import AnthropicFake
from .base import Chaos, FakeProvider
from .gemini_fake import GeminiFake
from .openai_fake import OpenAIFake

KINDS: dict[str, type[FakeProvider]] = {
    "openai": OpenAIFake,
    "anthropic": AnthropicFake,
    "gemini": GeminiFake,
}


async def serve(fake: FakeProvider, port: int, host: str) -> None:
    await fake.serve(port, host)
    print(f"{type(fake).__name__} listening on http://{host}:{fake.port}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    await stopped.wait()
    await fake.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--chaos", help="initial chaos settings as JSON (tests.fakes.base.Chaos fields)")
    args = parser.parse_args(argv)
    fake = KINDS[args.kind]()
    if args.chaos:
        fake.chaos = Chaos.from_json(json.loads(args.chaos))
    asyncio.run(serve(fake, args.port, args.host))


if __name__ == "__main__":
    main()
