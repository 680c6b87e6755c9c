"""The compose deployment's Grafana dashboard and Prometheus config, loaded for tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "genai-flow.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# Every metric of ours or of the Temporal SDK starts with one of these; label names never do.
METRIC = re.compile(r"\b((?:genai|temporal)_[a-zA-Z0-9_]+)\b")


def dashboard() -> dict[str, Any]:
    """The dashboard JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def prometheus_config() -> dict[str, Any]:
    """The Prometheus scrape config."""
    loaded: dict[str, Any] = yaml.safe_load(PROMETHEUS.read_text())
    return loaded


def expressions(node: Any = None) -> Iterator[str]:
    """Every PromQL `expr` in the dashboard (panels, rows, templating)."""
    node = dashboard() if node is None else node
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def dashboard_metrics() -> set[str]:
    """Metric names the dashboard's queries reference."""
    return {name for expr in expressions() for name in METRIC.findall(expr)}
