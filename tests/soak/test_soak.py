"""The short soak in the suite: a minute of steady mixed load with streams, cache and limits on Redis.

The full run is ``python -m tests.soak --minutes 10`` (docs/deploy.md has its figures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.driver import SoakSettings, SoakUnavailable, run_soak

SHORT = SoakSettings(seconds=60, rate=25, warmup_seconds=20, sample_seconds=2)


async def test_a_minute_of_steady_load_leaks_nothing(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    try:
        report = await run_soak(SHORT, tmp_path)
    except SoakUnavailable as error:
        pytest.skip(str(error))
    print(report.table())
    print(report.figures())
    assert not report.problems(), report.problems()
    assert report.sent >= SHORT.seconds * SHORT.rate * 0.95
    assert report.cache["hit"] > 0 and report.cache["miss"] > 0  # the cache was exercised both ways
