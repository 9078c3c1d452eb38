"""``python -m tests.soak [--minutes 10] [--rate 25]``: the full soak run; prints the samples and figures.

Exit status 0 when every bound held, 1 when one did not (each problem printed), 2 when something
the run needs is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from tests.soak.driver import SoakSettings, SoakUnavailable, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    parser.add_argument("--rate", type=float, default=25.0, help="requests started per second (default 25)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds not judged (default: a fifth)")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="between readings (default 5)")
    parser.add_argument("--storage", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    settings = SoakSettings(
        seconds=args.minutes * 60,
        rate=args.rate,
        warmup_seconds=args.warmup,
        sample_seconds=args.sample_seconds,
        storage=args.storage,
    )
    with tempfile.TemporaryDirectory(prefix="bastion-soak-") as folder:
        try:
            report = asyncio.run(run_soak(settings, Path(folder)))
        except SoakUnavailable as error:
            print(f"soak: {error}", file=sys.stderr)
            return 2
    print(report.table())
    figures = report.figures()
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    problems = report.problems()
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("soak: every bound held")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
