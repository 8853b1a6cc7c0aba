"""Schedule compliance: is each intersection running what its deployed plan's schedule says it should?

For each intersection with an active deployment, `controllers.plans.schedule.scheduled_at` at local time
(`ApiSettings.timezone`) gives pattern N / free / flash / dark; the controller's reported state (`mode`, `pattern`)
is compared with it. Skipped (no verdict) while the controller is under central control (`control_source`
central, manual hold, preempt) or flashing for a known cause (conflict, local, startup, central), or when its state
is unknown. A mismatch lasting longer than `compliance_grace_cycles` cycles (the cycle of the scheduled pattern, or
the reported cycle, else 120 s) raises `pattern_mismatch` on the controller; agreement clears it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.alarm_store import AlarmStore
from api.config import ApiSettings
from api.live import DeviceCache
from api.models import Intersection, PlanVersion
from api.plans_store import active_deployment, get_version
from controllers.alarms import AlarmKind, Verdict
from controllers.clock import Clock
from controllers.plans import PlanV1
from controllers.plans.schedule import Scheduled, ScheduleError, scheduled_at

log = logging.getLogger(__name__)

DEFAULT_CYCLE_S = 120.0
#: Flash causes that explain a flash whatever the schedule says (the alarms of those causes report them).
KNOWN_FLASH = frozenset({"conflict", "local", "startup", "central"})
EXPECTED_MODE = {"pattern": "coordinated", "free": "free", "flash": "flash", "dark": "dark"}


@dataclass(frozen=True, slots=True)
class ComplianceVerdict:
    """One intersection's check: `status` agree | mismatch | skipped, with what was expected and reported."""

    intersection_id: str
    status: str
    expected: str | None
    reported: str | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"intersection_id": self.intersection_id, "status": self.status, "expected": self.expected,
                "reported": self.reported, "reason": self.reason}


def compare(expected: Scheduled, values: dict[str, Any]) -> tuple[str, str | None]:
    """("agree" | "mismatch" | "skipped", what the controller reports or why skipped) for one state."""
    mode = values.get("mode")
    if values.get("control_source") == "central" or mode in ("manual_hold", "preempt"):
        return "skipped", "under central control"
    if mode == "flash" and values.get("flash_cause") in KNOWN_FLASH:
        return "skipped", f"flash ({values.get('flash_cause')})"
    reported = f"pattern {values.get('pattern')}" if mode == "coordinated" else str(mode)
    ok = mode == EXPECTED_MODE[expected.action] and (
        expected.action != "pattern" or values.get("pattern") == expected.pattern)
    return ("agree" if ok else "mismatch"), reported


class ComplianceChecker:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache: DeviceCache, alarms: AlarmStore,
                 clock: Clock, settings: ApiSettings) -> None:
        self._sessions = sessions
        self._cache = cache
        self._alarms = alarms
        self._clock = clock
        self._settings = settings
        self._since: dict[str, datetime] = {}  # intersection → when the current mismatch began
        self._plans: dict[tuple[str, int], PlanV1] = {}

    async def _plan(self, session: AsyncSession, intersection_id: str, version: int) -> PlanV1 | None:
        key = (intersection_id, version)
        if key not in self._plans:
            row: PlanVersion | None = await get_version(session, intersection_id, version)
            if row is None:
                return None
            try:
                self._plans[key] = PlanV1.model_validate(row.plan)
            except ValidationError:
                log.error("compliance_plan_unreadable intersection=%s version=%s", intersection_id, version)
                return None
        return self._plans[key]

    async def check_once(self) -> list[ComplianceVerdict]:
        """Check every intersection with a deployed plan; raise or clear alarms; the verdicts."""
        now = self._clock.now()
        local = now.astimezone(self._settings.tz)
        out: list[ComplianceVerdict] = []
        async with self._sessions() as session:
            rows = list((await session.execute(select(Intersection).where(
                Intersection.controller_id.is_not(None)).order_by(Intersection.id))).scalars())
            for inter in rows:
                deployed = await active_deployment(session, inter.id)
                plan = await self._plan(session, inter.id, deployed.version) if deployed else None
                if plan is not None:
                    out.append(await self._check(inter, plan, local, now))
        return out

    async def _check(self, inter: Intersection, plan: PlanV1, local: datetime, now: datetime) -> ComplianceVerdict:
        assert inter.controller_id is not None
        live = self._cache.get(inter.controller_id)
        try:
            expected = scheduled_at(plan, local)
        except ScheduleError as exc:
            return ComplianceVerdict(inter.id, "skipped", None, None, str(exc))
        if live is None or live.state is None or live.status == "offline":
            self._since.pop(inter.id, None)
            return ComplianceVerdict(inter.id, "skipped", expected.describe(), None, "controller state unknown")
        values = live.state.get("values") or {}
        status, reported = compare(expected, values)
        if status == "skipped":
            self._since.pop(inter.id, None)
            return ComplianceVerdict(inter.id, status, expected.describe(), None, reported)
        kind = AlarmKind.PATTERN_MISMATCH
        if status == "agree":
            self._since.pop(inter.id, None)
            await self._alarms.apply(live.site, live.id, Verdict(frozenset(), frozenset({kind})), now)
            return ComplianceVerdict(inter.id, status, expected.describe(), reported)
        since = self._since.setdefault(inter.id, now)
        pattern = next((p for p in plan.patterns if p.pattern == expected.pattern), None)
        cycle_s = pattern.cycle_s if pattern else float(values.get("cycle_s") or DEFAULT_CYCLE_S)
        if (now - since).total_seconds() > self._settings.compliance_grace_cycles * cycle_s:
            detail = f"expected {expected.describe()}, reported {reported}"
            if kind not in self._alarms.active_kinds(live.id):
                log.warning("pattern_mismatch intersection=%s device=%s expected=%s reported=%s", inter.id, live.id,
                            expected.describe(), reported)
            await self._alarms.apply(live.site, live.id, Verdict(frozenset({kind}), frozenset({kind}),
                                                                 {kind: detail}), now)
        return ComplianceVerdict(inter.id, status, expected.describe(), reported)

    async def run(self) -> None:
        """Forever: check every `compliance_interval_s` of the injected clock."""
        while True:
            await self._clock.sleep(self._settings.compliance_interval_s)
            await self.check_once()
