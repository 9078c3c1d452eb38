"""Comparing the variants of an A/B split from the usage ledger, with 95% confidence intervals.

Inputs are the ledger's per-variant totals (``Store.variant_totals``: counts, sums and sums of
squares), so a report is one aggregate query however many requests ran. For each variant:
the error rate with a Wilson score interval, and the mean latency and mean cost per answered,
uncached request with a Student t interval. Each variant after the first (the control) is
compared with the control: differences in means with Welch's t interval (unequal variances),
the difference in error rates with Newcombe's hybrid score interval. A difference is
``significant`` when its interval excludes zero. Feedback scores (``POST /v1/feedback``, in
[-1, 1], from ``Store.feedback_report`` grouped by route rule and variant) get the same
treatment: a mean with a t interval per variant, and Welch's interval against the control.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Z_975 = 1.959963984540054
_T_SMALL_DF = {
    1: 12.706204736,
    2: 4.302652730,
    3: 3.182446305,
    4: 2.776445105,
    5: 2.570581836,
    6: 2.446911851,
}
FEEDBACK_NOTE = (
    "feedback: scores in [-1, 1] from POST /v1/feedback (the latest per request), for the requests "
    "in the window; n is the number of requests scored"
)


def t_975(df: float) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (fractional df allowed).

    A Cornish-Fisher expansion around the normal quantile: within 0.001 of the exact value for
    df >= 6; below that, interpolated between exact values.
    """
    if df < 1:
        return math.inf
    if df < 6:
        low = math.floor(df)
        fraction = df - low
        return _T_SMALL_DF[low] + fraction * (_T_SMALL_DF[low + 1] - _T_SMALL_DF[low])
    z = Z_975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def wilson(successes: int, total: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of a proportion (None without observations)."""
    if total <= 0:
        return None
    p = successes / total
    z2 = Z_975 * Z_975
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = Z_975 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Sample:
    """A mean and its variance, from a count, a sum and a sum of squares."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        if self.n < 2:
            return None
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))

    def interval(self) -> tuple[float, float] | None:
        mean, variance = self.mean, self.variance
        if mean is None or variance is None:
            return None
        half = t_975(self.n - 1) * math.sqrt(variance / self.n)
        return mean - half, mean + half


def welch(candidate: Sample, control: Sample) -> dict[str, Any] | None:
    """Difference of means (candidate - control) with Welch's 95% interval."""
    a, b = candidate.variance, control.variance
    if a is None or b is None or candidate.mean is None or control.mean is None:
        return None
    va, vb = a / candidate.n, b / control.n
    difference = candidate.mean - control.mean
    se = math.sqrt(va + vb)
    if se == 0:
        return {"difference": difference, "ci95": [difference, difference], "significant": difference != 0}
    df = (va + vb) ** 2 / ((va * va) / (candidate.n - 1) + (vb * vb) / (control.n - 1))
    half = t_975(df) * se
    low, high = difference - half, difference + half
    return {"difference": difference, "ci95": [low, high], "significant": low > 0 or high < 0, "df": df}


def newcombe(errors_a: int, n_a: int, errors_b: int, n_b: int) -> dict[str, Any] | None:
    """Difference of proportions (a - b) with Newcombe's hybrid score 95% interval."""
    first, second = wilson(errors_a, n_a), wilson(errors_b, n_b)
    if first is None or second is None:
        return None
    pa, pb = errors_a / n_a, errors_b / n_b
    difference = pa - pb
    low = difference - math.sqrt((pa - first[0]) ** 2 + (second[1] - pb) ** 2)
    high = difference + math.sqrt((first[1] - pa) ** 2 + (pb - second[0]) ** 2)
    return {"difference": difference, "ci95": [low, high], "significant": low > 0 or high < 0}


