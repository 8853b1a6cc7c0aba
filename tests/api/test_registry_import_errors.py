"""A fleet manifest refused for a field its entry's transport does not have says which field of which device entry,
and why, in Vietnamese and English; nothing is imported."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Harness

MQTT_WITH_MODBUS_FIELDS = {"id": "lc-009", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt",
                           "client_id": "lc-009", "host": "10.0.0.9", "unit_id": 3}
MODBUS_WITH_MQTT_FIELD = {"id": "tsc-009", "site": "tn", "kind": "signal_controller", "transport": "modbus",
                          "host": "10.0.0.5", "port": 502, "unit_id": 1, "client_id": "tsc-009"}


def manifest(*devices: dict[str, Any]) -> dict[str, Any]:
    return {"format": "signalight.manifest/v1", "site": "tn", "devices": list(devices)}


async def test_transport_field_errors_name_the_field_the_entry_and_the_reason(harness: Harness) -> None:
    engineer = harness.token("engineer")
    resp = await harness.client.post("/api/v1/devices/import", headers=engineer,
                                     json=manifest(MQTT_WITH_MODBUS_FIELDS, MODBUS_WITH_MQTT_FIELD))
    assert resp.status_code == 422, resp.text
    body = resp.json()
    errors = {e["path"]: e for e in body["errors"]}
    assert set(errors) == {"body.devices.0.host", "body.devices.0.unit_id", "body.devices.1.client_id",
                           "body.devices.1.profile"}, errors
    host = errors["body.devices.0.host"]
    assert host["type"] == "transport_field_refused"
    assert host["message"]["en"].startswith("device 'lc-009' (devices[0]) is on MQTT: it has no host (")
    assert "Modbus devices only" in host["message"]["en"]
    assert host["message"]["vi"].startswith("thiết bị 'lc-009' (devices[0]) dùng MQTT: không có trường host")
    assert errors["body.devices.1.client_id"]["message"]["en"].startswith(
        "device 'tsc-009' (devices[1]) is on Modbus: it has no client_id")
    profile = errors["body.devices.1.profile"]
    assert profile["type"] == "transport_field_missing"
    assert profile["message"]["en"].startswith("device 'tsc-009' (devices[1]) is on Modbus: it needs profile")
    assert profile["message"]["vi"].startswith("thiết bị 'tsc-009' (devices[1]) dùng Modbus: thiếu trường profile")
    assert "False schema" not in resp.text
    assert "lc-009" in body["detail"] and "host" in body["detail"]
    assert body["message"]["vi"].startswith("Tệp danh sách thiết bị không hợp lệ (4 lỗi)")
    for device in ("lc-009", "tsc-009"):      # refused whole: nothing imported
        assert (await harness.client.get(f"/api/v1/devices/{device}", headers=engineer)).status_code == 404


async def test_other_schema_errors_keep_their_place(harness: Harness) -> None:
    resp = await harness.client.post("/api/v1/devices/import", headers=harness.token("engineer"),
                                     json=manifest({"id": "X!", "site": "tn", "kind": "lamp"}))
    assert resp.status_code == 422, resp.text
    errors = {e["path"]: e for e in resp.json()["errors"]}
    assert {"body.devices.0.id", "body.devices.0.kind", "body.devices.0"} <= set(errors)
    assert "transport" in errors["body.devices.0"]["message"]["en"]   # 'transport' is a required property
    assert all(e["type"] not in ("transport_field_missing", "transport_field_refused") for e in errors.values())
