"""`POST /api/v1/devices/import`: the device registry from a fleet manifest (contracts/manifest.schema.json).

The bus tells the API what devices say about themselves; the manifest says what only engineers know: where a Modbus
device is reached (endpoint, unit, register-map profile), which gateway shard owns it, its name and location.
Importing is idempotent: devices are created or updated by id, never deleted. Only the registry creates devices: a
birth from a device not imported raises `unknown_device` and waits, bounded, to be applied at its import.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from jsonschema import Draft202012Validator
from pydantic import BaseModel

import contracts
from api import audit
from api.deps import ApiDep, DevicesWriter, SessionDep, client_addr
from api.listener import registry
from api.manifest_errors import manifest_faults
from api.models import Device
from api.problems import Problem

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(contracts.MANIFEST_SCHEMA.read_text(encoding="utf-8")))


def endpoint(entry: dict[str, Any]) -> str | None:
    if entry["transport"] == "modbus":
        return f"modbus://{entry['host']}:{entry['port']}/{entry['unit_id']}"
    return f"mqtt:{entry['client_id']}" if entry.get("client_id") else None


@router.post("/import", response_model=ImportResult, responses={403: {}, 409: {}, 422: {}})
async def import_manifest(request: Request, api: ApiDep, session: SessionDep,
                          user: DevicesWriter,
                          manifest: Annotated[dict[str, Any], Body(description="a signalight.manifest/v1 document")]
                          ) -> ImportResult:
    """Create or update the devices of a fleet manifest. 422 lists every schema error with its path; 409 when a
    device's kind differs from the one already registered (a different device under a reused id)."""
    faults = manifest_faults(_validator().iter_errors(manifest), manifest)
    if faults:
        first = faults[0]
        raise Problem(422, f"not a valid fleet manifest: {len(faults)} error(s), first: {first.en}",
                      errors=[f.as_error() for f in faults],
                      message={"vi": f"Tệp danh sách thiết bị không hợp lệ ({len(faults)} lỗi), lỗi đầu: {first.vi}",
                               "en": f"Not a valid fleet manifest ({len(faults)} error(s)), first: {first.en}"})
    now = api.clock.now()
    created, updated = [], []
    rows: list[Device] = []
    for entry in manifest["devices"]:
        row = await session.get(Device, entry["id"])
        if row is not None and row.kind != entry["kind"]:
            raise Problem(409, f"device {entry['id']!r} is registered as {row.kind}, the manifest says "
                               f"{entry['kind']}")
        if row is None:
            row = Device(id=entry["id"], site=entry["site"], kind=entry["kind"], status="unknown", first_seen=now,
                         last_seen=now)
            session.add(row)
            created.append(entry["id"])
        else:
            updated.append(entry["id"])
        location = entry.get("location") or {}
        row.site, row.transport, row.name = entry["site"], entry["transport"], entry.get("name", row.name)
        row.lat, row.lon = location.get("lat", row.lat), location.get("lon", row.lon)
        row.endpoint, row.profile, row.gateway_shard = endpoint(entry), entry.get("profile"), entry.get("shard")
        rows.append(row)
    await session.commit()
    for row in rows:
        api.cache.preload(row.id, row.site, row.kind, row.status, row.birth, row.last_seen, registry(row))
    # What the devices said before they were registered (births are only the registry's after import).
    await api.listener.adopt(row.id for row in rows)
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request), action="devices.import",
                       target=manifest["site"], outcome="ok", detail={"created": len(created), "updated": len(updated)})
    return ImportResult(created=created, updated=updated)
