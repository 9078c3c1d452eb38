"""What the dashboard's panels show, computed from rollup rows (and the router's live state).

Pure functions over what the store returns, so the numbers can be checked without a server:
rates from sums, P50/P95/P99 from histogram bucket counts, zero-filled time series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bastion.store.records import LedgerRow
from bastion.store.rollups import BUCKETS, FIVE_MINUTES, HOUR, LATENCY_COLUMNS, MINUTE, TTFT_COLUMNS, quantile


@dataclass(frozen=True, slots=True)
class Window:
    """A dashboard time range: how far back, which rollup grain it reads, how wide each chart point is."""

    name: str
    seconds: int
    grain: int
    step: int


WINDOWS = {
    window.name: window
    for window in (
        Window("1h", 3_600, MINUTE, 60),
        Window("6h", 6 * 3_600, FIVE_MINUTES, 300),
        Window("24h", 24 * 3_600, FIVE_MINUTES, 900),
        Window("7d", 7 * 86_400, HOUR, HOUR),
        Window("30d", 30 * 86_400, HOUR, 6 * HOUR),
    )
}
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
#: sums carried from rollup rows into totals and series (histograms are folded separately)
_SUMS = (
    "requests",
    "errors",
    "fallbacks",
    "retried",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_saved_usd",
    "latency_sum_ms",
    "ttft_count",
    "ttft_sum_ms",
)


class _Accumulator:
    """Sums of rollup rows (any status class) with their two histograms."""

    __slots__ = ("latency", "sums", "ttft")

    def __init__(self) -> None:
        self.sums = dict.fromkeys(_SUMS, 0.0)
        self.latency = [0] * BUCKETS
        self.ttft = [0] * BUCKETS

    def add(self, row: Mapping[str, Any]) -> None:
        sums = self.sums
        for name in _SUMS:
            if name != "errors":
                sums[name] += row[name]
        if row.get("status_class", 0) >= 400:
            sums["errors"] += row["requests"]
        for index, name in enumerate(LATENCY_COLUMNS):
            self.latency[index] += row[name]
        for index, name in enumerate(TTFT_COLUMNS):
            self.ttft[index] += row[name]

    def summary(self, seconds: float | None = None) -> dict[str, Any]:
        sums = self.sums
        requests = int(sums["requests"])
        result: dict[str, Any] = {
            name: (float(value) if name.endswith(("_usd", "_ms")) else int(value))
            for name, value in sums.items()
        }
        result.update(
            error_rate=_ratio(sums["errors"], requests),
            fallback_rate=_ratio(sums["fallbacks"], requests),
            cache_hit_rate=_ratio(sums["cache_hits"], requests),
            latency_ms=_percentiles(self.latency, sums["latency_sum_ms"], requests),
            ttft_ms=_percentiles(self.ttft, sums["ttft_sum_ms"], int(sums["ttft_count"])),
        )
        if seconds:
            result["throughput_rps"] = requests / seconds
        return result


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _percentiles(counts: Sequence[int], total_ms: float, count: int) -> dict[str, float | None]:
    result = {name: quantile(counts, q) for name, q in QUANTILES}
    result["avg"] = total_ms / count if count else None
    return result


def overview(
    rows: Iterable[Mapping[str, Any]], window: Window, start: float, end: float
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Totals of the window and its zero-filled series, from rows grouped by (t, status_class)."""
    total = _Accumulator()
    points: dict[int, _Accumulator] = {}
    for row in rows:
        total.add(row)
        point = points.get(row["t"])
        if point is None:
            point = points[row["t"]] = _Accumulator()
        point.add(row)
    first = int(start) // window.step * window.step
    times = list(range(first, int(end) + 1, window.step))
    series: dict[str, list[Any]] = {"t": times}
    for name in ("requests", "errors", "fallbacks", "cache_hits", "prompt_tokens", "completion_tokens"):
        series[name] = [int(points[t].sums[name]) if t in points else 0 for t in times]
    series["cost_usd"] = [points[t].sums["cost_usd"] if t in points else 0.0 for t in times]
    # the last point is the interval in progress: its rate is over the part that has passed
    seconds = [float(window.step)] * len(times)
    if times:
        seconds[-1] = max(1.0, min(float(window.step), end - times[-1]))
    series["throughput_rps"] = [count / span for count, span in zip(series["requests"], seconds, strict=True)]
    for kind, attribute in (("latency", "latency"), ("ttft", "ttft")):
        for name, q in QUANTILES:
            series[f"{kind}_{name}"] = [
                quantile(getattr(points[t], attribute), q) if t in points else None for t in times
            ]
    return total.summary(end - start), series


