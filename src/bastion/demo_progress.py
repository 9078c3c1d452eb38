"""The demo's live view: a progress bar on stderr and a watch on the gateway's breakers.

The watch reads what an operator would: ``GET /metrics`` (breaker transitions) and
``GET /admin/deployments`` (each breaker's state and why it is in it), once a second.
On a terminal the bar is redrawn in place; otherwise (a log, CI) it prints a line every
``line_every_seconds`` so the output stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from typing import TextIO

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bastion.demo_traffic import Traffic

BAR_WIDTH = 20


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class BreakerWatch:
    """Breaker trips per deployment and the reason each last opened, read from the running gateway."""

    base: str
    admin_key: str
    trips: dict[str, int] = field(default_factory=dict)
    first_reasons: dict[str, str] = field(default_factory=dict)  # why each breaker opened the first time
    states: dict[str, str] = field(default_factory=dict)

    @property
    def total_trips(self) -> int:
        return sum(self.trips.values())

    async def poll(self, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{self.base}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            if family.name != "bastion_breaker_transitions":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("state") == "open":
                    self.trips[sample.labels["deployment"]] = int(sample.value)
        headers = {"authorization": f"Bearer {self.admin_key}"}
        async with session.get(f"{self.base}/admin/deployments", headers=headers) as response:
            groups = (await response.json())["groups"]
        for group in groups.values():
            for deployment in group["deployments"]:
                breaker = deployment["breaker"]
                self.states[deployment["deployment"]] = breaker["state"]
                if breaker["state"] == "open" and breaker["reason"]:
                    self.first_reasons.setdefault(deployment["deployment"], breaker["reason"])


@dataclass
class ProgressBar:
    """Draws the run's progress: time, requests, rate, P95 latency, failovers, fallbacks, breaker trips."""

    traffic: Traffic
    watch: BreakerWatch
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    refresh_seconds: float = 0.25
    line_every_seconds: float = 10.0

    def line(self) -> str:
        traffic = self.traffic
        done = traffic.progress()
        filled = round(done * BAR_WIDTH)
        ok = [o for o in traffic.outcomes if o.ok]
        p95 = percentile([o.seconds * 1000 for o in ok], 0.95)
        failovers = sum(1 for o in ok if o.attempts > 1 and not o.fallback)
        fallbacks = sum(1 for o in ok if o.fallback)
        elapsed = traffic.elapsed()
        rate = len(traffic.outcomes) / elapsed if elapsed else 0.0
        # past the end, the last requests in flight are finishing: no "12/10 s"
        total = f"/{traffic.seconds:.0f}" if traffic.seconds and elapsed <= traffic.seconds else ""
        trips = self.watch.total_trips
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {elapsed:3.0f}{total} s  "
            f"{len(traffic.outcomes):,} req  {rate:.1f}/s  p95 {p95:.0f} ms  "
            f"{failovers} failovers  {fallbacks} fallbacks  {trips} breaker trip{'s' * (trips != 1)}"
        )

    async def run(self, session: aiohttp.ClientSession, finished: asyncio.Event) -> None:
        """Redraw until ``finished`` is set, polling the breakers once a second; then draw the last state."""
        tty = self.stream.isatty()
        last_poll = last_line = 0.0
        while not finished.is_set():
            elapsed = self.traffic.elapsed()
            if elapsed - last_poll >= 1.0:
                last_poll = elapsed
                await self._poll(session)
            if tty:
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
            elif elapsed - last_line >= self.line_every_seconds and self.traffic.progress() < 1:
                last_line = elapsed
                if elapsed >= 1.0:
                    print(self.line(), file=self.stream, flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self.refresh_seconds)
        await self._poll(session)
        print(("\r" if tty else "") + self.line() + ("\x1b[K" if tty else ""), file=self.stream, flush=True)

    async def _poll(self, session: aiohttp.ClientSession) -> None:
        # the watch is best effort: the report says what it could read
        with contextlib.suppress(aiohttp.ClientError, KeyError, ValueError):
            await self.watch.poll(session)
