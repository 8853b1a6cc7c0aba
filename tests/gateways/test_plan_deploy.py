"""deploy_plan on a Modbus signal controller: the gateway's executor against the firmware simulator on real
Modbus TCP. A valid plan changes what the controller does (cycle and yellow seen in its hi-res event log); a
corrupted transfer, a refused plan or a wrong CRC leave the running plan alone, and the last two write nothing."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from controllers.clock import SystemClock
from controllers.commands import AnyCommand, CommandEnvelope
from controllers.devices import DeviceKind
from controllers.plans import PlanV1, encode_plan, validate_plan
from firmware_sim.clock import ManualClock
from firmware_sim.control import inject_fault
from firmware_sim.faults import FaultError, apply_fault
from firmware_sim.fleet import FleetConfig, build_fleet
from gateways.commands import CommandLedger, handle_command
from tests.command_signing import TEST_KEYS
from tests.gateways.gateway_rig import cmd
from tests.gateways.plan_rig import (
    NEW_CYCLE_S,
    NEW_YELLOW_2_S,
    Rig,
    controller_rig,
    deploy_command,
    new_plan,
    record_events,
)

STAGING, HEADER = 400, 300       # holding: plan_staging area; plan_length_bytes .. plan_commit (300..303)


def stages(rig: Rig) -> list[str]:
    return [p["stage"] for p in rig.published if p.get("final") is False]


async def snapshot(rig: Rig, registers: int) -> tuple[list[int], list[int], dict[str, Any]]:
    return (await rig.holding(HEADER, 4), await rig.holding(STAGING, registers),
            await rig.read("plan_status", "plan_error", "plan_crc32", "cycle_s"))


@pytest.mark.slow
async def test_a_valid_plan_deploys_and_the_controller_runs_its_cycle_and_yellow(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        before = await rig.settled()
        assert before["cycle_s"] == 100 and before["pattern"] == 1      # the default plan's morning pattern
        plan = new_plan(rig.entry.id)
        crc = encode_plan(PlanV1.model_validate(plan)).crc32
        assert crc != before["plan_crc32"]
        events: list[tuple[float, int, int]] = []
        stop = asyncio.Event()
        recorder = asyncio.create_task(record_events(rig, events, stop))
        try:
            result = await rig.deployer().run(*deploy_command(plan))
            assert result["ok"] is True and result["stage"] == "active", result
            assert stages(rig) == ["transferring", "verifying", "activating"]
            assert all(p["ok"] is True and p["id"] == "cmd-deploy-0001" for p in rig.published)
            assert result["state"]["plan_crc32"] == crc and result["state"]["cycle_s"] == NEW_CYCLE_S
            active_from = rig.clock.now().timestamp()

            def coord_yellows() -> list[float]:
                return [ts for ts, code, param in events if code == 8 and param == 2 and ts > active_from]

            async with asyncio.timeout(120):
                while len(coord_yellows()) < 7:
                    await rig.clock.sleep(5)
        finally:
            stop.set()
            await recorder
        # The coordinated phase yields at its force-off point: once per cycle. After the switch a transition to the
        # new offset shortens or lengthens a few cycles (bounded: -17 % .. +20 %); then the yellows are a cycle apart.
        yellows = coord_yellows()[1:]
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(yellows)]
        assert all(0.83 * NEW_CYCLE_S - 0.2 <= g <= 1.2 * NEW_CYCLE_S + 0.2 for g in gaps), gaps
        assert gaps[-2:] == [NEW_CYCLE_S, NEW_CYCLE_S], gaps
        # Phase 2's yellow change interval is the new plan's (begin yellow 8 -> end yellow 9).
        ends = [ts for ts, code, param in events if code == 9 and param == 2 and ts > active_from]
        durations = [round(min(e for e in ends if e > y) - y, 1) for y in yellows if any(e > y for e in ends)]
        assert durations and all(d == NEW_YELLOW_2_S for d in durations), durations
        after = await rig.read("plan_crc32", "cycle_s", "plan_status")
        assert after == {"plan_crc32": crc, "cycle_s": NEW_CYCLE_S, "plan_status": "done"}


@pytest.mark.slow
@pytest.mark.parametrize(("at", "error"), [("write", "readback_mismatch"), ("commit", "crc_mismatch")])
async def test_a_corrupted_transfer_fails_and_the_old_plan_keeps_running(tmp_path: Path, at: str,
                                                                          error: str) -> None:
    async with controller_rig(tmp_path) as rig:
        before = await rig.settled()
        await inject_fault(rig.manifest["control"]["url"], rig.entry.id, "corrupt_plan_transfer", {"at": at})
        result = await rig.deployer().run(*deploy_command(new_plan(rig.entry.id)))
        assert result["ok"] is False and result["error"] == error and result["stage"] == "rolled_back", result
        assert rig.entry.id in result["message"]
        assert stages(rig) == (["transferring"] if at == "write" else ["transferring", "verifying"])
        # More than one cycle later the old plan still runs.
        await rig.clock.sleep(110)
        after = await rig.read("plan_crc32", "cycle_s", "plan_status", "plan_error")
        assert (after["plan_crc32"], after["cycle_s"]) == (before["plan_crc32"], before["cycle_s"])
        assert after["plan_status"] == "error"
        assert after["plan_error"] == ("aborted" if at == "write" else "crc_mismatch")
        # With the fault cleared the same plan goes through.
        await inject_fault(rig.manifest["control"]["url"], rig.entry.id, "corrupt_plan_transfer", {"active": False})
        ok = await rig.deployer().run(*deploy_command(new_plan(rig.entry.id), command_id="cmd-deploy-0002"))
        assert ok["ok"] is True and ok["stage"] == "active", ok


async def test_a_refused_plan_never_reaches_the_device(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        plan = new_plan(rig.entry.id)
        plan["phases"][1]["yellow_s"] = 2.5                      # phase 2: below ITE and below 3 s
        plan["patterns"][0]["splits_s"]["2"] = 30                # ring 1 no longer sums to the cycle
        registers = len(encode_plan(PlanV1.model_validate(plan)).registers) + 8
        before = await snapshot(rig, registers)
        requests = rig.reader.link.requests
        result = await rig.deployer().run(*deploy_command(plan))
        assert rig.reader.link.requests == requests, "the refusal must not talk to the device at all"
        assert result["ok"] is False and result["error"] == "invalid_plan" and result["stage"] == "rolled_back"
        for rule in ("yellow_min", "yellow_range", "ring_sum", "barrier_align"):
            assert rule in result["message"], result["message"]
        assert "phases[1].yellow_s" in result["message"]
        assert rig.published == []
        assert await snapshot(rig, registers) == before


async def test_a_crc_that_is_not_the_plans_writes_nothing(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        plan = new_plan(rig.entry.id)
        encoded = encode_plan(PlanV1.model_validate(plan))
        before = await snapshot(rig, len(encoded.registers))
        requests = rig.reader.link.requests
        result = await rig.deployer().run(*deploy_command(plan, encoded.crc32 ^ 0x00010000))
        assert result["ok"] is False and result["error"] == "crc_mismatch" and result["stage"] == "rolled_back"
        assert f"{encoded.crc32:08x}" in result["message"]
        assert rig.reader.link.requests == requests and rig.published == []
        assert await snapshot(rig, len(encoded.registers)) == before


async def test_one_deploy_at_a_time_and_a_running_plan_is_not_sent_again(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        deployer = rig.deployer()
        plan = new_plan(rig.entry.id)
        first, second = await asyncio.gather(
            deployer.run(*deploy_command(plan, command_id="cmd-deploy-0001")),
            deployer.run(*deploy_command(copy.deepcopy(plan), command_id="cmd-deploy-0002")))
        assert first["ok"] is True and first["stage"] == "active", first
        assert second["ok"] is False and second["error"] == "busy", second
        requests = rig.reader.link.requests
        rig.published.clear()
        again = await deployer.run(*deploy_command(plan, command_id="cmd-deploy-0003"))
        assert again["ok"] is True and again["stage"] == "active" and rig.published == []
        writes_free = rig.reader.link.requests - requests
        assert writes_free <= 3, "an identical running plan is confirmed by reads, not transferred again"


@pytest.mark.slow
async def test_a_device_that_stops_answering_after_commit_ends_in_activation_timeout(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        url = rig.manifest["control"]["url"]

        async def publish(payload: dict[str, Any]) -> None:
            rig.published.append(payload)
            if payload.get("stage") == "activating":
                await inject_fault(url, rig.entry.id, "comm_loss")

        deployer = rig.deployer(activation_margin_s=5.0)
        deployer.publish = publish
        result = await deployer.run(*deploy_command(new_plan(rig.entry.id)))
        assert result["ok"] is False and result["error"] == "activation_timeout", result
        assert "stage" not in result, "accepted by the controller: it may still activate, so not rolled back"
        await inject_fault(url, rig.entry.id, "comm_loss", {"active": False})


def test_the_corrupt_plan_transfer_fault_checks_its_arguments() -> None:
    fleet = build_fleet(FleetConfig(intersections=1, cabinets=1, modbus_cabinets=1, control_port=None),
                        ManualClock())
    sig, cab = next(iter(fleet.controllers)), next(iter(fleet.cabinets))
    transfer = fleet.registers[sig].transfer              # type: ignore[union-attr]
    with pytest.raises(FaultError, match="'at' must be 'write' or 'commit'"):
        apply_fault(fleet, sig, "corrupt_plan_transfer", {"at": "later"})
    with pytest.raises(FaultError, match="does not apply"):
        apply_fault(fleet, cab, "corrupt_plan_transfer")
    assert transfer.corrupt is None
    apply_fault(fleet, sig, "corrupt_plan_transfer", {"at": "commit"})
    assert transfer.corrupt == "commit"
    apply_fault(fleet, sig, "corrupt_plan_transfer", {"active": False})
    assert transfer.corrupt is None


async def test_deploy_plan_runs_only_where_a_long_command_is_registered() -> None:
    calls: list[str] = []
    answers: list[dict[str, Any]] = []

    async def run_long(command: AnyCommand, envelope: CommandEnvelope) -> dict[str, Any]:
        calls.append(envelope.id)
        return {"id": envelope.id, "ok": True, "stage": "active"}

    async def execute(command: AnyCommand) -> dict[str, Any]:
        raise AssertionError("deploy_plan must never reach the generic executor")

    async def answer(payload: dict[str, Any]) -> None:
        answers.append(payload)

    plan = new_plan("tn-sig-001")
    common = {"device": "tn-sig-001", "kind": DeviceKind.SIGNAL_CONTROLLER, "clock": SystemClock(),
              "execute": execute, "answer": answer, "site": "tn", "keys": TEST_KEYS}
    fresh = json.dumps(cmd("deploy_plan", {"plan": plan, "crc32": 7}, device="tn-sig-001")).encode()
    generic = await handle_command(fresh, ledger=CommandLedger(), **common)  # type: ignore[arg-type]
    assert generic is not None and generic["error"] == "unknown_command" and calls == []
    ledger = CommandLedger()
    routed = await handle_command(fresh, ledger=ledger, long_commands={"deploy_plan": run_long},
                                  **common)  # type: ignore[arg-type]
    assert routed is not None and routed["stage"] == "active" and len(calls) == 1
    await handle_command(fresh, ledger=ledger, long_commands={"deploy_plan": run_long}, **common)  # type: ignore[arg-type]
    assert len(calls) == 1, "a repeated id is answered from the ledger"
    expired = json.dumps(cmd("deploy_plan", {"plan": plan, "crc32": 7}, expires_in_s=-1, device="tn-sig-001")).encode()
    late = await handle_command(expired, ledger=ledger, long_commands={"deploy_plan": run_long},
                                **common)  # type: ignore[arg-type]
    assert late is not None and late["error"] == "expired" and len(calls) == 1
    bad = json.dumps(cmd("deploy_plan", {"plan": plan}, device="tn-sig-001")).encode()
    missing = await handle_command(bad, ledger=ledger, long_commands={"deploy_plan": run_long},
                                   **common)  # type: ignore[arg-type]
    assert missing is not None and missing["error"] == "invalid_args" and len(calls) == 1


async def test_an_unreachable_device_gets_nothing_and_the_answer_says_so(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        url = rig.manifest["control"]["url"]
        await inject_fault(url, rig.entry.id, "comm_loss")
        result = await rig.deployer().run(*deploy_command(new_plan(rig.entry.id)))
        assert result["ok"] is False and result["error"] == "write_failed" and result["stage"] == "rolled_back"
        assert "nothing sent" in result["message"] and rig.published == []
        await inject_fault(url, rig.entry.id, "comm_loss", {"active": False})
        assert (await rig.read("plan_status"))["plan_status"] == "idle"


async def test_a_link_lost_mid_transfer_aborts_and_a_later_deploy_succeeds(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        url = rig.manifest["control"]["url"]
        before = await rig.read("plan_crc32")
        link = rig.reader.link
        real_write = link.write_registers
        writes = 0

        async def write_then_lose_link(address: int, values: list[int], **kw: Any) -> None:
            nonlocal writes
            writes += 1
            if writes == 4:         # commit 0, header, first staging chunk done: the line drops
                await inject_fault(url, rig.entry.id, "comm_loss")
            await real_write(address, values, **kw)

        link.write_registers = write_then_lose_link  # type: ignore[method-assign]
        result = await rig.deployer().run(*deploy_command(new_plan(rig.entry.id)))
        assert result["ok"] is False and result["error"] == "write_failed" and result["stage"] == "rolled_back"
        assert stages(rig) == ["transferring"]
        await inject_fault(url, rig.entry.id, "comm_loss", {"active": False})
        after = await rig.read("plan_crc32", "plan_status")
        assert after == {"plan_crc32": before["plan_crc32"], "plan_status": "receiving"}, "staged, never committed"
        ok = await rig.deployer().run(*deploy_command(new_plan(rig.entry.id), command_id="cmd-deploy-0002"))
        assert ok["ok"] is True and ok["stage"] == "active", ok


async def test_a_plan_larger_than_the_staging_area_is_refused_before_sending(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        plan = new_plan(rig.entry.id)
        first = date(2027, 1, 1)
        plan["holidays"] = [{"date": (first + timedelta(days=n)).isoformat(), "day_plan": 1} for n in range(150)]
        encoded = encode_plan(PlanV1.model_validate(plan))
        assert encoded.length > 4096
        requests = rig.reader.link.requests
        result = await rig.deployer().run(*deploy_command(plan))
        assert result["ok"] is False and result["error"] == "invalid_plan" and "2048 registers" in result["message"]
        assert rig.reader.link.requests == requests and rig.published == []


async def test_warnings_never_block_a_deploy(tmp_path: Path) -> None:
    async with controller_rig(tmp_path) as rig:
        plan = new_plan(rig.entry.id)
        plan["day_plans"][0]["events"].append({"at": "23:30", "action": "dark"})
        plan["patterns"][0]["offset_s"] = 0.5
        report = validate_plan(plan)
        assert report.ok and {"dark_scheduled", "not_whole_seconds"} <= {i.rule for i in report.warnings}
        result = await rig.deployer().run(*deploy_command(plan))
        assert result["ok"] is True and result["stage"] == "active", result
