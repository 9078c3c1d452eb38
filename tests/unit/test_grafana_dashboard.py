"""deploy/grafana/bastion-dashboard.json: valid JSON; its queries use only metrics and labels Bastion has.

The metrics are read from the registry the telemetry modules fill when imported (name, type,
label names), so a renamed metric or label fails here rather than as an empty Grafana panel.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import bastion.telemetry
from bastion.telemetry.metrics import METRICS

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "bastion-dashboard.json"
#: names the exposition adds to a metric's own name, per metric type
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
_METRIC = re.compile(r"\b((?:bastion|gen_ai)_[a-z0-9_]+)\s*(\{[^}]*\})?")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def _exported() -> dict[str, tuple[str, ...]]:
    """Every exposed sample name (``bastion_requests_total``…) with the metric's label names."""
    for module in pkgutil.iter_modules(bastion.telemetry.__path__):
        importlib.import_module(f"bastion.telemetry.{module.name}")
    exported: dict[str, tuple[str, ...]] = {}
    for collector in METRICS.registry._collector_to_names:
        kind = getattr(collector, "_type", None)
        if kind not in _SUFFIXES:
            continue
        labels = tuple(collector._labelnames)  # type: ignore[attr-defined]
        for suffix in _SUFFIXES[kind]:
            exported[collector._name + suffix] = labels  # type: ignore[attr-defined]
    return exported


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "model_group"} <= variables
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_every_query_uses_metrics_and_labels_bastion_exports(dashboard: dict[str, Any]) -> None:
    exported = _exported()
    used: set[str] = set()
    for title, expression in _targets(dashboard):
        metrics = _METRIC.findall(_GROUPING.sub("", expression))
        assert metrics, f"{title}: no Bastion metric in {expression}"
        labels_here: set[str] = {"le"}
        for name, selector in metrics:
            assert name in exported, f"{title}: {name} is not exported (have: {sorted(exported)})"
            used.add(name)
            labels_here.update(exported[name])
            for label in _MATCHER.findall(selector):
                assert label in exported[name], f"{title}: {name} has no label {label!r}"
        for grouping in _GROUPING.findall(expression):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in labels_here, f"{title}: grouping by {label!r}, which no metric here has"
    # the panels the dashboard is for: GenAI latency and TTFT, requests, breakers, cost, cache
    assert {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "bastion_requests_total",
        "bastion_breaker_state",
        "bastion_cost_usd_total",
        "bastion_cache_lookups_total",
    } <= used
