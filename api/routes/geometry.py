"""`GET|PUT /api/v1/intersections/{id}/geometry`: the twin's geometry of an intersection (export / import).

The body is a `controllers.twin.model.IntersectionGeometry`: legs with their bearing, length, speed, lanes (median
to curb) and the movements each lane makes, the NEMA phase of each movement, and the detector placements. Engineers
write (intersections:write), audited; whoever may read devices reads. A refused body is a 422 whose `errors` name the
field (`body.approaches.1.detectors.0.channel`) and stores nothing; placements must agree with the detector
configuration (`api.twin_geometry`). Size and nesting are bounded by the model (at most 6 legs × 8 lanes × 32
detectors) and the API's body limits; NaN and infinities are refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, DevicesReader, IntersectionsWriter, SessionDep, client_addr
from api.models import DetectorConfig, Intersection
from api.problems import Problem
from api.routes.intersections import ObjectId
from api.twin_geometry import ChannelConfig, mismatches
from controllers.twin.model import IntersectionGeometry

router = APIRouter(prefix="/api/v1/intersections", tags=["twin"])


async def _intersection(session: SessionDep, intersection_id: str) -> Intersection:
    row = await session.get(Intersection, intersection_id)
    if row is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    return row


@router.get("/{intersection_id}/geometry", response_model=IntersectionGeometry,
            responses={404: {"description": "no such intersection, or no geometry stored yet"}})
async def get_geometry(intersection_id: ObjectId, session: SessionDep, _: DevicesReader) -> dict[str, Any]:
    row = await _intersection(session, intersection_id)
    if row.geometry is None:
        raise Problem(404, f"intersection {intersection_id!r} has no twin geometry yet")
    return row.geometry


@router.put("/{intersection_id}/geometry", response_model=IntersectionGeometry, responses={404: {}, 422: {}})
async def put_geometry(intersection_id: ObjectId, body: IntersectionGeometry, request: Request, api: ApiDep,
                       session: SessionDep, user: IntersectionsWriter) -> dict[str, Any]:
    """Replace the intersection's geometry. Every detector placement's channel must be configured (…/detectors)
    and call a phase of its approach."""
    row = await _intersection(session, intersection_id)
    detectors = [ChannelConfig(r.channel, r.phase, r.type) for r in (await session.execute(
        select(DetectorConfig).where(DetectorConfig.intersection_id == intersection_id))).scalars()]
    bad = mismatches(body, detectors)
    if bad:
        raise Problem(422, f"geometry disagrees with the detector configuration at {bad[0].path}: {bad[0].message}",
                      errors=[{"path": m.path, "message": m.message, "type": "detector_mismatch"} for m in bad])
    stored = body.model_dump(mode="json")
    row.geometry = stored
    row.updated_at = api.clock.now()
    await session.commit()
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="intersection.geometry", target=intersection_id, outcome="ok",
                       detail={"legs": [a.leg for a in body.approaches]})
    return stored
