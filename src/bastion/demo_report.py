"""The demo's closing report: what clients saw, what the gateway did, and what it cost.

Client-side numbers (latency, time to first token, failovers, fallbacks, cache answers, masked
prompts) come from the answers and their ``x-bastion-*`` headers; breaker trips from the
gateway's metrics; spend and savings from its usage ledger (``GET /admin/usage``), so the
report shows the same figures the dashboard and ``bastion usage`` would.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp

from bastion.demo_progress import BreakerWatch, percentile
from bastion.demo_traffic import TEAMS, Outcome, Traffic

LABEL_WIDTH = 18


def usd(value: float) -> str:
    """Dollars to a hundredth of a cent: a demo's requests are cheap."""
    return f"${value:,.4f}"


async def usage(
    session: aiohttp.ClientSession, base: str, admin_key: str, group_by: str
) -> list[dict[str, Any]]:
    """The ledger grouped by one dimension (the admin endpoint flushes pending rows first)."""
    headers = {"authorization": f"Bearer {admin_key}"}
    async with session.get(f"{base}/admin/usage?group_by={group_by}", headers=headers) as response:
        response.raise_for_status()
        return list((await response.json())["data"])


@dataclass
class Report:
    """Prints the report; ``out`` is stdout unless a test passes something else."""

    traffic: Traffic
    watch: BreakerWatch
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def line(self, label: str, text: str) -> None:
        print(f"  {label:<{LABEL_WIDTH}}{text}", file=self.out)

    def print_traffic(self) -> None:
        outcomes = self.traffic.outcomes
        elapsed = self.traffic.elapsed() or 1.0
        ok = [o for o in outcomes if o.ok]
        kinds = Counter(o.kind for o in outcomes)
        users = sum(len(members) for _, members in TEAMS.values())
        features = len({o.feature for o in outcomes})
        print(f"\nWhat happened in {elapsed:.1f} s", file=self.out)
        self.line(
            "requests",
            f"{len(outcomes):,} from {users} users in {len(TEAMS)} teams, {features} features "
            f"({len(outcomes) / elapsed:.1f}/s): {kinds['stream']:,} streamed, {kinds['chat']:,} chat, "
            f"{kinds['embeddings']:,} embeddings",
        )
        static = sum(1 for o in ok if o.degraded == "static")
        self.line("answered", f"{len(ok):,}   failed {len(outcomes) - len(ok)}   static replies {static}")
        failovers = [o for o in ok if o.attempts > 1 and not o.fallback]
        self.line(
            "failovers",
            f"{len(failovers):,} requests failed on one deployment and were answered by the next "
            "(the flaky provider's errors; clients saw none)",
        )
        fallbacks = Counter(f"{o.model} -> {o.fallback}" for o in ok if o.fallback)
        detail = ", ".join(f"{route} {count:,}" for route, count in fallbacks.most_common())
        self.line(
            "fallbacks",
            f"{sum(fallbacks.values()):,} requests answered by a fallback model group"
            + (f" ({detail})" if detail else ""),
        )
        self.print_breakers()
        served = Counter("cache" if o.cache in ("hit", "semantic-hit") else o.provider for o in ok)
        self.line("served by", ", ".join(f"{name} {count:,}" for name, count in served.most_common()))
        self.print_latency(ok)
        masked = [o for o in ok if "pii=mask" in o.guards]
        self.line(
            "personal data",
            f"{len(masked):,} prompts carried an email or phone number, masked before leaving the gateway "
            "(support-bot)",
        )

    def print_breakers(self) -> None:
        watch = self.watch
        self.line("breaker trips", f"{watch.total_trips}")
        for deployment, count in sorted(watch.trips.items(), key=lambda item: -item[1]):
            if not count:
                continue
            provider = deployment.split("/")[1] if deployment.count("/") >= 2 else deployment
            reason = watch.first_reasons.get(deployment, "")
            state = watch.states.get(deployment, "?")
            self.line("", f"{provider:<7} {count}x  {reason}  (now {state})")

    def print_latency(self, ok: list[Outcome]) -> None:
        latencies = [o.seconds * 1000 for o in ok]
        if latencies:
            self.line(
                "latency",
                f"p50 {statistics.median(latencies):,.0f} ms   p95 {percentile(latencies, 0.95):,.0f} ms   "
                f"p99 {percentile(latencies, 0.99):,.0f} ms",
            )
        first_bytes = [o.first_byte_seconds * 1000 for o in ok if o.kind == "stream"]
        if first_bytes:
            self.line(
                "first token",
                f"p50 {statistics.median(first_bytes):,.0f} ms   p95 {percentile(first_bytes, 0.95):,.0f} ms"
                f"   ({len(first_bytes):,} streams)",
            )

    async def print_ledger(self, session: aiohttp.ClientSession, base: str, admin_key: str) -> None:
        ok = [o for o in self.traffic.outcomes if o.ok]
        by_feature = await usage(session, base, admin_key, "feature")
        rows = sum(row["requests"] for row in by_feature)
        spent = sum(row["cost_usd"] for row in by_feature)
        saved = sum(row["cost_saved_usd"] for row in by_feature)
        hits = sum(row["cache_hits"] for row in by_feature)
        cacheable = sum(1 for o in ok if o.cache in ("hit", "semantic-hit", "miss"))
        self.line(
            "cache",
            f"{hits:,} of {cacheable:,} repeatable requests answered from the cache, saving {usd(saved)}",
        )
        sent = len(self.traffic.outcomes)
        match = "one row per request sent" if rows == sent else f"but {sent:,} requests were sent"
        self.line("ledger", f"{rows:,} rows, {match}")
        self.line("spend", f"{usd(spent)} in all (illustrative prices)")
        self._table("by feature", by_feature, "feature")
        self._table("by team", await usage(session, base, admin_key, "team_id"), "team_id")
        self._table("by user", await usage(session, base, admin_key, "user_id"), "user_id")

    def _table(self, label: str, rows: list[dict[str, Any]], column: str) -> None:
        for index, row in enumerate(rows):
            self.line(
                label if index == 0 else "",
                f"{row[column] or '-':<18} {row['requests']:>6,} req  {usd(row['cost_usd']):>10}"
                f"  saved {usd(row['cost_saved_usd'])}",
            )

    async def print(self, session: aiohttp.ClientSession, base: str, admin_key: str) -> None:
        self.print_traffic()
        await self.print_ledger(session, base, admin_key)
        self.out.flush()
