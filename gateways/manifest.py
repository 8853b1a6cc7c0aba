"""The gateway's device registry: `DeviceEntry` (a `ModbusDevice` or an `MqttDevice`, told apart by `transport`)
and the fleet manifest (contracts/manifest.schema.json).

`load_manifest(path)` validates the JSON against the schema, then into typed entries; errors (`ManifestError`) name
the file and the JSON path at fault. Blocking file read: call it at start-up.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

import contracts
from controllers.devices import DeviceId, DeviceKind, SiteId, Transport


class ManifestError(ValueError):
    """A manifest that cannot be used."""


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CircuitLoad(BaseModel):
    """What one circuit of a lighting cabinet feeds: `luminaires` of `rated_w` watts, each rated for
    `rated_life_h` burning hours (when the engineer knows it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    circuit: int = Field(ge=1, le=16)
    luminaires: int = Field(ge=0, le=1000)
    rated_w: float = Field(gt=0, le=2000)
    rated_life_h: float | None = Field(default=None, gt=0, le=500_000)


class _Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: DeviceId
    site: SiteId
    kind: DeviceKind
    shard: str | None = None
    name: str | None = None
    location: Location | None = None


class ModbusDevice(_Device):
    """A device behind a Modbus TCP server: the gateway polls it at `host:port`, unit `unit_id`, with the register
    map `profile` (contracts/modbus/{profile}.yaml)."""

    transport: Literal[Transport.MODBUS] = Transport.MODBUS
    host: str
    port: int = Field(ge=1, le=65535)
    unit_id: int = Field(ge=0, le=255)
    profile: str
    max_in_flight: int | None = Field(default=None, ge=1, le=64)
    # A Modbus lighting cabinet cannot say what its circuits feed; the gateway puts this in its birth, so the
    # center judges lamp failures (current below what the level needs) as it does for MQTT cabinets.
    loads: tuple[CircuitLoad, ...] | None = Field(default=None, max_length=16)


class MqttDevice(_Device):
    """A device that speaks MQTT topic contract v1 itself, as `client_id` when it logs in."""

    transport: Literal[Transport.MQTT] = Transport.MQTT
    client_id: str | None = None


#: One device of the fleet: the transport decides which fields it has (a Modbus entry always has its address).
DeviceEntry = Annotated[ModbusDevice | MqttDevice, Field(discriminator="transport")]
_DEVICES = TypeAdapter(list[DeviceEntry])
_MODBUS_ONLY = frozenset(ModbusDevice.model_fields) - frozenset(MqttDevice.model_fields)
_MQTT_ONLY = frozenset(MqttDevice.model_fields) - frozenset(ModbusDevice.model_fields)
_DEVICE = TypeAdapter(DeviceEntry)


def device_entry(data: Any) -> ModbusDevice | MqttDevice:
    """One manifest entry (a JSON object) as its typed model. Raises pydantic's ValidationError."""
    return _DEVICE.validate_python(data)


def parse_manifest(data: Any, source: str = "manifest") -> list[DeviceEntry]:
    """Entries of a parsed manifest. Raises ManifestError naming `source` and the path of the first fault."""
    schema = json.loads(contracts.MANIFEST_SCHEMA.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        if error.schema is False:   # the schema's if/then/else: a field the entry's transport does not have
            entry = data["devices"][error.absolute_path[1]]
            alien = sorted(set(entry) & (_MQTT_ONLY if entry["transport"] == "modbus" else _MODBUS_ONLY))
            kind = "a Modbus" if entry["transport"] == "modbus" else "an MQTT"
            raise ManifestError(f"{source}: {where}: {kind} device has no {', '.join(alien)}")
        raise ManifestError(f"{source}: {where}: {error.message}")
    try:
        return _DEVICES.validate_python(data["devices"])
    except ValidationError as exc:
        raise ManifestError(f"{source}: {exc}") from None


def load_manifest(path: Path | str) -> list[DeviceEntry]:
    """Devices of the manifest file at `path`. Raises ManifestError (invalid) or OSError (unreadable)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from None
    return parse_manifest(data, str(path))


def owns(device: DeviceEntry, shard: str | None) -> bool:
    """Whether the gateway of `shard` owns `device`.

    No shard: owns every device. A device that names its shard is owned by the gateway of that shard. Otherwise a
    shard spelled "i/N" (0 <= i < N) owns the devices whose CRC-32 of the id is i modulo N — stable across processes
    and restarts, so N gateways configured "0/N".."N-1/N" own each device exactly once.
    """
    if shard is None:
        return True
    if device.shard is not None:
        return device.shard == shard
    index, sep, total = shard.partition("/")
    if not sep:
        return False
    i, n = int(index), int(total)
    if not 0 <= i < n:
        raise ValueError(f"shard {shard!r}: index must be in [0, {n})")
    return zlib.crc32(device.id.encode()) % n == i
