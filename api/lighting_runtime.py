"""The long-lived lighting parts of one API process (the deploy follower and its sweeper, the override
reconciler), on `app.state.lighting`; routes get it with `LightingDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.lighting_deploys import LightingDeployer
from api.lighting_overrides import OverrideReconciler
from api.state import ApiState


@dataclass
class LightingRuntime:
    deploys: LightingDeployer
    overrides: OverrideReconciler


def build(api: ApiState) -> LightingRuntime:
    return LightingRuntime(deploys=LightingDeployer(api.sessions, api.deps.bus, api.clock, api.settings,
                                                    api.dispatcher, api.alarms, api.hub),
                           overrides=OverrideReconciler(api.sessions, api.deps.bus, api.clock, api.dispatcher))


async def get_lighting(request: Request) -> LightingRuntime:
    runtime: LightingRuntime = request.app.state.lighting
    return runtime


LightingDep = Annotated[LightingRuntime, Depends(get_lighting)]
