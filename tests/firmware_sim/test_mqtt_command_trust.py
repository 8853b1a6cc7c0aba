"""Simulated MQTT devices obey only commands signed for them, once, in date; no payload crashes them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from api.command_signing import CommandSigner
from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.schemas import check
from tests.command_signing import signed, sim_keys

NIGHT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
CAB = "tn-cab-002"


def face(keys: object = "test") -> tuple[CabinetMqttFace, ManualClock]:
    clock = ManualClock(NIGHT)
    cab = LightingCabinet(CAB, 21.59, 105.85, random.Random(3))
    cab.step(clock.now(), 1.0)
    return CabinetMqttFace(cab, "tn", clock, sim_keys() if keys == "test" else None), clock


def envelope(cmd_id: str = "cmd-0001", expires_in_s: float = 60) -> dict[str, object]:
    until = rfc3339(NIGHT + timedelta(minutes=30))
    return {"id": cmd_id, "name": "switch", "args": {"circuit": 2, "level_pct": 40, "until": until},
            "issued_by": "ops", "expires_at": rfc3339(NIGHT + timedelta(seconds=expires_in_s))}


def send(f: CabinetMqttFace, doc: dict[str, object]) -> dict[str, object] | None:
    return f.handle_command(json.dumps(doc).encode())


def overridden(f: CabinetMqttFace) -> bool:
    return any(c.overridden for c in f.cab.circuits)


@pytest.mark.parametrize(("doc", "reason"), [
    (envelope(), "unsigned"),
    (CommandSigner.generate().sign(envelope(), "tn", CAB), "unknown_kid"),
    (signed(envelope(), "tn", "tn-cab-003"), "wrong_target"),
    ({**signed(envelope(), "tn", CAB), "issued_by": "mallory"}, "bad_signature"),
    (signed(envelope(expires_in_s=24 * 3600), "tn", CAB), "expiry_too_far"),
])
def test_refused_commands_are_answered_counted_and_change_nothing(doc: dict[str, object], reason: str) -> None:
    f, _ = face()
    res = send(f, doc)
    assert res is not None and res["ok"] is False and res["error"] == "unauthenticated"
    assert str(res["message"]).startswith(reason)
    check("cmd/res", res)
    assert f.book.refused[reason] == 1 and not overridden(f)


def test_a_device_without_keys_obeys_nothing() -> None:
    f, _ = face(keys=None)
    res = send(f, signed(envelope(), "tn", CAB))
    assert res is not None and res["error"] == "unauthenticated" and not overridden(f)


def test_signed_command_runs_once_then_replays_and_forgeries_under_its_id_are_not_answered() -> None:
    f, _ = face()
    genuine = signed(envelope(), "tn", CAB)
    first = send(f, genuine)
    assert first is not None and first["ok"] is True and overridden(f)
    assert send(f, genuine) == first                                   # a redelivery: the stored answer
    assert send(f, {**genuine, "issued_by": "mallory"}) is None        # forged under a real id: silence
    f.book.results.clear()                                             # the answer no longer kept (device memory)
    again = send(f, genuine)
    assert again is not None and again["error"] == "replayed"
    assert f.book.refused["replayed"] == 1 and f.book.refused["bad_signature"] == 1


@pytest.mark.parametrize("payload", [b"[" * 2000 + b"]" * 2000, b"\xff" * 10, b'{"id": NaN}', b"9" * 5000,
                                     b" " * 1_000_000, b'{"id": "cmd-0001", "id": "cmd-0002"}'])
def test_hostile_payloads_are_dropped(payload: bytes) -> None:
    f, _ = face()
    assert f.handle_command(payload) is None and not overridden(f)
    assert sum(f.book.refused.values()) == 1
