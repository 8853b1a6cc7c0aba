"""The long-lived parts of timing plans in one API process: deploy tracker, manual-control renewer, schedule checker.

Built in the app lifespan and kept on `app.state.plans` (beside `app.state.api`); routes get it with `PlansDep`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.compliance import ComplianceChecker
from api.deploys import DeployTracker
from api.manual_control import ControlManager
from api.state import ApiState


@dataclass
class PlansRuntime:
    deploys: DeployTracker
    control: ControlManager
    compliance: ComplianceChecker


def build(api: ApiState) -> PlansRuntime:
    """The runtime over the API's sessions, bus, clock, dispatcher, alarms and live cache."""
    return PlansRuntime(
        deploys=DeployTracker(api.sessions, api.deps.bus, api.clock, api.settings, api.dispatcher, api.alarms,
                              api.hub, api.cache),
        control=ControlManager(api.sessions, api.clock, api.settings, api.dispatcher),
        compliance=ComplianceChecker(api.sessions, api.cache, api.alarms, api.clock, api.settings))


async def get_plans(request: Request) -> PlansRuntime:
    runtime: PlansRuntime = request.app.state.plans
    return runtime


PlansDep = Annotated[PlansRuntime, Depends(get_plans)]
