"""What should run at a local time (controllers.plans.schedule), and the API's schedule compliance alarm."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.compliance import ComplianceChecker, ComplianceVerdict, compare
from controllers.plans import PlanV1
from controllers.plans.schedule import Scheduled, day_plan_for, scheduled_at
from tests.api.conftest import Harness, eventually
from tests.api.fakes import signal_state
from tests.api.plan_fixtures import BASE_URL, add_intersection, answer, example_plan

PLAN = PlanV1.model_validate(example_plan())
MONDAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(("local", "action", "pattern"), [
    (dt.datetime(2026, 11, 23, 0, 0), "flash", None),
    (dt.datetime(2026, 11, 23, 4, 59), "flash", None),
    (dt.datetime(2026, 11, 23, 5, 0), "free", None),
    (dt.datetime(2026, 11, 23, 6, 30), "pattern", 1),
    (dt.datetime(2026, 11, 23, 8, 59, 59), "pattern", 1),
    (dt.datetime(2026, 11, 23, 14, 0), "pattern", 2),
    (dt.datetime(2026, 11, 23, 22, 30), "free", None),
    (dt.datetime(2026, 11, 28, 6, 30), "free", None),  # Saturday: day plan 2 starts pattern 2 at 07:00
    (dt.datetime(2026, 11, 28, 7, 0), "pattern", 2),
    (dt.datetime(2026, 9, 2, 8, 0), "pattern", 2),  # National Day (a Wednesday) runs day plan 2
])
def test_scheduled_at(local: dt.datetime, action: str, pattern: int | None) -> None:
    got = scheduled_at(PLAN, local)
    assert (got.action, got.pattern) == (action, pattern)


def test_holiday_and_carry_over() -> None:
    assert day_plan_for(PLAN, dt.date(2026, 9, 2)).day_plan == 2
    assert day_plan_for(PLAN, MONDAY).day_plan == 1
    late = example_plan()
    late["day_plans"][0]["events"] = [{"at": "06:30", "action": "pattern", "pattern": 1},
                                      {"at": "21:00", "action": "free"}]
    late["day_plans"][1]["events"] = [{"at": "07:00", "action": "pattern", "pattern": 2}]
    plan = PlanV1.model_validate(late)
    got = scheduled_at(plan, dt.datetime(2026, 11, 24, 3, 0))  # Tuesday 03:00: Monday's 21:00 free still runs
    assert (got.action, got.date, got.at) == ("free", MONDAY, "21:00")
    sunday_night = scheduled_at(plan, dt.datetime(2026, 11, 23, 1, 0))  # Sunday (day plan 2) ended in pattern 2
    assert (sunday_night.action, sunday_night.pattern) == ("pattern", 2)


def test_compare_rules() -> None:
    pat2 = Scheduled("pattern", 2, 1, "09:00", MONDAY)
    assert compare(pat2, {"mode": "coordinated", "pattern": 2})[0] == "agree"
    assert compare(pat2, {"mode": "coordinated", "pattern": 1}) == ("mismatch", "pattern 1")
    assert compare(pat2, {"mode": "free", "pattern": 0})[0] == "mismatch"
    assert compare(pat2, {"mode": "flash", "flash_cause": "conflict", "pattern": 0})[0] == "skipped"
    assert compare(pat2, {"mode": "flash", "flash_cause": "schedule", "pattern": 0})[0] == "mismatch"
    assert compare(pat2, {"mode": "coordinated", "pattern": 1, "control_source": "central"})[0] == "skipped"
    assert compare(pat2, {"mode": "manual_hold", "pattern": 1})[0] == "skipped"
    flash = Scheduled("flash", None, 1, "23:00", MONDAY)
    assert compare(flash, {"mode": "flash", "flash_cause": "schedule", "pattern": 0})[0] == "agree"


async def _verdicts(checker: ComplianceChecker) -> list[ComplianceVerdict]:
    """The first non-empty check: the deployment's final write (tracker task, DB thread) may still be in flight."""
    async with asyncio.timeout(5):
        while not (verdicts := await checker.check_once()):  # noqa: ASYNC110 - waits for DB threads, not a timer
            await asyncio.sleep(0.005)
    return verdicts


async def _deploy_active(h: Harness) -> None:
    await add_intersection(h)
    eng = h.token("engineer")
    assert (await h.client.post(BASE_URL, json=example_plan(), headers=eng)).status_code == 201
    dep = (await h.client.post(f"{BASE_URL}/1/deploy", headers=eng)).json()
    await answer(h, dep["command_id"], final=True)
    await eventually(lambda: h.state.dispatcher.results >= 1)


