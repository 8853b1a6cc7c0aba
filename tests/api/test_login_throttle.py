"""Login throttling backs off per (account, client address): a guesser cannot lock an admin out from everywhere, an
unknown name gets exactly the answers of a known one, and parallel failures are all counted (SQLite, PostgreSQL).
`X-Forwarded-For` names the client only when it comes from a configured proxy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.deps import forwarded_client
from api.models import AuditEntry, LoginFailures
from tests.api.conftest import PASSWORD, Harness, open_harness

TOKEN = "/api/v1/auth/token"


def _from(h: Harness, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app, client=(address, 40000)),
                             base_url="http://api.test")


async def _attempt(client: httpx.AsyncClient, name: str, password: str = "wrong-password",
                   **headers: str) -> httpx.Response:
    return await client.post(TOKEN, data={"username": name, "password": password}, headers=headers)


async def test_a_guesser_backs_off_while_the_admin_logs_in_from_elsewhere(harness: Harness) -> None:
    limit = harness.state.settings.login_max_failures
    async with _from(harness, "198.51.100.66") as attacker, _from(harness, "10.1.2.3") as office:
        for _ in range(limit):
            assert (await _attempt(attacker, "admin")).status_code == 401
        blocked = await _attempt(attacker, "admin", PASSWORD)  # even the right password waits
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert (await _attempt(office, "admin", PASSWORD)).status_code == 200
        # The wait doubles with each failure after it ends, and ends by itself.
        await harness.clock.advance(float(blocked.headers["retry-after"]))
        assert (await _attempt(attacker, "admin")).status_code == 401
        second = await _attempt(attacker, "admin")
        assert second.status_code == 429 and int(second.headers["retry-after"]) > int(blocked.headers["retry-after"])


async def test_unknown_and_existing_users_get_the_same_answers(harness: Harness) -> None:
    async def transcript(name: str) -> list[tuple[int, str, str | None]]:
        out = []
        async with _from(harness, "192.0.2.10") as client:
            for _ in range(harness.state.settings.login_max_failures + 2):
                resp = await _attempt(client, name)
                out.append((resp.status_code, resp.json()["detail"], resp.headers.get("retry-after")))
        return out

    assert await transcript("engineer") == await transcript("nobody-by-this-name")


async def _parallel_failures(h: Harness) -> None:
    async with _from(h, "203.0.113.5") as client:
        answers = await asyncio.gather(*[_attempt(client, "operator") for _ in range(20)])
    assert [a.status_code for a in answers] == [401] * 20
    async with h.state.sessions() as session:
        row = (await session.execute(select(LoginFailures).where(LoginFailures.account == "operator"))).scalar_one()
    assert (row.address, row.failures) == ("203.0.113.5", 20)


async def test_parallel_failures_are_all_counted_on_sqlite(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", login_max_failures=100) as h:
        await _parallel_failures(h)


@pytest.mark.integration
async def test_parallel_failures_are_all_counted_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url, login_max_failures=100) as h:
        await _parallel_failures(h)


async def test_forwarded_for_is_ignored_from_anyone_but_a_trusted_proxy(harness: Harness) -> None:
    limit = harness.state.settings.login_max_failures
    async with _from(harness, "198.51.100.7") as client:
        for n in range(limit):  # a client rotating the header still counts as itself
            assert (await _attempt(client, "viewer", **{"X-Forwarded-For": f"10.9.9.{n}"})).status_code == 401
        resp = await _attempt(client, "viewer", PASSWORD, **{"X-Forwarded-For": "10.9.9.200"})
        assert resp.status_code == 429


async def test_forwarded_for_names_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", trusted_proxies=["10.0.0.0/24"]) as h:
        async with _from(h, "10.0.0.2") as proxy:
            resp = await _attempt(proxy, "viewer", PASSWORD, **{"X-Forwarded-For": "1.1.1.1, 203.0.113.9"})
            assert resp.status_code == 200
        async with h.state.sessions() as session:
            entry = (await session.execute(select(AuditEntry).where(AuditEntry.action == "login"))).scalar_one()
        assert entry.source_addr == "203.0.113.9"  # the proxy's view; "1.1.1.1" was the client's own claim


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
    ("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.3", "203.0.113.9"),  # proxies chained: skip the trusted hops
    ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # not a proxy: the header is the client's word
    ("10.0.0.2", "not-an-address", "10.0.0.2"),
    ("10.0.0.2", None, "10.0.0.2"),
])
def test_forwarded_client(peer: str, header: str | None, expected: str) -> None:
    assert forwarded_client(peer, header, ["10.0.0.0/24"]) == expected


def test_trusted_proxies_must_be_addresses() -> None:
    from pydantic import ValidationError

    from api.config import ApiSettings

    with pytest.raises(ValidationError, match="trusted_proxies"):
        ApiSettings(trusted_proxies=["proxy.example"])