def deployments(
    rows: Iterable[Mapping[str, Any]], groups: Mapping[str, Any], seconds: float
) -> list[dict[str, Any]]:
    """One row per deployment: the window's traffic (rollups) beside its breaker (this replica, live).

    ``rows`` are grouped by (model, provider, deployment, status_class); ``groups`` is the
    router's snapshot. Deployments that are configured but idle are listed with zero traffic;
    traffic with no configured deployment (a fallback's answers under the group asked for, or a
    deployment since removed) is listed without a breaker.
    """
    traffic: dict[tuple[str | None, str | None, str | None], _Accumulator] = {}
    for row in rows:
        key = (row["model"], row["provider"], row["deployment"])
        accumulator = traffic.get(key)
        if accumulator is None:
            accumulator = traffic[key] = _Accumulator()
        accumulator.add(row)
    listed: list[dict[str, Any]] = []
    for group_name, group in groups.items():
        for state in group.get("deployments", []):
            key = (group_name, state.get("provider"), state.get("model"))
            accumulator = traffic.pop(key, None) or _Accumulator()
            listed.append(_deployment_row(key, accumulator, seconds, state))
    for key, accumulator in traffic.items():
        listed.append(_deployment_row(key, accumulator, seconds, None))
    return listed


def _deployment_row(
    key: tuple[str | None, str | None, str | None],
    accumulator: _Accumulator,
    seconds: float,
    state: Mapping[str, Any] | None,
) -> dict[str, Any]:
    model, provider, deployment = key
    summary = accumulator.summary(seconds)
    live = None
    if state is not None:
        stats = state.get("stats") or {}
        live = {
            "deployment": state.get("deployment"),
            "breaker": state.get("breaker"),
            "in_flight": stats.get("in_flight"),
            "error_rate": stats.get("error_rate"),
            "ewma_latency_ms": stats.get("ewma_latency_ms"),
            "ewma_ttft_ms": stats.get("ewma_ttft_ms"),
        }
    return {
        "model": model,
        "provider": provider,
        "deployment": deployment,
        "requests": summary["requests"],
        "errors": summary["errors"],
        "error_rate": summary["error_rate"],
        "fallbacks": summary["fallbacks"],
        "cost_usd": summary["cost_usd"],
        "latency_ms": summary["latency_ms"],
        "ttft_ms": summary["ttft_ms"],
        "live": live,
    }


def spend_by_day(
    rows: Iterable[Mapping[str, Any]], days: Sequence[int], top: int = 8
) -> list[dict[str, Any]]:
    """Cost per day of the ``top`` values (by total over the days), the rest summed as ``other``."""
    per_value: dict[Any, dict[int, float]] = {}
    for row in rows:
        costs = per_value.setdefault(row["value"], {})
        costs[row["day"]] = costs.get(row["day"], 0.0) + row["cost_usd"]
    ranked = sorted(per_value.items(), key=lambda item: (-sum(item[1].values()), str(item[0])))
    result = [
        {"name": name, "cost_usd": [costs.get(day, 0.0) for day in days], "total_usd": sum(costs.values())}
        for name, costs in ranked[:top]
    ]
    rest = ranked[top:]
    if rest:
        costs = [sum(values.get(day, 0.0) for _, values in rest) for day in days]
        result.append({"name": "other", "other": True, "cost_usd": costs, "total_usd": sum(costs)})
    return result


#: ledger fields a recent-requests row shows (the end user is left out: personal, and not needed here)
_REQUEST_FIELDS = (
    "request_id",
    "ts",
    "key_id",
    "user_id",
    "team_id",
    "feature",
    "model",
    "provider",
    "deployment",
    "route",
    "stream",
    "status",
    "error_code",
    "attempts",
    "fallbacks",
    "cache_hit",
    "cache_similarity",
    "route_rule",
    "variant",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_saved_usd",
    "usage_estimated",
)


def request_row(row: LedgerRow) -> dict[str, Any]:
    """A recent request with its decision trail: routing rule, deployment, attempts, fallbacks, cache.

    Guard decisions appear once the ledger keeps them (a ``guards`` field on the row).
    """
    values = asdict(row)
    result = {name: values[name] for name in _REQUEST_FIELDS}
    result["fallbacks"] = [name for name in (row.fallbacks or "").split(",") if name]
    guards = values.get("guards")
    if guards is not None:
        result["guards"] = guards
    return result
