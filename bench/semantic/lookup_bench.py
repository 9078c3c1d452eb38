#!/usr/bin/env python3
"""What a semantic cache lookup costs: embedding, index search at 1k / 10k / 100k entries, both together.

  embed      the local embedder (all-MiniLM-L6-v2 in NumPy) on one text, called as the cache calls
             it (``await embedder.embed([text])``, a worker thread); the texts are the 692 sides of
             bench/semantic/pairs.jsonl (5 to 30 word pieces), each embedded --rounds times;
  search     ``SemanticIndex.search`` on one partition holding N random unit vectors (384-dim), the
             worst case: a real cache spreads entries over partitions (group, tenant, context);
             with and without the detail guard (``text=``, ``threshold=``);
  add        ``SemanticIndex.add`` at N entries;
  lookup     semantic_text + embed + search (guarded) on a 10k-entry partition, end to end.
Prints a markdown table. Needs bastion-gateway[semantic] and the model.

    .venv/bin/python bench/semantic/lookup_bench.py [--sizes 1000 10000 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.cache.embedders import DEFAULT_THRESHOLD, LocalEmbedder
from bastion.cache.semantic import SemanticIndex, semantic_text

PAIRS = Path(__file__).with_name("pairs.jsonl")
DIMENSIONS = 384


def texts() -> list[str]:
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    return [text for pair in pairs for text in (pair["a"], pair["b"])]


def percentiles(samples: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(samples) * 1000, [50, 99])
    return float(p50), float(p99)


def filled_index(size: int, rng: np.random.Generator) -> SemanticIndex:
    index = SemanticIndex(max_entries=size)
    vectors = rng.standard_normal((size, DIMENSIONS)).astype(np.float32)
    for row in range(size):
        index.add("bench", vectors[row], f"entry-{row}", time.time() + 3600, text=f"cached question {row}")
    return index


async def measure(sizes: list[int], rounds: int, searches: int) -> list[str]:
    rng = np.random.default_rng(7)
    embedder = LocalEmbedder()
    started = time.perf_counter()
    embedder.load()
    load_seconds = time.perf_counter() - started
    corpus = texts()
    for text in corpus[:20]:  # warm the allocator and BLAS threads
        await embedder.embed([text])
    embed_times = []
    for _ in range(rounds):
        for text in corpus:
            started = time.perf_counter()
            await embedder.embed([text])
            embed_times.append(time.perf_counter() - started)
    rows = [
        f"Model load: {load_seconds:.2f} s. DEFAULT_THRESHOLD {DEFAULT_THRESHOLD}.",
        "",
        "| operation | entries | p50 ms | p99 ms | samples |",
        "|---|---:|---:|---:|---:|",
        "| embed one text (local, worker thread) | - | {:.2f} | {:.2f} | {} |".format(
            *percentiles(embed_times), len(embed_times)
        ),
    ]
    queries = rng.standard_normal((searches, DIMENSIONS)).astype(np.float32)
    index_at_10k: SemanticIndex | None = None
    for size in sizes:
        index = filled_index(size, rng)
        plain, guarded, adds = [], [], []
        for query in queries:
            started = time.perf_counter()
            index.search("bench", query)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            index.search("bench", query, text="a question", threshold=DEFAULT_THRESHOLD)
            guarded.append(time.perf_counter() - started)
        for row in range(min(searches, 1000)):
            started = time.perf_counter()
            index.add("bench", queries[row], f"extra-{row}", time.time() + 3600, text="extra")
            adds.append(time.perf_counter() - started)
        megabytes = size * DIMENSIONS * 4 / 1e6
        rows.append(
            f"| search, best match ({megabytes:.0f} MB of vectors) | {size:,} | "
            "{:.3f} | {:.3f} | {} |".format(*percentiles(plain), len(plain))
        )
        rows.append(
            f"| search, guarded (threshold, text) | {size:,} | {{:.3f}} | {{:.3f}} | {{}} |".format(
                *percentiles(guarded), len(guarded)
            )
        )
        rows.append(
            f"| add (bound reached: evicts the oldest) | {size:,} | "
            + "{:.3f} | {:.3f} | {} |".format(*percentiles(adds), len(adds))
        )
        if size == 10_000:
            index_at_10k = index
    if index_at_10k is None:
        index_at_10k = filled_index(10_000, rng)
    lookups = []
    for _ in range(rounds):
        for text in corpus:
            body = {
                "model": "gpt",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
            }
            started = time.perf_counter()
            _context, query_text = semantic_text(body) or ("", text)
            vector = (await embedder.embed([query_text]))[0]
            index_at_10k.search("bench", vector, text=query_text, threshold=DEFAULT_THRESHOLD)
            lookups.append(time.perf_counter() - started)
    rows.append(
        "| **lookup: semantic_text + embed + guarded search** | 10,000 | **{:.2f}** | {:.2f} | {} |".format(
            *percentiles(lookups), len(lookups)
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 692 query texts")
    parser.add_argument("--searches", type=int, default=2_000, help="searches per index size")
    args = parser.parse_args()
    print("\n".join(asyncio.run(measure(args.sizes, args.rounds, args.searches))))


if __name__ == "__main__":
    main()
