"""Simulated MQTT devices obey only commands signed for them, once, in date; no payload crashes them."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.command_signing import CommandSigner
from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.replay_file import MAX_FILE_BYTES, ReplayFile, Window, seal
from firmware_sim.schemas import check
from tests.command_signing import signed, sim_keys

NIGHT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
CAB = "tn-cab-002"


def face(keys: object = "test", window: Path | None = None) -> tuple[CabinetMqttFace, ManualClock]:
    """A cabinet powered up at NIGHT on its own clock; `window`: its replay window file (kept across restarts)."""
    clock = ManualClock(NIGHT)
    cab = LightingCabinet(CAB, 21.59, 105.85, random.Random(3))
    cab.step(clock.now(), 1.0)
    return CabinetMqttFace(cab, "tn", clock, sim_keys() if keys == "test" else None, window), clock


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


def center_envelope(cmd_id: str, issued: datetime, lifetime_s: float = 60,
                    hold: timedelta = timedelta(minutes=30)) -> dict[str, object]:
    """A switch the center signs at `issued` (its clock), valid `lifetime_s`, holding the circuit for `hold`."""
    return {"id": cmd_id, "name": "switch", "issued_by": "ops", "issued_at": rfc3339(issued),
            "args": {"circuit": 2, "level_pct": 40, "until": rfc3339(issued + hold)},
            "expires_at": rfc3339(issued + timedelta(seconds=lifetime_s))}


def test_a_cabinet_living_in_another_time_judges_commands_in_the_centers_time() -> None:
    """The cabinet's clock is yesterday (a simulator's --start): the center's commands run, in the center's time;
    a replay or an older command expired by a newer one's time does not; an override lasts its length."""
    f, clock = face()
    center = NIGHT + timedelta(days=1, hours=3)
    first = send(f, signed(center_envelope("cmd-c0001", center, hold=timedelta(minutes=30)), "tn", CAB))
    assert first is not None and first["ok"] is True, first
    c2 = f.cab.circuits[1]
    assert c2.overridden and c2.override_until == clock.now() + timedelta(minutes=30)   # 30 min of its own clock
    f.book.results.clear()
    replay = send(f, signed(center_envelope("cmd-c0001", center), "tn", CAB))
    assert replay is not None and replay["error"] == "replayed"
    # a newer command moves the center's time on: a held-back older one is expired by it
    later = send(f, signed(center_envelope("cmd-c0002", center + timedelta(minutes=5)), "tn", CAB))
    assert later is not None and later["ok"] is True
    stale = send(f, signed(center_envelope("cmd-c0003", center), "tn", CAB))
    assert stale is not None and stale["error"] == "expired" and f.book.center_time == center + timedelta(minutes=5)
    far = send(f, signed(center_envelope("cmd-c0004", center + timedelta(minutes=6), lifetime_s=7 * 3600), "tn", CAB))
    assert far is not None and str(far["message"]).startswith("expiry_too_far")
    check("cmd", signed(center_envelope("cmd-c0005", center), "tn", CAB))


def test_a_full_id_window_refuses_what_it_can_no_longer_recognise(monkeypatch: pytest.MonkeyPatch) -> None:
    import firmware_sim.mqtt_commands as mqtt_commands

    monkeypatch.setattr(mqtt_commands, "SEEN_KEPT", 2)
    f, _ = face()
    center = NIGHT + timedelta(days=1)
    docs = [signed(center_envelope(f"cmd-f000{n}", center, lifetime_s=600 + n), "tn", CAB) for n in range(3)]
    for doc in docs:
        res = send(f, doc)
        assert res is not None and res["ok"] is True, res
    f.book.results.clear()
    again = send(f, docs[0])         # its id was forgotten to make room: refused all the same
    assert again is not None and again["error"] == "replayed"


async def test_a_restarted_cabinet_refuses_what_it_accepted_before_and_keeps_its_center_time(tmp_path: Path) -> None:
    """The replay window is on flash: after a restart (its clock back at NIGHT, results gone) the same signed
    command is refused `replayed`, and an older command that the saved center time has expired is refused
    `expired` although the cabinet's own clock would still take it."""
    path = tmp_path / f"{CAB}.replay.json"
    f, _ = face(window=path)
    center = NIGHT + timedelta(hours=2)        # the center's clock runs 2 h ahead of the cabinet's
    genuine = signed(center_envelope("cmd-r0001", center, lifetime_s=600), "tn", CAB)
    first = send(f, genuine)
    assert first is not None and first["ok"] is True, first
    await f.book.persist()
    restarted, _ = face(window=path)
    assert restarted.book.center_time == center and not overridden(restarted)
    again = send(restarted, genuine)
    assert again is not None and again["error"] == "replayed" and not overridden(restarted)
    # issued 1 h before the saved center time, valid 30 min: expired in the center's time, not on the cabinet's
    old = send(restarted, signed(center_envelope("cmd-r0002", center - timedelta(hours=1), lifetime_s=1800),
                                 "tn", CAB))
    assert old is not None and old["error"] == "expired" and not overridden(restarted)
    assert restarted.book.refused == {"replayed": 1, "expired": 1}
    # a new command still runs, and the window on flash now holds both accepted ids
    new = send(restarted, signed(center_envelope("cmd-r0003", center + timedelta(minutes=1)), "tn", CAB))
    assert new is not None and new["ok"] is True and overridden(restarted)
    await restarted.book.persist()
    assert ReplayFile(path, CAB, 10).load().seen.keys() == {"cmd-r0001", "cmd-r0003"}


