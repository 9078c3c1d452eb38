"""The A/B comparison statistics against published reference values."""

from __future__ import annotations

import math

import pytest

from bastion.routing.experiments import Sample, compare, newcombe, t_975, totals_by_experiment, welch, wilson


def sample(values: list[float]) -> Sample:
    return Sample(len(values), sum(values), sum(v * v for v in values))


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423)]
)
def test_t_quantile(df: float, expected: float) -> None:
    assert t_975(df) == pytest.approx(expected, abs=2e-3)


def test_wilson_interval() -> None:
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 0) is None


def test_newcombe_difference_of_proportions() -> None:
    # Newcombe (1998), example (a): 56/70 - 48/80 = 0.2, 95% CI 0.0524 to 0.3339
    result = newcombe(56, 70, 48, 80)
    assert result is not None
    assert result["difference"] == pytest.approx(0.2)
    assert result["ci95"] == pytest.approx([0.0524, 0.3339], abs=1e-4)
    assert result["significant"]


def test_welch_matches_the_textbook_example() -> None:
    # Welch's t-test example (Wikipedia, "Welch's t-test", example 2): t = -2.46, df = 24.9
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = welch(sample(a1), sample(a2))
    assert result is not None
    se = (result["ci95"][1] - result["ci95"][0]) / 2 / t_975(result["df"])
    assert result["difference"] / se == pytest.approx(-2.46, abs=0.01)
    assert result["df"] == pytest.approx(24.9, abs=0.1)
    assert result["significant"]


def test_sample_mean_interval() -> None:
    values = [10.0, 12.0, 9.0, 11.0, 13.0]
    interval = sample(values).interval()
    sd = math.sqrt(2.5)
    assert interval == pytest.approx(
        (11 - 2.7764 * sd / math.sqrt(5), 11 + 2.7764 * sd / math.sqrt(5)), abs=1e-2
    )
    assert Sample(1, 5.0, 25.0).interval() is None


def test_report_merges_rows_by_experiment_and_compares_with_the_control() -> None:
    def row(route: str, variant: str, n: int, errors: int, latencies: list[float]) -> dict[str, object]:
        return {
            "route_rule": route,
            "variant": variant,
            "requests": n,
            "errors": errors,
            "cache_hits": 0,
            "measured": len(latencies),
            "latency_sum": sum(latencies),
            "latency_squares": sum(v * v for v in latencies),
            "cost_sum": 0.001 * len(latencies),
            "cost_squares": 0.000001 * len(latencies),
        }

    rows = [
        row("chat-ab", "control", 50, 5, [100.0, 110.0, 90.0] * 15),
        row("cap-long,chat-ab", "control", 10, 0, [105.0] * 10),
        row("chat-ab", "candidate", 40, 0, [60.0, 70.0, 65.0] * 13),
        row("other", "x", 3, 0, [1.0, 2.0, 3.0]),
    ]
    feedback = [
        {
            "route_rule": "chat-ab",
            "variant": "control",
            "count": 4,
            "score_sum": 0.0,
            "score_squares": 4.0,
            "positives": 2,
        },
        {
            "route_rule": "cap-long,chat-ab",
            "variant": "control",
            "count": 2,
            "score_sum": 2.0,
            "score_squares": 2.0,
            "positives": 2,
        },
        {
            "route_rule": "chat-ab",
            "variant": "candidate",
            "count": 3,
            "score_sum": -3.0,
            "score_squares": 3.0,
            "positives": 0,
        },
        {
            "route_rule": "cheap-for-summaries",
            "variant": None,
            "count": 9,
            "score_sum": 9.0,
            "score_squares": 9.0,
            "positives": 9,
        },
    ]
    totals = totals_by_experiment(rows, feedback)
    assert set(totals) == {"chat-ab", "other"}
    report = compare("chat-ab", [("control", "gpt-4o", 0.9), ("candidate", "haiku", 0.1)], totals["chat-ab"])
    control, candidate = report["variants"]
    assert control["requests"] == 60 and control["error_rate"]["errors"] == 5
    assert control["vs_control"] is None
    assert control["feedback"]["n"] == 6 and control["feedback"]["mean"] == pytest.approx(2 / 6)
    assert control["feedback"]["positive_share"] == pytest.approx(4 / 6)
    low, high = control["feedback"]["ci95"]
    # scores 1, 1, 1, 1, -1, -1: variance (6 - 4/6) / 5
    half = t_975(5) * math.sqrt((6 - 4 / 6) / 5 / 6)
    assert (low, high) == pytest.approx((2 / 6 - half, 2 / 6 + half))
    assert candidate["feedback"]["mean"] == -1.0 and candidate["feedback"]["positive_share"] == 0.0
    vs = candidate["vs_control"]
    assert vs["latency_ms"]["difference"] < 0 and vs["latency_ms"]["significant"]
    assert vs["cost_usd"]["difference"] == pytest.approx(0.0, abs=1e-12)
    assert not vs["cost_usd"]["significant"]
    assert vs["error_rate"]["difference"] < 0
    assert vs["feedback"]["difference"] == pytest.approx(-1 - 2 / 6)
    assert vs["feedback"]["significant"]
    assert report["feedback"]["n"] == 9 and report["feedback"]["mean"] == pytest.approx(-1 / 9)
    unscored = compare("other", [("x", "m", 1.0)], totals["other"])
    assert unscored["variants"][0]["feedback"] == {"n": 0, "mean": None, "ci95": None, "positive_share": None}
