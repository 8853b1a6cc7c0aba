"""The MQTT signal controller's payloads and command handling, without a broker (the firmware stepped directly)."""

from __future__ import annotations

import itertools
import zlib
from datetime import timedelta
from pathlib import Path

from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.controller_mqtt import EVENTS_MAX, ControllerMqttFace
from firmware_sim.fleet import FleetConfig, build_fleet
from firmware_sim.plan_transfer import canonical_bytes
from firmware_sim.schemas import check
from tests.command_signing import sim_keys
from tests.firmware_sim.controller_commands import cmd, new_plan
from tests.firmware_sim.helpers import MORNING, controller

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "plans" / "examples" / "tn-001-weekday.json"


def face(window: Path | None = None) -> tuple[ControllerMqttFace, ManualClock]:
    clock = ManualClock(MORNING)
    return ControllerMqttFace(controller(), "tn", clock, sim_keys(), window), clock


def run(f: ControllerMqttFace, clock: ManualClock, seconds: float) -> None:
    for _ in range(round(seconds * 10)):
        f.ctrl.step()
        clock.advance(0.1)


def test_payloads_validate_and_state_is_normalized() -> None:
    f, clock = face()
    run(f, clock, 120)
    birth = f.birth()
    check("birth", birth)
    assert birth["kind"] == "signal_controller" and "deploy_plan" in birth["capabilities"]
    state = f.state()
    check("state", state)
    v = state["values"]
    assert v["mode"] == "coordinated" and v["pattern"] == 1 and v["cycle_s"] == 100
    assert set(v["phases"]) == {str(n) for n in range(1, 9)} and set(v["peds"]) == {"2", "4", "6", "8"}
    assert v["plan_crc32"] == zlib.crc32(canonical_bytes(f.ctrl.plan_doc))
    check("telemetry", f.telemetry())
    events = [p for suffix, p in f.outbox() if suffix == "event"]
    assert events and {e["code"] for e in events} >= {1, 8}, "phase green and yellow events"
    for e in events:
        check("event", e)
    # one seq space for every message, 0..255 and wrapping (the advance detectors make >256 events in 120 s)
    seqs = [e["seq"] for e in events]
    assert all((b - a) % 256 >= 1 for a, b in itertools.pairwise(seqs))


def test_event_overflow_drops_the_oldest_and_counts_them_in_telemetry() -> None:
    f, _ = face()
    for n in range(EVENTS_MAX + 5):
        f._on_event(82, n, 0)
    out = [p for _, p in f.outbox()]
    assert all(p["code"] != 0 for p in out), "no event code is reused as an overflow marker"
    assert out[0]["param"] == 5 and len(out) == EVENTS_MAX
    assert f.telemetry()["values"]["events_lost"] == 5


def test_flash_until_backup_timer_then_schedule() -> None:
    f, clock = face()
    run(f, clock, 30)
    until = rfc3339(clock.now() + timedelta(seconds=60))
    [res] = f.commands(cmd(clock, "flash", {"until": until}))
    check("cmd/res", res)
    assert res["ok"] and res["state"]["control_source"] == "central"
    run(f, clock, 20)
    assert f.state_values()["mode"] == "flash" and f.state_values()["flash_cause"] == "central"
    run(f, clock, 60)
    assert f.state_values()["control_source"] == "schedule" and f.state_values()["mode"] != "flash"


async def test_a_restarted_controller_refuses_a_command_it_ran_before(tmp_path: Path) -> None:
    """The fleet gives an MQTT controller its replay window file in the state dir; a restarted controller (same
    file, its power-up clock and RAM again) refuses the recorded flash command `replayed` and stays on its schedule."""
    fleet = build_fleet(FleetConfig(intersections=2, cabinets=0, modbus_cabinets=0, mqtt_controllers=1,
                                    control_port=None, state_dir=tmp_path), ManualClock(MORNING))
    window = tmp_path / "tn-sig-002.replay.json"
    assert fleet.links["tn-sig-002"].face.book.replay_file is not None
    assert fleet.links["tn-sig-002"].face.book.replay_file.path == window
    f, clock = face(window)
    run(f, clock, 30)
    recorded = cmd(clock, "flash", {"until": rfc3339(clock.now() + timedelta(seconds=60))}, expires_in_s=600)
    [res] = f.commands(recorded)
    assert res["ok"] and res["state"]["control_source"] == "central"
    await f.book.persist()
    restarted, clock = face(window)
    run(restarted, clock, 30)
    [again] = restarted.commands(recorded)
    assert again["ok"] is False and again["error"] == "replayed"
    check("cmd/res", again)
    assert restarted.state_values()["control_source"] == "schedule"