async def test_ids_expired_by_the_saved_center_time_are_not_read_back(tmp_path: Path) -> None:
    path = tmp_path / f"{CAB}.replay.json"
    f, _ = face(window=path)
    center = NIGHT + timedelta(days=1)
    for n, lifetime_s in enumerate((60, 3600)):
        res = send(f, signed(center_envelope(f"cmd-e000{n}", center, lifetime_s=lifetime_s), "tn", CAB))
        assert res is not None and res["ok"] is True
    res = send(f, signed(center_envelope("cmd-e0002", center + timedelta(minutes=5)), "tn", CAB))
    assert res is not None and res["ok"] is True
    await f.book.persist()
    restarted, _ = face(window=path)
    assert set(restarted.book.seen) == {"cmd-e0001", "cmd-e0002"}     # cmd-e0000 expired at center + 60 s


def window_doc(device: str = CAB, center_time: str | None = None, n_ids: int = 0) -> dict[str, object]:
    return {"format": "signalight.sim-replay-window/v1", "device": device, "center_time": center_time,
            "floor": None, "seen": {f"cmd-{n:08d}": "2026-11-24T00:00:00+00:00" for n in range(n_ids)}}


@pytest.mark.parametrize(("content", "why"), [
    (b"\xff\xfe not json", "not JSON"),
    (seal(window_doc(n_ids=3))[:-20], "not JSON"),                                  # cut short
    (seal(window_doc(center_time="2026-11-23T15:00:00+00:00")).replace(b"2026-11-23T15", b"2036-11-23T15"),
     "crc32"),                                                                       # a flipped digit
    (json.dumps(window_doc(n_ids=1)).encode(), "crc32"),                            # no checksum
    (seal(window_doc(device="tn-cab-003")), "written by"),
    (seal(window_doc(center_time="yesterday")), "center_time"),
    (seal(window_doc(n_ids=5000)), "at most"),
    (b" " * (MAX_FILE_BYTES + 1), "larger than"),
])
async def test_a_corrupt_window_file_is_logged_and_read_as_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                 content: bytes, why: str) -> None:
    path = tmp_path / f"{CAB}.replay.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="firmware_sim.replay_file"):
        f, _ = face(window=path)
    assert any("replay_window_unreadable" in r.getMessage() and why in r.getMessage() for r in caplog.records), \
        caplog.text
    assert f.book.seen == {} and f.book.center_time is None
    res = send(f, signed(center_envelope("cmd-k0001", NIGHT), "tn", CAB))     # nothing valid is refused
    assert res is not None and res["ok"] is True and overridden(f)
    await f.book.persist()                                                      # and the file is good again
    assert set(ReplayFile(path, CAB, 10).load().seen) == {"cmd-k0001"}


async def test_a_window_that_cannot_be_read_or_written_does_not_stop_the_cabinet(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "flash"
    path.mkdir()                         # a folder where the file should be: open and replace both fail
    with caplog.at_level(logging.WARNING, logger="firmware_sim.replay_file"):
        f, _ = face(window=path)
        res = send(f, signed(center_envelope("cmd-w0001", NIGHT), "tn", CAB))
        assert res is not None and res["ok"] is True and overridden(f)
        await f.book.persist()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("replay_window_unreadable") for m in messages), messages
    assert any(m.startswith("replay_window_write_failed") for m in messages), messages
    again = send(f, signed(center_envelope("cmd-w0001", NIGHT), "tn", CAB))
    assert again is not None and again == res          # the window in memory still holds it


def test_an_older_window_never_replaces_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    file = ReplayFile(path, CAB, 10)
    file.write(2, Window(NIGHT, None, {"cmd-n0002": NIGHT + timedelta(minutes=1)}))
    file.write(1, Window(NIGHT, None, {"cmd-n0001": NIGHT + timedelta(minutes=1)}))   # late from another thread
    assert set(file.load().seen) == {"cmd-n0002"}
