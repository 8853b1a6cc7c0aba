"""Grafana dashboards as code, generated from the telemetry schema (controllers.telemetry), so a field added
there is charted here without anyone editing JSON by hand.

Queries are InfluxQL on the InfluxDB v1 API datasource named `signalight-influxdb` (provisioning/datasources).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controllers.devices import DeviceKind
from controllers.telemetry import FIELDS, TAG_DEVICE, TAG_SITE, measurement

DATASOURCE = {"type": "influxdb", "uid": "signalight-influxdb"}

TITLES = {
    DeviceKind.SIGNAL_CONTROLLER: "Tín hiệu giao thông / Traffic signals",
    DeviceKind.LIGHTING_CABINET: "Tủ chiếu sáng / Lighting cabinets",
}

# Panels group fields that share a unit; Grafana unit ids for the SI units we use.
GRAFANA_UNITS = {"V": "volt", "A": "amp", "W": "watt", "kWh": "kwatth", "%": "percent", "s": "s", "h": "h",
                 "°C": "celsius", "lx": "lux", "veh": "short", "": "short"}


def _query(kind: DeviceKind, field: str) -> dict[str, Any]:
    m = measurement(kind)
    return {
        "datasource": DATASOURCE,
        "refId": field,
        "rawQuery": True,
        "resultFormat": "time_series",
        "alias": f"$tag_{TAG_DEVICE} {field}",
        "query": (f'SELECT mean("{field}") FROM "{m}" WHERE "{TAG_SITE}" =~ /^$site$/ AND "{TAG_DEVICE}" =~ '
                  f'/^$device$/ AND $timeFilter GROUP BY time($__interval), "{TAG_DEVICE}" fill(null)'),
    }


def dashboard(kind: DeviceKind) -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39) of one device kind: one panel per unit."""
    by_unit: dict[str, list[str]] = {}
    for field, unit in FIELDS[kind].items():
        by_unit.setdefault(unit, []).append(field)
    panels = []
    for i, (unit, fields) in enumerate(sorted(by_unit.items())):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": f"{unit or 'count'}: {', '.join(fields[:4])}"
            + (" …" if len(fields) > 4 else ""),
            "datasource": DATASOURCE, "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": GRAFANA_UNITS.get(unit, "short")}, "overrides": []},
            "targets": [_query(kind, f) for f in fields],
        })
    m = measurement(kind)
    variables = [
        {"name": "site", "type": "query", "datasource": DATASOURCE, "refresh": 1, "includeAll": True, "multi": True,
         "query": f'SHOW TAG VALUES FROM "{m}" WITH KEY = "{TAG_SITE}"'},
        {"name": "device", "type": "query", "datasource": DATASOURCE, "refresh": 1, "includeAll": True,
         "multi": True,
         "query": f'SHOW TAG VALUES FROM "{m}" WITH KEY = "{TAG_DEVICE}" WHERE "{TAG_SITE}" =~ /^$site$/'},
    ]
    return {
        "uid": f"signalight-{m.replace('_', '-')}", "title": TITLES[kind], "tags": ["signalight"],
        "timezone": "Asia/Ho_Chi_Minh", "schemaVersion": 39, "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"}, "templating": {"list": variables}, "panels": panels,
    }


def export(folder: Path) -> list[Path]:
    """Write every dashboard as JSON into `folder` (what Grafana's file provisioning reads). Returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in DeviceKind:
        path = folder / f"{measurement(kind)}.json"
        path.write_text(json.dumps(dashboard(kind), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
