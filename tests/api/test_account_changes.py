"""Disabling a user, changing their role or resetting their password ends, on the next request, their access tokens,
their refresh tokens and the API tokens they made; a password reset never re-enables an account; an API token
never outranks or outlives its creator's account, and expires by default."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api.users import create_user
from tests.api.conftest import PASSWORD, Harness


async def _login(h: Harness, name: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await h.client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _api_token(h: Harness, creator: dict[str, str], name: str, role: str, **extra: Any) -> str:
    resp = await h.client.post("/api/v1/tokens", headers=creator, json={"name": name, "role": role, **extra})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


@pytest.mark.parametrize("change", [{"active": False}, {"role": "viewer"}, {"password": "a-new-password-1"}])
async def test_a_change_to_the_account_ends_every_token_at_once(harness: Harness, change: dict[str, Any]) -> None:
    admin = _bearer((await _login(harness, "admin"))["access_token"])
    await create_user(harness.db_url, "boss", "boss-password-1", "admin")
    boss = await _login(harness, "boss", "boss-password-1")
    machine = await _api_token(harness, _bearer(boss["access_token"]), "rig-1", "operator")
    for token in (boss["access_token"], machine):
        assert (await harness.client.get("/api/v1/devices", headers=_bearer(token))).status_code == 200

    resp = await harness.client.patch("/api/v1/users/boss", headers=admin, json=change)
    assert resp.status_code == 200, resp.text

    for token in (boss["access_token"], machine):  # no wait: the same replica drops its cached account
        resp = await harness.client.get("/api/v1/devices", headers=_bearer(token))
        assert resp.status_code == 401, resp.text
    refreshed = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": boss["refresh_token"]})
    assert refreshed.status_code == 401, refreshed.text


async def test_a_password_reset_does_not_re_enable_a_disabled_account(harness: Harness) -> None:
    admin = harness.token("admin")
    assert (await harness.client.patch("/api/v1/users/crew", headers=admin,
                                       json={"active": False})).status_code == 200
    resp = await harness.client.patch("/api/v1/users/crew", headers=admin, json={"password": "fresh-password-1"})
    assert resp.status_code == 200 and resp.json()["active"] is False
    login = await harness.client.post("/api/v1/auth/token",
                                      data={"username": "crew", "password": "fresh-password-1"})
    assert login.status_code == 401
    # The command line's reset (create-user on an existing name) keeps it disabled too.
    await create_user(harness.db_url, "crew", "cli-password-1", "crew")
    listed = {u["name"]: u for u in (await harness.client.get("/api/v1/users", headers=admin)).json()}
    assert listed["crew"]["active"] is False


async def test_an_api_token_never_outranks_its_creator(harness: Harness) -> None:
    admin = _bearer((await _login(harness, "admin"))["access_token"])
    machine = await _api_token(harness, admin, "rig-admin", "admin")
    # A token cannot make tokens (it has no account of its own to answer to).
    resp = await harness.client.post("/api/v1/tokens", headers=_bearer(machine), json={"name": "x", "role": "viewer"})
    assert resp.status_code == 403, resp.text


async def test_an_api_token_expires_by_default(harness: Harness) -> None:
    admin = _bearer((await _login(harness, "admin"))["access_token"])
    created = await harness.client.post("/api/v1/tokens", headers=admin, json={"name": "rig-2", "role": "viewer"})
    assert created.status_code == 201 and created.json()["expires_at"] is not None
    token = created.json()["token"]
    assert (await harness.client.get("/api/v1/devices", headers=_bearer(token))).status_code == 200
    await harness.clock.advance(timedelta(days=harness.state.settings.api_token_ttl_days).total_seconds() + 1)
    assert (await harness.client.get("/api/v1/devices", headers=_bearer(token))).status_code == 401
    never = await harness.client.post("/api/v1/tokens", headers=harness.token("admin"),
                                      json={"name": "rig-3", "role": "viewer", "ttl_days": 4000})
    assert never.status_code == 422, never.text


async def test_a_token_of_a_deleted_creator_is_refused(harness: Harness) -> None:
    """A token whose creator row is gone (or was made by a name that is no user) has no account to answer to."""
    from sqlalchemy import update

    from api.models import ApiToken

    admin = _bearer((await _login(harness, "admin"))["access_token"])
    machine = await _api_token(harness, admin, "rig-4", "viewer")
    async with harness.state.sessions() as session:
        await session.execute(update(ApiToken).where(ApiToken.name == "rig-4").values(created_by="token:old"))
        await session.commit()
    assert (await harness.client.get("/api/v1/devices", headers=_bearer(machine))).status_code == 401