def test_deploy_valid_plan_reports_progress_then_active() -> None:
    f, clock = face()
    run(f, clock, 30)
    doc = new_plan()
    crc = zlib.crc32(canonical_bytes(doc))
    answers = f.commands(cmd(clock, "deploy_plan", {"plan": doc, "crc32": crc, "deployment_id": "d1"}))
    assert [(a["ok"], a.get("final"), a["stage"]) for a in answers] == [(True, False, "verifying"),
                                                                         (True, False, "activating")]
    for a in answers:
        check("cmd/res", a)
    assert f.state_values()["plan_crc32"] != crc
    for _ in range(2000):
        run(f, clock, 0.1)
        if f.late:
            break
    [(_suffix, final)] = [o for o in f.outbox() if o[0] == "cmd/res"]
    check("cmd/res", final)
    assert final["ok"] and final["stage"] == "active" and "final" not in final
    assert f.state_values()["plan_crc32"] == crc
    run(f, clock, 120)
    assert f.state_values()["cycle_s"] == 96
    again = f.commands(cmd(clock, "deploy_plan", {"plan": doc, "crc32": crc}))
    assert again == [final], "a repeated id gets the final answer and is not executed again"


def test_refused_plans_leave_the_running_plan() -> None:
    f, clock = face()
    run(f, clock, 30)
    before = f.state_values()["plan_crc32"]
    doc = new_plan()
    crc = zlib.crc32(canonical_bytes(doc))
    bad_crc = f.commands(cmd(clock, "deploy_plan", {"plan": doc, "crc32": crc ^ 1}, cmd_id="cmd-crc-0001"))
    assert (bad_crc[-1]["ok"], bad_crc[-1]["error"], bad_crc[-1]["stage"]) == (False, "crc_mismatch", "rolled_back")
    broken = new_plan()
    broken["patterns"][1]["splits_s"]["2"] = 1          # shorter than the phase's minimum green + clearance
    broken_crc = zlib.crc32(canonical_bytes(broken))
    invalid = f.commands(cmd(clock, "deploy_plan", {"plan": broken, "crc32": broken_crc}, cmd_id="cmd-invalid-0001"))
    assert (invalid[-1]["error"], invalid[-1]["stage"]) == ("invalid_plan", "rolled_back")
    assert invalid[-1]["message"]
    f.corrupt = True
    corrupt = f.commands(cmd(clock, "deploy_plan", {"plan": doc, "crc32": crc}, cmd_id="cmd-corrupt-0001"))
    assert corrupt[-1]["error"] == "crc_mismatch"
    for a in bad_crc + invalid + corrupt:
        check("cmd/res", a)
    run(f, clock, 120)
    assert f.state_values()["plan_crc32"] == before and f.ctrl.pending_plan is None
    assert "plan_deploy_failed" in f.state_values()["alarms"]


def test_expired_and_unknown_commands_are_refused() -> None:
    f, clock = face()
    [expired] = f.commands(cmd(clock, "release", {}, expires_in_s=-1))
    assert expired["error"] == "expired"
    [unknown] = f.commands(cmd(clock, "switch", {"circuit": 1, "level_pct": 5, "until": rfc3339(clock.now())},
                               cmd_id="cmd-0002"))
    assert unknown["error"] == "unknown_command"
    [bad] = f.commands(cmd(clock, "hold_pattern", {"pattern": 9, "until": rfc3339(clock.now())}, cmd_id="cmd-0003"))
    assert bad["error"] == "invalid_args"
    assert f.commands(b"not json") == []


def test_what_a_failed_publish_took_goes_out_first_next_time() -> None:
    f, clock = face()
    run(f, clock, 30)
    items = f.outbox()
    assert len(items) >= 3
    f.requeue(items[1:])
    run(f, clock, 30)
    again = f.outbox()
    assert again[:len(items) - 1] == items[1:] and len(again) > len(items) - 1
