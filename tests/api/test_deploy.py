"""Plan deploys on the fake bus: stages from progress reports, failure with the controller's reason and the
plan_deploy_failed alarm (cleared by the next success), timeout, not sent, re-validation, audit."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from api.models import Alarm, AuditEntry, Command
from controllers.commands import DeployStage, ErrorCode
from tests.api.conftest import Harness, eventually
from tests.api.fakes import signal_state
from tests.api.plan_fixtures import BASE_URL, INTERSECTION, add_intersection, answer, example_plan, with_cycle


async def _deploy(h: Harness, version: int = 1) -> dict[str, Any]:
    resp = await h.client.post(f"{BASE_URL}/{version}/deploy", headers=h.token("engineer"))
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _status(h: Harness, deployment_id: str, want: str) -> dict[str, Any]:
    """The deployment once its status is `want` (the tracker writes it from its own subscription)."""
    async with asyncio.timeout(5):
        while True:
            resp = await h.client.get(f"/api/v1/deployments/{deployment_id}", headers=h.token("viewer"))
            body: dict[str, Any] = resp.json()
            if body.get("status") == want:
                return body
            await asyncio.sleep(0.005)  # waits for DB writes in aiosqlite threads, not for a timer


async def _setup(h: Harness) -> None:
    await add_intersection(h)
    resp = await h.client.post(BASE_URL, json=example_plan(), headers=h.token("engineer"))
    assert resp.status_code == 201, resp.text


async def _active_alarms(h: Harness) -> set[str]:
    async with h.state.sessions() as session:
        return set((await session.execute(select(Alarm.kind).where(Alarm.active))).scalars())


async def test_deploy_follows_stages_to_active(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    assert dep["status"] == "pending" and dep["version"] == 1
    sent = harness.bus.sent_to("cmd")[-1]
    assert sent["name"] == "deploy_plan" and sent["id"] == dep["command_id"]
    assert sent["args"]["deployment_id"] == dep["id"] and sent["args"]["crc32"] == dep["crc32"]
    assert sent["args"]["plan"]["intersection_id"] == INTERSECTION
    for stage in (DeployStage.TRANSFERRING, DeployStage.VERIFYING, DeployStage.ACTIVATING):
        await answer(harness, dep["command_id"], final=False, stage=stage)
        await _status(harness, dep["id"], stage.value)
    async with harness.state.sessions() as session:
        assert (await session.get(Command, dep["command_id"])).status == "pending", "progress is not the end"  # type: ignore[union-attr]
    await answer(harness, dep["command_id"], final=True, stage=DeployStage.ACTIVE)
    done = await _status(harness, dep["id"], "active")
    assert done["finished_at"]
    listing = await harness.client.get(BASE_URL, headers=harness.token("viewer"))
    assert listing.json()["active_version"] == 1
    deployments = await harness.client.get(f"/api/v1/intersections/{INTERSECTION}/deployments",
                                           headers=harness.token("viewer"))
    assert [d["id"] for d in deployments.json()] == [dep["id"]]
    async with harness.state.sessions() as session:
        assert (await session.get(Command, dep["command_id"])).status == "succeeded"  # type: ignore[union-attr]
        actions = [(a.action, a.outcome) for a in (await session.execute(
            select(AuditEntry).where(AuditEntry.action.like("plan.deploy%")))).scalars()]
    assert actions == [("plan.deploy", "requested"), ("plan.deploy.result", "active")]


async def test_one_deploy_at_a_time(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    second = await harness.client.post(f"{BASE_URL}/1/deploy", headers=harness.token("engineer"))
    assert second.status_code == 409 and second.json()["deployment_id"] == dep["id"]
    await answer(harness, dep["command_id"], final=True, stage=DeployStage.ACTIVE)
    await _status(harness, dep["id"], "active")
    await _deploy(harness)


async def test_progress_never_goes_back(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.VERIFYING)
    await _status(harness, dep["id"], "verifying")
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.TRANSFERRING)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.ACTIVATING)
    await _status(harness, dep["id"], "activating")


async def test_rolled_back_raises_alarm_then_success_clears_it(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.TRANSFERRING)
    await answer(harness, dep["command_id"], final=True, ok=False, stage=DeployStage.ROLLED_BACK,
                 error=ErrorCode.CRC_MISMATCH, message="staged CRC 1234abcd, expected 0badf00d")
    failed = await _status(harness, dep["id"], "rolled_back")
    assert failed["error"] == "crc_mismatch" and "staged CRC" in failed["message"]
    await eventually(lambda: "plan_deploy_failed" in {k.value for k in harness.state.alarms.active_kinds("tsc-001")})
    assert "plan_deploy_failed" in await _active_alarms(harness)
    assert (await harness.client.get(BASE_URL, headers=harness.token("viewer"))).json()["active_version"] is None
    again = await _deploy(harness)
    await answer(harness, again["command_id"], final=True, stage=DeployStage.ACTIVE)
    await _status(harness, again["id"], "active")
    await eventually(lambda: not harness.state.alarms.active_kinds("tsc-001"))
    assert "plan_deploy_failed" not in await _active_alarms(harness)


async def test_failed_without_rollback_stage(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, dep["command_id"], final=True, ok=False, error=ErrorCode.WRITE_FAILED, message="exc 4")
    failed = await _status(harness, dep["id"], "failed")
    assert failed["error"] == "write_failed"


async def test_no_answer_ends_failed_timeout(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.TRANSFERRING)
    ttl = harness.state.settings.deploy_ttl_s + harness.state.settings.command_result_grace_s
    await harness.clock.advance(ttl - 5)
    assert (await _status(harness, dep["id"], "transferring"))["error"] is None
    await harness.clock.advance(6)
    timed_out = await _status(harness, dep["id"], "failed")
    assert timed_out["error"] == "timeout"
    await eventually(lambda: bool(harness.state.alarms.active_kinds("tsc-001")))
    # A late final answer still counts: the controller did run the plan.
    await answer(harness, dep["command_id"], final=True, stage=DeployStage.ACTIVE)
    await _status(harness, dep["id"], "active")


async def test_lost_final_answer_but_controller_runs_the_plan(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.ACTIVATING)
    state = signal_state(harness.clock.now(), seq=2)
    state["values"]["plan_crc32"] = dep["crc32"]
    await harness.bus.publish("sl/v1/tn/tsc-001/state", state, retain=True)
    await harness.settle()
    await harness.clock.advance(harness.state.settings.deploy_ttl_s + harness.state.settings.command_result_grace_s)
    done = await _status(harness, dep["id"], "active")
    assert "reports this plan's CRC" in done["message"]


async def test_bus_down_fails_at_once(harness: Harness) -> None:
    await _setup(harness)
    harness.bus.fail_publish = True
    dep = await _deploy(harness)
    assert dep["status"] == "failed" and dep["error"] == "not_sent"


async def test_other_commands_results_ignored(harness: Harness) -> None:
    await _setup(harness)
    dep = await _deploy(harness)
    await answer(harness, "0123456789abcdef", final=True)
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.TRANSFERRING)
    await _status(harness, dep["id"], "transferring")


async def test_deploy_needs_controller_and_version(harness: Harness) -> None:
    await add_intersection(harness, controller=None)
    eng = harness.token("engineer")
    await harness.client.post(BASE_URL, json=with_cycle(example_plan(), 1, 110), headers=eng)
    assert (await harness.client.post(f"{BASE_URL}/1/deploy", headers=eng)).status_code == 409
    assert (await harness.client.post(f"{BASE_URL}/5/deploy", headers=eng)).status_code == 404
    assert (await harness.client.get("/api/v1/deployments/nope", headers=eng)).status_code == 404
