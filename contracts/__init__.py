"""signalight wire contracts, as data: MQTT topic contract v1 with JSON Schemas, Modbus register maps, plan format.

This package holds data files only. The helpers below find them; they import nothing of the project so that
firmware simulators (and device vendors) can depend on the contracts alone.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
MQTT_SCHEMAS = ROOT / "mqtt" / "schemas"
MODBUS_MAPS = ROOT / "modbus"

#: Payload kinds of topic contract v1, by topic suffix, and the schema file of each.
MQTT_SCHEMA_FILES = {
    "birth": "birth.schema.json",
    "status": "status.schema.json",
    "state": "state.schema.json",
    "telemetry": "telemetry.schema.json",
    "event": "event.schema.json",
    "cmd": "cmd.schema.json",
    "cmd/res": "cmd_res.schema.json",
    # a gateway's own topic, sl/v1/_gateway/{gateway_id}/presence (topics-v1.md, "Gateways")
    "presence": "presence.schema.json",
}


def mqtt_schema_path(suffix: str) -> Path:
    """Path of the JSON Schema for the payload of topic suffix `suffix` (e.g. "state", "cmd/res")."""
    return MQTT_SCHEMAS / MQTT_SCHEMA_FILES[suffix]


def modbus_map_path(profile: str) -> Path:
    """Path of the register map of a Modbus profile, e.g. "signal-controller-v1"."""
    path = MODBUS_MAPS / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in MODBUS_MAPS.glob("*.yaml"))
        raise FileNotFoundError(f"no Modbus register map for profile {profile!r}; known profiles: {known}")
    return path


MANIFEST_SCHEMA = ROOT / "manifest.schema.json"
