"""Every route against every role (table-driven): allowed roles get past authorization, the others get 403,
anonymous callers 401; never a 5xx."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from api.security import ROLE_SCOPES, Role, Scope
from tests.api.conftest import Harness

UNTIL = "2026-11-23T10:00:00Z"


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    scope: Scope
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)

    def json_for(self, role: Role) -> dict[str, Any] | None:
        """Bodies that create something get a name per role, so each allowed role creates its own."""
        if self.body is None:
            return None
        return {k: (v.format(role=role.value) if isinstance(v, str) else v) for k, v in self.body.items()}


CASES = [
    RouteCase("GET", "/api/v1/devices", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/devices/tsc-001", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/devices/import", Scope.DEVICES_WRITE,
              {"format": "signalight.manifest/v1", "site": "tn", "devices": []}),
    RouteCase("POST", "/api/v1/devices/tsc-001/commands", Scope.COMMAND_SIGNAL, {"name": "flash",
                                                                              "args": {"until": UNTIL}}),
    RouteCase("POST", "/api/v1/devices/lc-001/commands", Scope.COMMAND_CABINET,
              {"name": "switch", "args": {"circuit": 1, "level_pct": 0, "until": UNTIL}}),
    RouteCase("GET", "/api/v1/devices/tsc-001/telemetry", Scope.TELEMETRY_READ,
              params={"field": "cycle_s", "start": "2026-11-23T00:00:00Z", "end": "2026-11-23T01:00:00Z"}),
    RouteCase("GET", "/api/v1/commands/00000000-0000-0000-0000-000000000000", Scope.COMMANDS_READ),
    RouteCase("GET", "/api/v1/commands", Scope.COMMANDS_READ, params={"device": "tsc-001", "status": "pending"}),
    RouteCase("GET", "/api/v1/alarms", Scope.ALARMS_READ),
    RouteCase("GET", "/api/v1/alarms/1", Scope.ALARMS_READ),
    RouteCase("POST", "/api/v1/alarms/1/ack", Scope.ALARMS_ACK),
    RouteCase("GET", "/api/v1/sites", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/sites", Scope.INTERSECTIONS_WRITE, {"id": "site-{role}", "name": "Thái Nguyên"}),
    RouteCase("GET", "/api/v1/intersections", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/intersections", Scope.INTERSECTIONS_WRITE,
              {"id": "int-{role}", "site": "tn", "name": "Ngã tư {role}"}),
    RouteCase("PATCH", "/api/v1/intersections/tn-001", Scope.INTERSECTIONS_WRITE, {"name": "x"}),
    RouteCase("GET", "/api/v1/audit", Scope.AUDIT_READ),
    # Plans, deployments and manual control: unknown intersection or empty bodies — past authorization,
    # the allowed roles get 404 or 422.
    RouteCase("POST", "/api/v1/plans/validate", Scope.DEVICES_READ, {}),
    RouteCase("POST", "/api/v1/intersections/tn-001/plans", Scope.PLANS_WRITE, {}),
    RouteCase("GET", "/api/v1/intersections/tn-001/plans", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001/plans/diff", Scope.DEVICES_READ, params={"from": "1", "to": "2"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/plans/1", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001/plans/1/export", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/intersections/tn-001/plans/1/deploy", Scope.PLANS_WRITE),
    RouteCase("GET", "/api/v1/deployments/nope", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001/deployments", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001/schedule", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/intersections/tn-001/control", Scope.COMMAND_SIGNAL, {"action": "release"}),
    RouteCase("DELETE", "/api/v1/intersections/tn-001/control", Scope.COMMAND_SIGNAL),
    RouteCase("GET", "/api/v1/intersections/tn-001/control", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/intersections/tn-001/reset-conflict", Scope.INTERSECTIONS_WRITE,
              {"reason": "load switch replaced"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/events", Scope.TELEMETRY_READ,
              params={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T08:00:00Z"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/detectors", Scope.DEVICES_READ),
    RouteCase("PUT", "/api/v1/intersections/tn-001/detectors", Scope.INTERSECTIONS_WRITE),
    RouteCase("POST", "/api/v1/intersections/tn-001/measures/run", Scope.INTERSECTIONS_WRITE,
              params={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T08:00:00Z"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/measures/actuations", Scope.TELEMETRY_READ,
              params={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T08:00:00Z"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/measures/actuations/compare", Scope.TELEMETRY_READ,
              params={"at": "2026-11-23T07:00:00Z"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/pcd", Scope.TELEMETRY_READ,
              params={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T08:00:00Z", "phase": "2"}),
    RouteCase("GET", "/api/v1/intersections/tn-001/splits", Scope.TELEMETRY_READ,
              params={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T08:00:00Z"}),
    RouteCase("GET", "/api/v1/users", Scope.USERS_ADMIN),
    RouteCase("POST", "/api/v1/users", Scope.USERS_ADMIN,
              {"name": "new-{role}", "password": "long-enough-password", "role": "viewer"}),
    RouteCase("PATCH", "/api/v1/users/viewer", Scope.USERS_ADMIN, {"active": True}),
    RouteCase("GET", "/api/v1/tokens", Scope.USERS_ADMIN),
    RouteCase("POST", "/api/v1/tokens", Scope.USERS_ADMIN, {"name": "rig-{role}", "role": "viewer"}),
    RouteCase("DELETE", "/api/v1/tokens/999", Scope.USERS_ADMIN),
    # Street lighting: engineers write and deploy documents, crews and operators override circuits.
    RouteCase("POST", "/api/v1/lighting/validate", Scope.DEVICES_READ, {}),
    RouteCase("GET", "/api/v1/lighting/documents", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/lighting/documents/city", Scope.PLANS_WRITE, {}),
    RouteCase("GET", "/api/v1/lighting/documents/city/versions", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/lighting/documents/city/diff", Scope.DEVICES_READ, params={"from": "1", "to": "2"}),
    RouteCase("GET", "/api/v1/lighting/documents/city/versions/1", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/lighting/documents/city/versions/1/export", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/lighting/documents/city/versions/1/deploy", Scope.PLANS_WRITE, {}),
    RouteCase("GET", "/api/v1/lighting/batches/nope", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/lighting/deployments/nope", Scope.DEVICES_READ),
    RouteCase("PUT", "/api/v1/cabinets/lc-001/circuits/1/override", Scope.COMMAND_CABINET,
              {"level_pct": 40, "duration_min": 60, "reason": "bảo trì {role}"}),
    RouteCase("DELETE", "/api/v1/cabinets/lc-001/circuits/1/override", Scope.COMMAND_CABINET),
    RouteCase("GET", "/api/v1/cabinets/lc-001/lighting", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/cabinets/lc-001/energy", Scope.TELEMETRY_READ,
              params={"from": "2026-11-01", "to": "2026-11-30"}),
    RouteCase("GET", "/api/v1/lighting/energy.csv", Scope.TELEMETRY_READ,
              params={"from": "2026-11-01", "to": "2026-11-30"}),
    # Work orders: everyone reads; dispatchers create and assign; crews take their steps (unknown order: 404).
    RouteCase("GET", "/api/v1/work-orders", Scope.ALARMS_READ),
    RouteCase("POST", "/api/v1/work-orders", Scope.WORKORDERS_MANAGE, {"device_id": "lc-001", "title": "x {role}"}),
    RouteCase("GET", "/api/v1/work-orders/999", Scope.ALARMS_READ),
    RouteCase("POST", "/api/v1/work-orders/999/transitions", Scope.WORKORDERS_WORK, {"action": "accept"}),
    RouteCase("POST", "/api/v1/work-orders/999/photos", Scope.WORKORDERS_WORK),
    RouteCase("GET", "/api/v1/work-orders/999/photos/1", Scope.ALARMS_READ),
    RouteCase("GET", "/api/v1/lighting/lamp-life", Scope.TELEMETRY_READ),
    # Plan previews on the twin: engineers store geometry and run previews; readers follow them.
    RouteCase("GET", "/api/v1/intersections/tn-001/geometry", Scope.DEVICES_READ),
    RouteCase("PUT", "/api/v1/intersections/tn-001/geometry", Scope.INTERSECTIONS_WRITE, {}),
    RouteCase("POST", "/api/v1/intersections/tn-001/plans/1/preview", Scope.PLANS_WRITE),
    RouteCase("POST", "/api/v1/intersections/tn-001/plans/draft/preview", Scope.PLANS_WRITE, {}),
    RouteCase("POST", "/api/v1/corridors/preview", Scope.PLANS_WRITE, {}),
    RouteCase("GET", "/api/v1/previews/nope", Scope.DEVICES_READ),
    RouteCase("GET", "/api/v1/intersections/tn-001/previews", Scope.DEVICES_READ),
    RouteCase("POST", "/api/v1/lighting/cabinets/lc-001/circuits/1/relamp", Scope.COMMAND_CABINET),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_route_against_every_role(harness: Harness, case: RouteCase) -> None:
    anonymous = await harness.client.request(case.method, case.path, json=case.json_for(Role.ADMIN),
                                             params=case.params)
    assert anonymous.status_code == 401, anonymous.text
    for role in Role:
        headers = harness.token(role)
        resp = await harness.client.request(case.method, case.path, json=case.json_for(role), params=case.params,
                                            headers=headers)
        assert resp.status_code < 500, (role, resp.text)
        if case.scope in ROLE_SCOPES[role]:
            assert resp.status_code not in (401, 403), (role, resp.text)
        else:
            assert resp.status_code == 403, (role, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")


def test_every_route_is_in_the_table() -> None:
    from api.app import create_app
    from api.config import ApiSettings
    from api.state import ApiDeps
    from tests.api.fakes import FakeBus, FakeClock

    app = create_app(ApiDeps(ApiSettings(), FakeBus(), None, FakeClock()))
    open_routes = {"/healthz", "/readyz", "/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout",
                  "/api/v1/stream", "/api/v1/public/reports", "/api/v1/public/reports/{reference}",
                  "/api/v1/public/reports/{reference}/photo", "/api/v1/ui-config"}
    covered = {(c.method, c.path.replace("tsc-001", "{device_id}").replace("lc-001", "{device_id}")) for c in CASES}
    schema = app.openapi()["paths"]
    missing = []
    for path, ops in schema.items():
        if path in open_routes:
            continue
        for method in ops:
            concrete = [c for c in covered if c[0] == method.upper() and _same_shape(c[1], path)]
            if not concrete:
                missing.append(f"{method.upper()} {path}")
    assert missing == [], "add a RouteCase (route, scope) to CASES in tests/api/test_roles.py for each new route"


def _same_shape(concrete: str, template: str) -> bool:
    a, b = concrete.split("/"), template.split("/")
    return len(a) == len(b) and all(x == y or y.startswith("{") for x, y in zip(a, b, strict=True))
