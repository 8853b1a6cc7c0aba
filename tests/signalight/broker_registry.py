"""A small device registry for the broker tests: two shards, Modbus and MQTT devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIGNAL_A = "tn-sig-001"   # Modbus, shard a
SIGNAL_B = "tn-sig-002"   # Modbus, shard b
CABINET_A = "tn-cab-001"  # Modbus, shard a
MQTT_A = "tn-cab-002"     # MQTT, shard a
MQTT_B = "tn-cab-003"     # MQTT, shard b


def registry() -> dict[str, Any]:
    def modbus(device_id: str, kind: str, shard: str, unit: int) -> dict[str, Any]:
        return {"id": device_id, "site": "tn", "kind": kind, "transport": "modbus", "host": "127.0.0.1",
                "port": 1502, "unit_id": unit, "profile": kind.replace("_", "-") + "-v1", "shard": shard}

    def mqtt(device_id: str, shard: str) -> dict[str, Any]:
        return {"id": device_id, "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "shard": shard,
                "client_id": device_id}

    return {"format": "signalight.manifest/v1", "site": "tn", "devices": [
        modbus(SIGNAL_A, "signal_controller", "a", 1), modbus(SIGNAL_B, "signal_controller", "b", 2),
        modbus(CABINET_A, "lighting_cabinet", "a", 3), mqtt(MQTT_A, "a"), mqtt(MQTT_B, "b")]}


def write_registry(path: Path) -> Path:
    path.write_text(json.dumps(registry()), encoding="utf-8")
    return path
