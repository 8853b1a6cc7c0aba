"""A simulated fleet: signal controllers and lighting cabinets, each on Modbus TCP or MQTT.

`build_fleet(config, clock)` creates every device and its Modbus port (deterministic under `config.seed`) into a
`Fleet`, which the fault injection (`faults`, `control`, `scenario`) acts on; `manifest(fleet, ...)` describes it.
Running it is `firmware_sim.fleet_runner.run_fleet`, which depends on this module and never the other way round.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.cabinet_regs import CabinetRegisters
from firmware_sim.clock import SimClock, rfc3339
from firmware_sim.command_auth import CommandKeys
from firmware_sim.controller_mqtt import ControllerMqttFace
from firmware_sim.controller_regs import ControllerRegisters
from firmware_sim.detectors import parse_layout
from firmware_sim.modbus_host import ModbusPort, ModbusUnit
from firmware_sim.mqtt_session import MqttDeviceSession, MqttFace, broker_endpoints
from firmware_sim.signal_cabinet import SignalCabinet
from firmware_sim.signal_controller import SignalController

log = logging.getLogger(__name__)


@dataclass
class FleetConfig:
    site: str = "tn"
    intersections: int = 4
    cabinets: int = 6
    modbus_cabinets: int = 1          # how many of the cabinets speak Modbus TCP; the rest speak MQTT
    mqtt_controllers: int = 0         # how many of the controllers (the last ones) speak MQTT; the rest Modbus TCP
    seed: int = 1
    speed: float = 1.0                # virtual clock speed factor
    start: datetime | None = None     # virtual time at start (timezone-aware); None = the wall clock now
    # devices' flash: cabinets' deployed programs and MQTT devices' replay windows kept across restarts; None = RAM
    state_dir: Path | None = None
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # per-device MQTT login {device_id: (username, password)}; wins over mqtt_username/mqtt_password
    mqtt_credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    mqtt_urls: tuple[str, ...] = ()   # broker failover list (mqtt://h:p, mqtts://h:p); wins over mqtt_host/port
    mqtt_tls_ca: Path | None = None
    mqtt_tls_cert: Path | None = None
    mqtt_tls_key: Path | None = None
    modbus_host: str = "127.0.0.1"
    modbus_port: int = 0              # first port; 0 = free ports chosen by the OS
    units_per_port: int = 32          # Modbus devices (unit ids 1..N) behind one TCP server
    manifest_path: Path | None = None
    control_port: int | None = 0      # HTTP fault-injection endpoint on modbus_host; 0 = free port; None = off
    scenario: Path | None = None
    command_keys: Path | None = None  # trusted command keys {kid: base64 public key}; None: MQTT devices obey nothing
    location: tuple[float, float] = (21.5942, 105.8482)   # Thái Nguyên city centre; devices spread ~2 km around
    # Signal cabinets (MMU matrix, flash colours, preemption, remote reset), JSON as `SignalCabinet.from_doc`:
    # {"*": {...}, "tn-sig-002": {...}}; a device's own entry wins over "*"; absent: NEMA dual-ring defaults.
    signal_cabinets: dict[str, Any] = field(default_factory=dict)
    # Detector layouts in the API's export shape (firmware_sim.detectors.parse_layout): {"*" or device id: [...]}.
    detectors: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        if self.intersections < 0 or self.cabinets < 0:
            raise ValueError("intersections and cabinets must be >= 0")
        if not 0 <= self.modbus_cabinets <= self.cabinets:
            raise ValueError(f"modbus_cabinets must be 0..cabinets ({self.cabinets}), got {self.modbus_cabinets}")
        if not 0 <= self.mqtt_controllers <= self.intersections:
            raise ValueError(f"mqtt_controllers must be 0..intersections ({self.intersections}), "
                             f"got {self.mqtt_controllers}")
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, got {self.start.isoformat()}")
        if not 1 <= self.units_per_port <= 247:
            raise ValueError(f"units_per_port must be 1..247, got {self.units_per_port}")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", self.site):
            raise ValueError(f"site must match [a-z0-9][a-z0-9_-]{{0,63}} (topic contract v1), got {self.site!r}")
        broker_endpoints(self.mqtt_urls, self.mqtt_host, self.mqtt_port, False)  # ValueError naming a bad url
        for device, doc in self.signal_cabinets.items():
            if not isinstance(doc, dict):
                raise ValueError(f"signal_cabinets.{device}: expected an object, got {doc!r}")
            SignalCabinet.from_doc(doc, f"signal_cabinets.{device}")
        for device, layout in self.detectors.items():
            parse_layout(layout, f"detectors.{device}")
        for name in ("mqtt_port", "modbus_port", "control_port"):
            port = getattr(self, name)
            if (port is not None and not 0 <= port <= 65535) or (name == "mqtt_port" and port == 0):
                raise ValueError(f"{name} must be a TCP port, got {port}")


@dataclass
class Fleet:
    """Everything `run_fleet` built; tests and the control endpoint reach devices through it."""

    config: FleetConfig
    clock: SimClock
    controllers: dict[str, SignalController] = field(default_factory=dict)
    cabinets: dict[str, LightingCabinet] = field(default_factory=dict)
    registers: dict[str, ControllerRegisters | CabinetRegisters] = field(default_factory=dict)
    links: dict[str, MqttDeviceSession] = field(default_factory=dict)
    command_keys: CommandKeys | None = None
    ports: list[ModbusPort] = field(default_factory=list)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    comm_fault: set[str] = field(default_factory=set)


def build_fleet(config: FleetConfig, clock: SimClock) -> Fleet:
    """Create the devices and their Modbus ports (not yet listening). Deterministic under `config.seed`."""
    config.check()
    fleet = Fleet(config, clock)
    if config.command_keys is not None:
        fleet.command_keys = CommandKeys.load(config.command_keys)
    site, (lat0, lon0) = config.site, config.location
    place = random.Random(f"{config.seed}:layout")
    units: list[ModbusUnit] = []
    start = clock.now()

    def entry(device_id: str, kind: str, transport: str) -> dict[str, Any]:
        # ~0.018° is 2 km in latitude at Thái Nguyên.
        loc = {"lat": round(lat0 + place.uniform(-0.018, 0.018), 6),
               "lon": round(lon0 + place.uniform(-0.019, 0.019), 6)}
        e = {"id": device_id, "site": site, "kind": kind, "transport": transport, "name": device_id, "location": loc}
        fleet.entries[device_id] = e
        return e

    for i in range(1, config.intersections + 1):
        device_id = f"{site}-sig-{i:03d}"
        transport = "mqtt" if i > config.intersections - config.mqtt_controllers else "modbus"
        e = entry(device_id, "signal_controller", transport)
        rng = random.Random(f"{config.seed}:{device_id}")
        raw = config.signal_cabinets.get(device_id, config.signal_cabinets.get("*"))
        cabinet = SignalCabinet.from_doc(raw, f"signal_cabinets.{device_id}") if raw is not None else None
        layout = config.detectors.get(device_id, config.detectors.get("*"))
        ctrl = SignalController(device_id, start, rng, offset_s=rng.choice((0, 10, 20, 30, 40, 50, 60, 70)),
                                cabinet=cabinet, detector_layout=None if layout is None else parse_layout(layout))
        fleet.controllers[device_id] = ctrl
        if transport == "mqtt":
            e["client_id"] = device_id
            fleet.links[device_id] = _link(fleet, ControllerMqttFace(ctrl, site, clock, fleet.command_keys,
                                                                      _window(config, device_id)))
            continue
        regs = ControllerRegisters(ctrl)
        fleet.registers[device_id] = regs
        units.append(ModbusUnit(device_id, 0, regs.image, regs.refresh, regs.write,
                                partial_answering(fleet, device_id)))
    for i in range(1, config.cabinets + 1):
        device_id = f"{site}-cab-{i:03d}"
        transport = "modbus" if i <= config.modbus_cabinets else "mqtt"
        e = entry(device_id, "lighting_cabinet", transport)
        rng = random.Random(f"{config.seed}:{device_id}")
        cab = LightingCabinet(device_id, e["location"]["lat"], e["location"]["lon"], rng,
                              flash=config.state_dir / f"{device_id}.program.json" if config.state_dir else None)
        cab.photocell_lux = cab.lux(start)      # power-up reading: no dark-lamp or day-burner blip at start
        cab.step(start, 0.0)
        fleet.cabinets[device_id] = cab
        if transport == "modbus":
            e["loads"] = [c.load() for c in cab.circuits]  # a Modbus cabinet cannot say; its gateway's registry does
            cregs = CabinetRegisters(cab)
            fleet.registers[device_id] = cregs
            units.append(ModbusUnit(device_id, 0, cregs.image, _cab_refresh(cregs, clock), cregs.write,
                                    partial_answering(fleet, device_id)))
        else:
            e["client_id"] = device_id
            fleet.links[device_id] = _link(fleet, CabinetMqttFace(cab, site, clock, fleet.command_keys,
                                                                   _window(config, device_id)))
    per = config.units_per_port
    for k in range(0, len(units), per):
        group = units[k:k + per]
        for n, unit in enumerate(group, start=1):
            unit.unit_id = n
        port = config.modbus_port + k // per if config.modbus_port else 0
        fleet.ports.append(ModbusPort(config.modbus_host, port, group))
    return fleet


def _window(config: FleetConfig, device_id: str) -> Path | None:
    """Where an MQTT device keeps its replay window (`replay_file`); None: in RAM only."""
    return None if config.state_dir is None else config.state_dir / f"{device_id}.replay.json"


def _link(fleet: Fleet, face: MqttFace) -> MqttDeviceSession:
    c = fleet.config
    username, password = c.mqtt_credentials.get(face.device_id, (c.mqtt_username, c.mqtt_password))
    return MqttDeviceSession(face, host=c.mqtt_host, port=c.mqtt_port, username=username,
                           password=password, clock=fleet.clock,
                           rng=random.Random(f"{c.seed}:{face.device_id}:net"), urls=c.mqtt_urls,
                           tls_ca=c.mqtt_tls_ca, tls_cert=c.mqtt_tls_cert, tls_key=c.mqtt_tls_key)


def partial_answering(fleet: Fleet, device_id: str) -> Callable[[], bool]:
    """A unit answers unless it has a communication fault or no power."""
    def answering() -> bool:
        if device_id in fleet.comm_fault:
            return False
        cab = fleet.cabinets.get(device_id)
        if cab is not None:
            return cab.mains_ok
        return "power_fail" not in fleet.controllers[device_id].alarms
    return answering


def _cab_refresh(regs: CabinetRegisters, clock: SimClock) -> Callable[[], None]:
    return lambda: regs.refresh(clock.now())


def manifest(fleet: Fleet, control_url: str | None) -> dict[str, Any]:
    """The fleet manifest (contracts/manifest.schema.json) with the ports actually bound."""
    for port in fleet.ports:
        for unit in port.units.values():
            fleet.entries[unit.device_id].update(host=port.host, port=port.port, unit_id=unit.unit_id,
                                                  profile=unit.image.map.profile)
    doc: dict[str, Any] = {
        "format": "signalight.manifest/v1", "generated_at": rfc3339(fleet.clock.now()), "site": fleet.config.site,
        "seed": fleet.config.seed, "speed": fleet.config.speed,
        "broker": {"host": fleet.config.mqtt_host, "port": fleet.config.mqtt_port},
        "devices": list(fleet.entries.values()),
    }
    if control_url:
        doc["control"] = {"url": control_url}
    return doc


def write_manifest(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (temp file and rename), so a reader never sees half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
