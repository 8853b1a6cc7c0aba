"""The manifest as the gateway's registry: validation with the path named, and sharding that gives every device to
exactly one gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from controllers.devices import DeviceKind
from gateways.manifest import ManifestError, ModbusDevice, MqttDevice, device_entry, load_manifest, owns

GOOD = {"format": "signalight.manifest/v1", "site": "tn", "devices": [
    {"id": "sc-1", "site": "tn", "kind": "signal_controller", "transport": "modbus", "host": "127.0.0.1",
     "port": 5020, "unit_id": 1, "profile": "signal-controller-v1", "location": {"lat": 21.59, "lon": 105.84}},
    {"id": "cab-1", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "shard": "north"},
    {"id": "cab-2", "site": "tn", "kind": "lighting_cabinet", "transport": "modbus", "host": "127.0.0.1",
     "port": 5021, "unit_id": 2, "profile": "lighting-cabinet-v1"}]}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_load(tmp_path: Path) -> None:
    sc, cab, _ = load_manifest(write(tmp_path, GOOD))
    assert isinstance(sc, ModbusDevice) and isinstance(cab, MqttDevice)
    assert (sc.host, sc.port, sc.unit_id) == ("127.0.0.1", 5020, 1) and sc.location is not None
    assert cab.shard == "north"


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d["devices"][0].pop("unit_id"), "devices/0"),
    (lambda d: d["devices"][1].update(kind="toaster"), "devices/1/kind"),
    (lambda d: d["devices"][0].update(id="SC 1"), "devices/0/id"),
    (lambda d: d.update(format="v0"), "format"),
    (lambda d: d["devices"][2].update(loads=[{"circuit": 1, "luminaires": 12, "rated_w": -5}]),
     "devices/2/loads/0/rated_w"),
    (lambda d: d["devices"][2].update(loads=[{"circuit": 1, "luminaires": 12}]), "devices/2/loads/0"),
    # an MQTT cabinet says what its circuits feed in its own birth
    (lambda d: d["devices"][1].update(loads=[{"circuit": 1, "luminaires": 12, "rated_w": 90}]),
     "devices/1: an MQTT device has no loads"),
])
def test_invalid_manifest_names_the_path(tmp_path: Path, mutate: object, where: str) -> None:
    data = json.loads(json.dumps(GOOD))
    mutate(data)  # type: ignore[operator]
    path = write(tmp_path, data)
    with pytest.raises(ManifestError, match=where) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_a_cabinet_entry_carries_what_its_circuits_feed(tmp_path: Path) -> None:
    data = json.loads(json.dumps(GOOD))
    data["devices"][2]["loads"] = [{"circuit": 1, "luminaires": 12, "rated_w": 90.0, "rated_life_h": 50000},
                                   {"circuit": 2, "luminaires": 20, "rated_w": 120}]
    _, _, cab = load_manifest(write(tmp_path, data))
    assert isinstance(cab, ModbusDevice) and cab.loads is not None
    assert [(c.circuit, c.luminaires, c.rated_w, c.rated_life_h) for c in cab.loads] == [
        (1, 12, 90.0, 50000.0), (2, 20, 120.0, None)]
    plain = load_manifest(write(tmp_path, GOOD))[2]
    assert isinstance(plain, ModbusDevice) and plain.loads is None  # optional


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(path)


def test_hash_shards_own_every_device_exactly_once() -> None:
    devices = [MqttDevice(id=f"dev-{i}", site="tn", kind=DeviceKind.LIGHTING_CABINET)
               for i in range(1000)]
    counts = [sum(owns(d, f"{i}/4") for d in devices) for i in range(4)]
    assert sum(counts) == 1000 and min(counts) > 200
    for d in devices:
        assert sum(owns(d, f"{i}/4") for i in range(4)) == 1
        assert owns(d, None)


def test_named_shards_win_over_the_hash() -> None:
    d = MqttDevice(id="cab-1", site="tn", kind=DeviceKind.LIGHTING_CABINET, shard="north")
    assert owns(d, "north") and not owns(d, "south")
    assert [owns(d, f"{i}/2") for i in range(2)] == [False, False]
    with pytest.raises(ValueError, match="index"):
        owns(MqttDevice(id="x", site="tn", kind=DeviceKind.LIGHTING_CABINET), "3/2")


@pytest.mark.parametrize(("entry", "message"), [
    ({"transport": "mqtt", "host": "10.0.0.5", "port": 502}, "devices/1: an MQTT device has no host, port"),
    ({"transport": "modbus", "host": "10.0.0.5", "port": 502, "unit_id": 1, "profile": "signal-controller-v1",
      "client_id": "x"}, "devices/1: a Modbus device has no client_id"),
    ({"transport": "modbus", "host": "10.0.0.5", "port": 502, "unit_id": 1}, "devices/1: 'profile' is a required"),
])
def test_each_transport_has_its_own_fields(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    data = {**GOOD, "devices": [GOOD["devices"][0], {"id": "x-1", "site": "tn", "kind": "lighting_cabinet", **entry}]}
    with pytest.raises(ManifestError, match=message):
        load_manifest(write(tmp_path, data))


def test_the_model_agrees_with_the_schema_on_the_transport_fields() -> None:
    with pytest.raises(ValidationError, match="profile"):
        device_entry({"id": "x", "site": "tn", "kind": "signal_controller", "transport": "modbus", "host": "h",
                      "port": 502, "unit_id": 1})
    with pytest.raises(ValidationError, match="host"):
        device_entry({"id": "x", "site": "tn", "kind": "signal_controller", "transport": "mqtt", "host": "h"})
    assert isinstance(device_entry({"id": "x", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt",
                                    "client_id": "x"}), MqttDevice)


def modbus(device: str, port: int, max_in_flight: int | None = None) -> dict[str, object]:
    entry: dict[str, object] = {"id": device, "site": "tn", "kind": "signal_controller", "transport": "modbus",
                                "host": "10.0.0.5", "port": port, "unit_id": 1, "profile": "signal-controller-v1"}
    if max_in_flight is not None:
        entry["max_in_flight"] = max_in_flight
    return entry


def modbus_only(devices: list[ModbusDevice | MqttDevice]) -> list[ModbusDevice]:
    return [d for d in devices if isinstance(d, ModbusDevice)]


def test_max_in_flight_is_per_link_and_must_agree(tmp_path: Path) -> None:
    from gateways.gateway import modbus_links

    data = {**GOOD, "devices": [modbus("sc-1", 502, 4), modbus("sc-2", 502), modbus("sc-3", 503)]}
    links = modbus_links(modbus_only(load_manifest(write(tmp_path, data))))
    assert {k[1]: lk.max_in_flight for k, lk in links.items()} == {502: 4, 503: 1}
    data = {**GOOD, "devices": [modbus("sc-1", 502, 4), modbus("sc-2", 502, 2)]}
    with pytest.raises(ValueError, match=r"sc-1 and sc-2 share 10\.0\.0\.5:502 but give max_in_flight 4 and 2"):
        modbus_links(modbus_only(load_manifest(write(tmp_path, data))))
    with pytest.raises(ManifestError, match="max_in_flight"):
        load_manifest(write(tmp_path, {**GOOD, "devices": [modbus("sc-1", 502, 0)]}))
