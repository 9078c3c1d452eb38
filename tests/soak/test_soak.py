"""The short soak in the suite: a minute of steady mixed load with streams, cache and limits on Redis.

The full run is ``python -m tests.soak --minutes 10`` (docs/deploy.md has its figures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.driver import Sample, SoakReport, SoakSettings, SoakUnavailable, run_soak

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


def _report(rss: list[int], fds: list[int], upstream: list[int]) -> SoakReport:
    report = SoakReport(settings=SoakSettings(warmup_seconds=2, sample_seconds=1), storage="sqlite")
    report.sent = report.answered = report.ledger_rows = 100
    report.ledger_dropped = 0.0
    for t, (memory, files, sockets) in enumerate(zip(rss, fds, upstream, strict=True)):
        report.samples.append(Sample(float(t), memory * 2**20, files, {"upstream": sockets}))
    return report


def test_the_judge_passes_a_flat_run_and_names_each_kind_of_growth() -> None:
    flat = _report([100] * 12, [30] * 12, [4] * 12)
    assert flat.problems() == []
    leaking = _report(
        [90, 95, 100, 100, 100, 100, 102, 104, 106, 108, 108, 108],  # warm-up growth is not judged
        [20, 25, 30, 30, 30, 30, 40, 50, 60, 65, 65, 65],
        [2, 3, 4, 4, 4, 4, 10, 20, 30, 32, 32, 32],
    )
    problems = leaking.problems()
    assert any(p.startswith("resident memory grew 8.0%") for p in problems), problems
    assert any("file descriptors grew from 30 to 65" in p for p in problems), problems
    assert any("sockets to upstream grew from 4 to 32" in p for p in problems), problems
    leaking.errors["status 502"] += 1
    leaking.ledger_rows = 99
    assert any("1 requests failed" in p for p in leaking.problems())
    assert any("the ledger holds 99 rows for 100 requests" in p for p in leaking.problems())
