"""Gateway presence in the topic contract: the topic, the payloads and the consumer rule (controllers.presence)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import contracts
from controllers.presence import (
    GATEWAY_OFFLINE,
    GATEWAY_RESTARTED,
    GatewayRef,
    Presence,
    device_status,
    gateway_of,
    presence_of,
)
from controllers.topics import (
    TopicError,
    gateway_subscription,
    gateway_topic,
    is_gateway_topic,
    parse,
    parse_gateway,
    subscription,
)

PRESENCE = json.loads(contracts.mqtt_schema_path("presence").read_text())
BIRTH = json.loads(contracts.mqtt_schema_path("birth").read_text())


def filter_matches(flt: str, topic: str) -> bool:
    f, t = flt.split("/"), topic.split("/")
    return len(f) == len(t) and all(a in ("+", b) for a, b in zip(f, t, strict=True))


def test_presence_topic_is_never_read_as_a_device() -> None:
    name = gateway_topic("edge01-a")
    assert name == "sl/v1/_gateway/edge01-a/presence" and is_gateway_topic(name)
    assert parse_gateway(name) == "edge01-a"
    assert filter_matches(gateway_subscription(), name)
    with pytest.raises(TopicError, match="gateway topic"):
        parse(name)
    # no device filter any consumer subscribes (API, recorder, MQTT-device link) matches it
    for suffix in ("birth", "status", "state", "telemetry", "event", "cmd", "rebirth"):
        assert not filter_matches(subscription(suffix), name)
    assert not is_gateway_topic("sl/v1/tn/tsc-001/status")


@pytest.mark.parametrize("bad", ["Edge", "-edge", "edge/a", "", "x" * 65])
def test_bad_gateway_ids_are_refused(bad: str) -> None:
    with pytest.raises(TopicError, match="invalid gateway id"):
        gateway_topic(bad)


@pytest.mark.parametrize("name", ["sl/v1/_gateway/edge01/status", "sl/v1/_gateway/edge01", "sl/v2/_gateway/e/presence",
                                  "sl/v1/_gateway/Edge/presence", "sl/v1/_gateway/e/presence/x"])
def test_parse_gateway_names_what_is_wrong(name: str) -> None:
    with pytest.raises(TopicError):
        parse_gateway(name)


def test_presence_payloads_follow_the_schema() -> None:
    jsonschema.validate({"status": "online", "session": "3f2a9c0142d1e8b7", "ts": "2026-11-23T07:30:00.125Z"},
                        PRESENCE)
    jsonschema.validate({"status": "offline", "session": "3f2a9c0142d1e8b7", "reason": "connection lost"}, PRESENCE)
    for bad in ({"status": "online"}, {"status": "stale", "session": "s1"}, {"status": "online", "session": ""},
                {"status": "online", "session": "s1", "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, PRESENCE)


def birth(**extra: Any) -> dict[str, Any]:
    return {"ts": "2026-11-23T07:30:00.125Z", "bd_seq": 0, "kind": "lighting_cabinet", "model": "LC-4",
            "firmware": "2.0", "capabilities": ["switch"], "transport": "modbus", **extra}


def test_birth_names_its_gateway() -> None:
    b = birth(gateway={"id": "edge01-a", "session": "s1"})
    jsonschema.validate(b, BIRTH)
    jsonschema.validate(birth(), BIRTH)  # optional: MQTT devices and births from before the field
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(birth(gateway={"id": "edge01-a"}), BIRTH)
    assert gateway_of(b) == GatewayRef("edge01-a", "s1")
    assert gateway_of(birth()) is None and gateway_of(None) is None
    assert gateway_of(birth(gateway={"id": "Bad Id", "session": "s1"})) is None
    assert gateway_of(birth(gateway="edge01-a")) is None


def test_presence_of_refuses_bad_payloads() -> None:
    assert presence_of({"status": "offline", "session": "s1", "reason": "x"}) == Presence("offline", "s1", "x")
    for bad, what in (({"status": "gone", "session": "s1"}, "status"), ({"status": "online"}, "session"),
                      ({"status": "online", "session": "s 1"}, "session"),
                      ({"status": "online", "session": "s1", "reason": 5}, "reason")):
        with pytest.raises(ValueError, match=what):
            presence_of(bad)


GW = GatewayRef("edge01-a", "s1")
ONLINE = Presence("online", "s1")
SHOWN = ("online", None)


@pytest.mark.parametrize(("own", "reason", "gateway", "presence", "shown", "expected"), [
    # 1. gateway offline: offline whatever the device's own retained status says
    ("online", None, GW, Presence("offline", "s1", "connection lost"), SHOWN, ("offline", GATEWAY_OFFLINE)),
    ("offline", "timeout", GW, Presence("offline", "s1"), SHOWN, ("offline", GATEWAY_OFFLINE)),
    ("unknown", None, GW, Presence("offline", "s0"), ("unknown", None), ("offline", GATEWAY_OFFLINE)),
    # 2. the device's own offline
    ("offline", "gateway stopped", GW, ONLINE, SHOWN, ("offline", "gateway stopped")),
    ("offline", "timeout", GW, None, SHOWN, ("offline", "timeout")),
    # 3. presence not received yet: what is shown stays (no flap while retained messages arrive)
    ("online", None, GW, None, ("offline", None), ("offline", None)),
    ("online", None, GW, None, ("online", None), ("online", None)),
    # 4. the birth is from an earlier process of the gateway
    ("online", None, GW, Presence("online", "s2"), SHOWN, ("offline", GATEWAY_RESTARTED)),
    # 5. own status
    ("online", None, GW, ONLINE, ("offline", GATEWAY_OFFLINE), ("online", None)),
    ("unknown", None, GW, ONLINE, ("offline", None), ("offline", None)),
    # no gateway (an MQTT device): its own status only
    ("online", None, None, Presence("offline", "s1"), ("offline", None), ("online", None)),
    ("offline", "lwt", None, None, SHOWN, ("offline", "lwt")),
    ("unknown", None, None, None, ("online", None), ("online", None)),
])
def test_device_status_rule(own: str, reason: str | None, gateway: GatewayRef | None, presence: Presence | None,
                            shown: tuple[str, str | None], expected: tuple[str, str | None]) -> None:
    assert device_status(own, reason, gateway, presence, shown) == expected