async def test_mismatch_beyond_grace_raises_then_agreement_clears(harness: Harness) -> None:
    """The fake clock starts Monday 07:00 UTC = 14:00 in Ho Chi Minh City: pattern 2 (cycle 90 s) is due, and the
    fake controller reports pattern 1."""
    await _deploy_active(harness)
    checker = harness.app.state.plans.compliance
    verdicts = await _verdicts(checker)
    assert verdicts[0].to_json() == {"intersection_id": "tn-001", "status": "mismatch",
                                   "expected": "pattern 2", "reported": "pattern 1", "reason": None}
    grace = harness.state.settings.compliance_grace_cycles * 90
    await harness.clock.advance(grace - 10)
    await checker.check_once()
    assert "pattern_mismatch" not in harness.state.alarms.active_kinds("tsc-001"), "within the grace period"
    await harness.clock.advance(20)
    await checker.check_once()
    assert "pattern_mismatch" in harness.state.alarms.active_kinds("tsc-001")
    state = signal_state(harness.clock.now(), seq=2)
    state["values"]["pattern"] = 2
    await harness.bus.publish("sl/v1/tn/tsc-001/state", state, retain=True)
    await harness.settle()
    assert (await checker.check_once())[0].status == "agree"
    assert "pattern_mismatch" not in harness.state.alarms.active_kinds("tsc-001")


async def test_central_control_is_not_a_mismatch(harness: Harness) -> None:
    await _deploy_active(harness)
    state = signal_state(harness.clock.now(), seq=2, mode="flash", flash_cause="central")
    state["values"]["control_source"] = "central"
    await harness.bus.publish("sl/v1/tn/tsc-001/state", state, retain=True)
    await harness.settle()
    checker = harness.app.state.plans.compliance
    verdicts = await _verdicts(checker)
    assert verdicts[0].status == "skipped"
    await harness.clock.advance(3600)
    await checker.check_once()
    assert "pattern_mismatch" not in harness.state.alarms.active_kinds("tsc-001")


async def test_schedule_route(harness: Harness) -> None:
    await add_intersection(harness)
    url = "/api/v1/intersections/tn-001/schedule"
    before = (await harness.client.get(url, headers=harness.token("viewer"))).json()
    assert before["active_version"] is None and before["reason"] == "no plan deployed"
    eng = harness.token("engineer")
    await harness.client.post(BASE_URL, json=example_plan(), headers=eng)
    dep = (await harness.client.post(f"{BASE_URL}/1/deploy", headers=eng)).json()
    await answer(harness, dep["command_id"], final=True)

    async def deployed() -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                body: dict[str, Any] = (await harness.client.get(url, headers=harness.token("viewer"))).json()
                if body["active_version"] is not None:
                    return body
                await asyncio.sleep(0.005)  # waits for the tracker's DB write (a thread), not for a timer

    now = await deployed()
    assert now["local_time"].startswith("2026-11-23T14:00") and now["local_time"].endswith("+07:00")
    assert now["expected"] == {"action": "pattern", "pattern": 2, "day_plan": 1, "since": "2026-11-23 09:00"}
    assert (now["status"], now["reported"]) == ("mismatch", "pattern 1")


@given(st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
       st.lists(st.tuples(st.integers(0, 23), st.integers(0, 59), st.sampled_from(["free", "flash", "pattern"])),
                min_size=1, max_size=6, unique_by=lambda e: (e[0], e[1])))
def test_scheduled_at_is_the_latest_event_not_after(local: dt.datetime, events: list[tuple[int, int, str]]) -> None:
    """Oracle: every event of the last eight days as a datetime; the one in force is the latest not after `local`."""
    doc = example_plan()
    doc["day_plans"][0]["events"] = [
        {"at": f"{h:02d}:{m:02d}", "action": a, **({"pattern": 1} if a == "pattern" else {})} for h, m, a in events]
    plan = PlanV1.model_validate(doc)
    timeline = []
    for back in range(8):
        day = local.date() - dt.timedelta(days=back)
        for event in day_plan_for(plan, day).events:
            hour, minute = map(int, event.at.split(":"))
            timeline.append((dt.datetime.combine(day, dt.time(hour, minute)), event))
    in_force = max((t for t in timeline if t[0] <= local), key=lambda t: t[0])
    got = scheduled_at(plan, local)
    assert (got.action, got.pattern, got.at) == (in_force[1].action, in_force[1].pattern, in_force[1].at)
