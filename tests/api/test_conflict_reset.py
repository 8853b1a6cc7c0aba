"""Remote reset of a conflict flash: engineers (and admins) only, with a reason that lands in the audit trail."""

from __future__ import annotations

from sqlalchemy import select

from api.models import AuditEntry
from api.security import Role
from tests.api.conftest import Harness

RESET = {"name": "reset_conflict", "args": {}, "reason": "technician checked the cabinet by phone, MMU log clean"}


async def test_only_engineers_reset_a_conflict_flash_and_the_reason_is_audited(harness: Harness) -> None:
    url = "/api/v1/devices/tsc-001/commands"
    resp = await harness.client.post(url, json=RESET, headers=harness.token(Role.OPERATOR))
    assert resp.status_code == 403 and "engineers only" in resp.json()["detail"]
    resp = await harness.client.post(url, json={"name": "reset_conflict", "args": {}},
                                     headers=harness.token(Role.ENGINEER))
    assert resp.status_code == 422, "a reason is required"
    resp = await harness.client.post(url, json=RESET, headers=harness.token(Role.ENGINEER))
    assert resp.status_code == 202, resp.text
    async with harness.state.sessions() as session:
        [entry] = (await session.execute(select(AuditEntry).where(AuditEntry.action == "command.reset_conflict"))
                   ).scalars()
    assert entry.actor == "engineer" and entry.detail["reason"] == RESET["reason"]
