"""Dashboards are generated from the telemetry schema and the committed files are current."""

from __future__ import annotations

import json
from pathlib import Path

from controllers.devices import DeviceKind
from controllers.telemetry import FIELDS, measurement
from dashboards.build import dashboard, export

GENERATED = Path(__file__).resolve().parents[2] / "dashboards" / "generated"


def test_every_charted_field_has_a_query_on_its_measurement() -> None:
    for kind in DeviceKind:
        board = dashboard(kind)
        queries = [t["query"] for p in board["panels"] for t in p["targets"]]
        for field in FIELDS[kind]:
            assert any(f'mean("{field}") FROM "{measurement(kind)}"' in q for q in queries), field
        assert all("$timeFilter" in q and "$device" in q for q in queries)


def test_committed_dashboards_match_the_schema(tmp_path: Path) -> None:
    for path in export(tmp_path):
        committed = GENERATED / path.name
        assert committed.is_file(), f"run `signalight dashboards export`: {committed} is missing"
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), (
            f"{committed} is stale: run `signalight dashboards export`")
