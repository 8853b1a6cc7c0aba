"""Gateway presence and the status to show for a device behind a gateway (topic contract v1, "Gateways").

Pure: no I/O and no clock. A gateway announces itself on `sl/v1/_gateway/{gateway_id}/presence` (`online` on every
connect, `offline` as its Last Will and on a clean stop), and every birth it publishes names it with
`gateway: {id, session}`. `device_status` is the contract's consumer rule: a device whose gateway is offline is
offline (`gateway_offline`) whatever its own retained status says, until the gateway is back and announces it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controllers.devices import is_valid_id

#: Reasons a device is offline because of its gateway (the status page and alarms name them).
GATEWAY_OFFLINE = "gateway_offline"
GATEWAY_RESTARTED = "gateway_restarted"

SESSION_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_SESSION_RE = re.compile(SESSION_PATTERN)

Status = Literal["online", "offline"]


@dataclass(frozen=True, slots=True)
class GatewayRef:
    """The gateway a birth names: its id and the session (process) that published the birth."""

    id: str
    session: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "session": self.session}


@dataclass(frozen=True, slots=True)
class Presence:
    """A gateway's latest presence message."""

    status: Status
    session: str
    reason: str | None = None


def gateway_of(birth: Mapping[str, Any] | None) -> GatewayRef | None:
    """The gateway a birth names, or None (a device speaking MQTT itself, or a birth from before the field)."""
    ref = (birth or {}).get("gateway")
    if not isinstance(ref, Mapping):
        return None
    gateway_id, session = ref.get("id"), ref.get("session")
    if not isinstance(gateway_id, str) or not isinstance(session, str):
        return None
    if not is_valid_id(gateway_id) or not _SESSION_RE.match(session):
        return None
    return GatewayRef(gateway_id, session)


def presence_of(payload: Mapping[str, Any]) -> Presence:
    """A presence payload (presence.schema.json) as a `Presence`. Raises ValueError naming what is wrong."""
    status, session, reason = payload.get("status"), payload.get("session"), payload.get("reason")
    if status not in ("online", "offline"):
        raise ValueError(f"presence status must be online or offline, not {status!r}")
    if not isinstance(session, str) or not _SESSION_RE.match(session):
        raise ValueError(f"presence session must match {SESSION_PATTERN}, not {session!r}")
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"presence reason must be a string, not {type(reason).__name__}")
    return Presence("online" if status == "online" else "offline", session, reason)


def device_status(own: str, own_reason: str | None, gateway: GatewayRef | None, presence: Presence | None,
                  shown: tuple[str, str | None]) -> tuple[str, str | None]:
    """The (status, reason) to show for a device; the first rule that applies wins.

    `own` is the device's own status (online | offline | unknown: none received yet), `gateway` what its birth names,
    `presence` that gateway's latest presence (None: not received yet), `shown` what is shown now.
    1. its gateway is offline → offline, `gateway_offline`;
    2. its own status is offline → offline, its own reason;
    3. behind a gateway whose presence has not arrived yet → `shown` unchanged (retained messages of different
       topics arrive in any order: waiting for the presence avoids showing a flap);
    4. its birth is from another session of the gateway than the one online → offline, `gateway_restarted`;
    5. its own status online → online; unknown → `shown` unchanged.
    """
    if gateway is not None and presence is not None and presence.status == "offline":
        return "offline", GATEWAY_OFFLINE
    if own == "offline":
        return "offline", own_reason
    if gateway is not None and presence is None:
        return shown
    if gateway is not None and presence is not None and presence.session != gateway.session:
        return "offline", GATEWAY_RESTARTED
    if own == "online":
        return "online", own_reason
    return shown
