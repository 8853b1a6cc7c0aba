"""A site for the crew app's browser tests: the whole API (uvicorn, lifespan, SQLite) on the in-memory bus with the
real clock, in a thread whose event loop the test can reach: lighting cabinets at known places around Thái Nguyên
(some with faults), a deployed lighting program, and cabinets that answer their commands as the firmware does, or
stay silent (an offline cabinet: the API expires its commands). `pause_api(s)` freezes the API's loop, which is
what a stalled link looks like from the phone: not one byte, not even a heartbeat."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import create_engine, migrate, session_factory
from api.models import Device, Site, User
from api.security import Role, hash_password, issue_token
from controllers.clock import SystemClock
from tests.api.fakes import FakeBus, FakeTelemetry, rfc3339

PASSWORD = "crew-pass-word-1"
HERE = {"lat": 21.5942, "lon": 105.8482}  # where the crew stands (Thái Nguyên city centre)
DOCUMENT = Path(__file__).resolve().parents[2] / "contracts" / "lighting" / "examples" / "thai-nguyen-city.json"


def _offset(dn_m: float, de_m: float) -> dict[str, float]:
    """The point dn_m north and de_m east of HERE (small distances: a flat Earth is exact to a metre)."""
    import math

    return {"lat": HERE["lat"] + dn_m / 111_195.0,
            "lon": HERE["lon"] + de_m / (111_195.0 * math.cos(math.radians(HERE["lat"])))}


#: id -> (name, location, circuits as the cabinet reports them). Distances from HERE: 0.4, 1.2, 3.5 and 2.0 km.
CABINETS: dict[str, tuple[str, dict[str, float], list[dict[str, Any]]]] = {
    "lc-cho": ("Tủ chợ Thái", _offset(-3500, 0), [
        {"circuit": 1, "on": True, "level_pct": 100.0, "current_a": 8.1, "breaker_tripped": False, "faults": []},
        {"circuit": 2, "on": True, "level_pct": 100.0, "current_a": 2.0, "breaker_tripped": False, "faults": []}]),
    "lc-ga": ("Tủ ga Thái Nguyên", _offset(400, 0), [
        {"circuit": 1, "on": True, "level_pct": 100.0, "current_a": 8.2, "breaker_tripped": False, "faults": []},
        {"circuit": 2, "on": True, "level_pct": 100.0, "current_a": 0.0, "breaker_tripped": True, "faults": []}]),
    "lc-cau": ("Tủ cầu Gia Bảy", _offset(0, 1200), [
        {"circuit": 1, "on": True, "level_pct": 100.0, "current_a": 8.0, "breaker_tripped": False, "faults": []},
        {"circuit": 2, "on": True, "level_pct": 100.0, "current_a": 0.0, "breaker_tripped": True, "faults": []}]),
    "lc-cv": ("Tủ công viên Đội Cấn", _offset(0, -2000), [
        {"circuit": 1, "on": True, "level_pct": 100.0, "current_a": 8.0, "breaker_tripped": False, "faults": []},
        {"circuit": 2, "on": True, "level_pct": 100.0, "current_a": 2.0, "breaker_tripped": False, "faults": []}]),
}
LOADS = [{"circuit": 1, "luminaires": 12, "rated_w": 150}, {"circuit": 2, "luminaires": 3, "rated_w": 150}]


@dataclass
class CrewSite:
    url: str
    settings: ApiSettings
    bus: FakeBus
    loop: asyncio.AbstractEventLoop
    silent: set[str] = field(default_factory=set)     # cabinets that answer no command (offline behind a dead link)
    circuits: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    telemetry: FakeTelemetry = field(default_factory=FakeTelemetry)   # the API's telemetry store (lamp life)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def headers(self, role: Role) -> dict[str, str]:
        token, _ = issue_token(self.settings.secret_key, subject=role.value, role=role, typ="access",
                               now=datetime.now(UTC), ttl_s=self.settings.access_token_ttl_s)
        return {"Authorization": f"Bearer {token}"}

    def report(self, device: str, **changes: Any) -> None:
        """The cabinet publishes its state again (with `changes` on circuit 1), as it does every few seconds."""
        self.circuits[device][0].update(changes)
        self._seq = getattr(self, "_seq", 1000) + 1
        self.run(self.bus.publish(f"sl/v1/tn/{device}/state", _state(self.circuits[device], self._seq), retain=True))

    def pause_api(self, seconds: float) -> None:
        """Freeze the API (its event loop) for `seconds`, from now, without waiting."""
        self.loop.call_soon_threadsafe(time.sleep, seconds)


def _state(circuits: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return {"ts": rfc3339(datetime.now(UTC)), "seq": seq % 256, "kind": "lighting_cabinet",
            "values": {"circuits": circuits, "door_open": False, "mains_ok": True, "photocell_lux": 2.0}}


async def _answer_commands(site: CrewSite) -> None:
    """The cabinets' firmware, as far as the crew app sees it: a switch holds the circuit at its level until its
    `until`, a release returns it to the program (100 % here), a program deploy is accepted; each answered ok with
    the new state published. A cabinet in `site.silent` answers nothing."""
    seq = 100
    async with site.bus.subscribe("sl/v1/+/+/cmd") as messages:
        async for msg in messages:
            device = msg.topic.split("/")[3]
            if device in site.silent:
                continue
            cmd = json.loads(msg.payload)
            await asyncio.sleep(0.3)  # a cabinet takes its time (and the API commits before it hears back)
            circuits = site.circuits[device]
            args = cmd.get("args") or {}
            for c in circuits:
                if c["circuit"] != args.get("circuit"):
                    continue
                if cmd["name"] == "switch":
                    level = float(args["level_pct"])
                    c.update(on=level > 0, level_pct=level, control="override", override_until=args["until"],
                             current_a=round(8.2 * level / 100, 2) if not c["breaker_tripped"] else 0.0)
                elif cmd["name"] == "release":
                    c.update(on=True, level_pct=100.0, control="program", override_until=None,
                             current_a=8.2 if not c["breaker_tripped"] else 0.0)
            seq += 1
            await site.bus.publish(f"sl/v1/tn/{device}/cmd/res", {"id": cmd["id"], "ok": True})
            await site.bus.publish(f"sl/v1/tn/{device}/state", _state(circuits, seq), retain=True)


async def _prepare(db_url: str, bus: FakeBus) -> None:
    await migrate(db_url)
    engine = create_engine(db_url)
    now = datetime.now(UTC)
    async with session_factory(engine)() as session, session.begin():
        for role in Role:
            session.add(User(name=role.value, password_hash=hash_password(PASSWORD), role=role.value, active=True,
                             created_at=now, failed_logins=0))
        session.add(Site(id="tn", name="TP Thái Nguyên", timezone="Asia/Ho_Chi_Minh", lat=21.5942, lon=105.8482,
                         created_at=now))
        session.add(Site(id="tn-south", name="Phường Cam Giá", timezone="Asia/Ho_Chi_Minh",
                         **_offset(-3400, 0), created_at=now))
        for device_id, (name, loc, _) in CABINETS.items():
            session.add(Device(id=device_id, site="tn", kind="lighting_cabinet", status="unknown", name=name,
                               lat=loc["lat"], lon=loc["lon"], first_seen=now, last_seen=now))
    await engine.dispose()


async def _publish_cabinets(site: CrewSite) -> None:
    for device_id, (name, loc, circuits) in CABINETS.items():
        site.circuits[device_id] = copy.deepcopy(circuits)
        for c in site.circuits[device_id]:
            c.setdefault("control", "program")
        birth = {"ts": rfc3339(datetime.now(UTC)), "bd_seq": 1, "kind": "lighting_cabinet", "model": "sim-lc",
                 "firmware": "1.0", "capabilities": ["switch", "release", "dim", "deploy_program"],
                 "transport": "mqtt", "circuits": 2, "loads": LOADS, "location": loc, "name": name}
        await site.bus.publish(f"sl/v1/tn/{device_id}/birth", birth, retain=True)
        await site.bus.publish(f"sl/v1/tn/{device_id}/status", {"status": "online"}, retain=True)
        await site.bus.publish(f"sl/v1/tn/{device_id}/state", _state(site.circuits[device_id], 1), retain=True)


def _deploy_program(site: CrewSite) -> None:
    doc = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    doc["circuits"] = [{"circuit": 1, "calendar": "city"}, {"circuit": 2, "calendar": "city"}]
    with httpx.Client(base_url=site.url, headers=site.headers(Role.ENGINEER), timeout=20) as eng:
        saved = eng.post("/api/v1/lighting/documents/tn-city", json=doc, params={"comment": "crew tests"})
        assert saved.status_code == 201, saved.text
        deploy = eng.post(f"/api/v1/lighting/documents/tn-city/versions/{saved.json()['version']}/deploy",
                          json={"device_ids": sorted(CABINETS)})
        assert deploy.status_code == 202, deploy.text
        batch = deploy.json()["batch_id"]
        deadline = time.monotonic() + 90  # the API sends the deploys a few at a time; a loaded machine is slow
        while time.monotonic() < deadline:
            counts = eng.get(f"/api/v1/lighting/batches/{batch}").json()["counts"]
            if counts.get("active") == len(CABINETS):
                return
            time.sleep(0.2)
        raise AssertionError(f"the program did not become active: {counts}")


@contextmanager
def crew_site(folder: Path) -> Iterator[CrewSite]:
    db_url = f"sqlite+aiosqlite:///{folder / 'crew.db'}"
    bus = FakeBus()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="crew-api")
    thread.start()
    # Commands expire quickly, so "the API expired it" is seen within a test.
    settings = ApiSettings(db_url=db_url, environment="development", login_rate_per_min=10_000,
                           command_ttl_s=4.0, command_result_grace_s=1.0)
    telemetry = FakeTelemetry()
    app = create_app(ApiDeps(settings=settings, bus=bus, telemetry=telemetry, clock=SystemClock()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    site = CrewSite(f"http://127.0.0.1:{sock.getsockname()[1]}", settings, bus, loop, telemetry=telemetry)
    site.run(_prepare(db_url, bus), timeout=60)
    serving = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop)
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or serving.done():
            raise RuntimeError(f"the crew API did not start: {serving.exception() if serving.done() else 'timeout'}")
        time.sleep(0.02)
    answering = asyncio.run_coroutine_threadsafe(_answer_commands(site), loop)
    try:
        site.run(_publish_cabinets(site))
        _deploy_program(site)
        yield site
    finally:
        answering.cancel()
        server.should_exit = True
        try:
            serving.result(timeout=15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            sock.close()