@dataclass
class VariantTotals:
    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    latency: Sample = field(default_factory=lambda: Sample(0, 0.0, 0.0))
    cost: Sample = field(default_factory=lambda: Sample(0, 0.0, 0.0))
    feedback: Sample = field(default_factory=lambda: Sample(0, 0.0, 0.0))
    positives: int = 0  # feedback scores above 0

    def add(self, row: dict[str, Any]) -> None:
        measured = int(row["measured"] or 0)
        self.requests += int(row["requests"] or 0)
        self.errors += int(row["errors"] or 0)
        self.cache_hits += int(row["cache_hits"] or 0)
        self.latency = Sample(
            self.latency.n + measured,
            self.latency.total + float(row["latency_sum"] or 0),
            self.latency.squares + float(row["latency_squares"] or 0),
        )
        self.cost = Sample(
            self.cost.n + measured,
            self.cost.total + float(row["cost_sum"] or 0),
            self.cost.squares + float(row["cost_squares"] or 0),
        )

    def add_feedback(self, row: dict[str, Any]) -> None:
        """Add a ``Store.feedback_report`` row (count, score_sum, score_squares, positives)."""
        self.feedback = Sample(
            self.feedback.n + int(row["count"] or 0),
            self.feedback.total + float(row["score_sum"] or 0),
            self.feedback.squares + float(row["score_squares"] or 0),
        )
        self.positives += int(row["positives"] or 0)


def totals_by_experiment(
    rows: Iterable[dict[str, Any]], feedback: Iterable[dict[str, Any]] = ()
) -> dict[str, dict[str, VariantTotals]]:
    """Ledger totals (and feedback, grouped by route_rule and variant) per experiment and variant.

    The experiment is the last name of ``route_rule``; feedback rows without a variant are skipped.
    """
    result: dict[str, dict[str, VariantTotals]] = {}
    for row in rows:
        _variant(result, row).add(row)
    for row in feedback:
        if row.get("variant") is not None:
            _variant(result, row).add_feedback(row)
    return result


def _variant(result: dict[str, dict[str, VariantTotals]], row: dict[str, Any]) -> VariantTotals:
    experiment = (row.get("route_rule") or "").rsplit(",", 1)[-1]
    return result.setdefault(experiment, {}).setdefault(row["variant"], VariantTotals())


def _mean(sample: Sample) -> dict[str, Any]:
    interval = sample.interval()
    return {"n": sample.n, "mean": sample.mean, "ci95": list(interval) if interval else None}


def _feedback(sample: Sample, positives: int) -> dict[str, Any]:
    return {**_mean(sample), "positive_share": positives / sample.n if sample.n else None}


def compare(
    experiment: str, arms: list[tuple[str, str, float]], totals: dict[str, VariantTotals]
) -> dict[str, Any]:
    """The report for one experiment; ``arms`` are (variant, model group, share) in config order."""
    known = {name for name, _, _ in arms}
    arms = arms + [(name, "", 0.0) for name in sorted(totals) if name not in known]  # removed since
    control_name = arms[0][0]
    control = totals.get(control_name, VariantTotals())
    variants = []
    overall, positives = Sample(0, 0.0, 0.0), 0
    for name, model, share in arms:
        data = totals.get(name, VariantTotals())
        interval = wilson(data.errors, data.requests)
        entry: dict[str, Any] = {
            "name": name,
            "model": model or None,
            "share": share,
            "requests": data.requests,
            "cache_hits": data.cache_hits,
            "error_rate": {
                "value": data.errors / data.requests if data.requests else None,
                "errors": data.errors,
                "ci95": list(interval) if interval else None,
            },
            "latency_ms": _mean(data.latency),
            "cost_usd": _mean(data.cost),
            "feedback": _feedback(data.feedback, data.positives),
            "vs_control": None,
        }
        if name != control_name:
            entry["vs_control"] = {
                "latency_ms": welch(data.latency, control.latency),
                "cost_usd": welch(data.cost, control.cost),
                "error_rate": newcombe(data.errors, data.requests, control.errors, control.requests),
                "feedback": welch(data.feedback, control.feedback),
            }
        variants.append(entry)
        overall = Sample(
            overall.n + data.feedback.n,
            overall.total + data.feedback.total,
            overall.squares + data.feedback.squares,
        )
        positives += data.positives
    return {
        "experiment": experiment,
        "control": control_name,
        "variants": variants,
        "feedback": _feedback(overall, positives),
        "notes": [
            "latency and cost: answered (status < 400), uncached requests; error rate: all requests",
            "differences are variant - control; significant: the 95% interval excludes 0",
            FEEDBACK_NOTE,
        ],
    }
