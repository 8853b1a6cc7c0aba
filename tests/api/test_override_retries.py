"""A phone retrying a circuit override after losing the answer (Idempotency-Key): the retry returns the first
override and sends nothing again; the key on another circuit is refused naming it; a release retried is sent once.
And the phone app's root files: the service worker (with the shell's file list) and the manifest, under the CSP."""

from __future__ import annotations

from sqlalchemy import select

from api.models import CircuitOverride
from tests.api.conftest import Harness

CABINET = "lc-001"
PATH = f"/api/v1/cabinets/{CABINET}/circuits/{{n}}/override"


async def test_a_retried_override_is_sent_once_and_answers_the_first(harness: Harness) -> None:
    crew = {**harness.token("crew"), "Idempotency-Key": "phone-7f3a-0001"}
    body = {"level_pct": 40, "duration_min": 120, "reason": "bảo trì"}
    first = await harness.client.put(PATH.format(n=1), json=body, headers=crew)
    assert first.status_code == 200, first.text
    sent = len(harness.bus.sent_to("cmd"))
    await harness.clock.advance(20)  # the retry comes later: its `until` would differ, it is still the same tap
    again = await harness.client.put(PATH.format(n=1), json=body, headers=crew)
    assert again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert len(harness.bus.sent_to("cmd")) == sent, "nothing sent again"
    async with harness.state.sessions() as session:
        rows = list((await session.execute(select(CircuitOverride))).scalars())
    assert len(rows) == 1
    view = (await harness.client.get(f"/api/v1/cabinets/{CABINET}/lighting", headers=crew)).json()
    assert view["circuits"][0]["override"]["command_status"] == "pending"  # the cabinet has not answered yet
    await harness.clock.advance(harness.state.settings.command_ttl_s + harness.state.settings.command_result_grace_s)
    await harness.state.dispatcher.sweep_once()
    view = (await harness.client.get(f"/api/v1/cabinets/{CABINET}/lighting", headers=crew)).json()
    assert view["circuits"][0]["override"]["command_status"] == "expired"  # it never ran: the phone says so
    other = await harness.client.put(PATH.format(n=2), json=body, headers=crew)
    assert other.status_code == 422
    assert other.json()["errors"][0]["path"] == "header.Idempotency-Key"
    # another user's key is another key
    ops = {**harness.token("operator"), "Idempotency-Key": "phone-7f3a-0001"}
    assert (await harness.client.put(PATH.format(n=1), json=body, headers=ops)).status_code == 200


async def test_a_retried_release_is_sent_once(harness: Harness) -> None:
    crew = {**harness.token("crew"), "Idempotency-Key": "phone-7f3a-0002"}
    first = await harness.client.delete(PATH.format(n=2), headers=crew)
    assert first.status_code == 200, first.text
    sent = len(harness.bus.sent_to("cmd"))
    again = await harness.client.delete(PATH.format(n=2), headers=crew)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["command_id"] == first.json()["command_id"]
    assert len(harness.bus.sent_to("cmd")) == sent
    bad = await harness.client.delete(PATH.format(n=2), headers={**harness.token("crew"), "Idempotency-Key": "a b"})
    assert bad.status_code == 422


async def test_the_service_worker_and_manifest_are_served_at_the_root(harness: Harness) -> None:
    sw = await harness.client.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/" and sw.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in sw.headers["content-security-policy"]
    head = sw.text.split("\n", 2)
    assert head[0].startswith("const SHELL = [") and "/static/app.js" in head[0] and "/static/sw.js" not in head[0]
    assert "swagger-ui" not in head[0]
    manifest = await harness.client.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.headers["content-type"] == "application/manifest+json"
    icons = manifest.json()["icons"]
    for icon in icons:
        assert (await harness.client.get(icon["src"])).status_code == 200, icon
