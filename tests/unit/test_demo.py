"""The demo's traffic mix and progress line, without a server."""

from __future__ import annotations

import io
import random
from collections import Counter

from bastion.demo_progress import BreakerWatch, ProgressBar, percentile
from bastion.demo_traffic import FEATURES, TEAMS, Call, Outcome, Traffic


def traffic(**options: object) -> Traffic:
    keys = {user: f"key-{user}" for _, members in TEAMS.values() for user, _ in members}
    return Traffic("http://gateway", keys, rng=random.Random(7), **options)  # type: ignore[arg-type]


def test_the_mix_covers_every_feature_user_and_kind_and_is_reproducible() -> None:
    calls = _calls(traffic(), 2000)
    assert Counter(c.feature for c in calls).keys() == {f.name for f in FEATURES}
    assert {c.user for c in calls} == {user for _, members in TEAMS.values() for user, _ in members}
    assert {c.kind for c in calls} == {"stream", "chat", "embeddings"}
    assert any("@example." in c.body["messages"][0]["content"] for c in calls if c.feature == "support-bot")
    assert all(c.body.get("temperature") == 0 for c in calls if c.feature == "search" and c.kind == "chat")
    assert [c.body for c in _calls(traffic(), 50)] == [c.body for c in _calls(traffic(), 50)]


def _calls(source: Traffic, count: int) -> list[Call]:
    return [source.next_call() for _ in range(count)]


def test_progress_line_counts_failovers_fallbacks_and_trips() -> None:
    now = [100.0]
    run = traffic(seconds=60, clock=lambda: now[0])
    run.started_at = 70.0  # 30 s in
    run.outcomes = [
        Outcome("search", "demo-mini", "chat", 200, 0.1, 0.1, fallback="demo-steady"),
        Outcome("support-bot", "demo-chat", "stream", 200, 0.2, 0.05, attempts=2),
        Outcome("support-bot", "demo-chat", "stream", 200, 0.3, 0.05, attempts=1),
    ]
    watch = BreakerWatch("http://gateway", "admin", trips={"demo-mini/slow/slow-sim-1#0": 1})
    line = ProgressBar(run, watch, stream=io.StringIO()).line()
    assert line == (
        "[##########..........]  30/60 s  3 req  0.1/s  p95 300 ms  1 failovers  1 fallbacks  1 breaker trip"
    )


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) == 0.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
