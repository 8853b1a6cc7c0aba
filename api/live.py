"""The live picture of the fleet: the latest birth, status and state of every device, and the presence of every
gateway, from the bus.

Pure in-memory bookkeeping with no I/O; the bus listener feeds it and the routes read it. Reads are dict lookups,
so device-state reads never touch the database. A device's `status` is the one to show (topic contract v1,
"Gateways": offline while its gateway is); `own_status` is what its own `status` topic says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers.clock import to_rfc3339
from controllers.presence import GatewayRef, Presence, gateway_of


@dataclass(slots=True)
class LiveDevice:
    """What the bus last said about one device. `status` is online | offline | unknown."""

    id: str
    site: str
    kind: str | None = None
    birth: dict[str, Any] | None = None
    status: str = "unknown"
    status_reason: str | None = None
    state: dict[str, Any] | None = None
    last_seen: datetime | None = None
    registry: dict[str, Any] = field(default_factory=dict)  # endpoint, profile, gateway_shard from the config DB
    own_status: str = "unknown"  # what the device's own `status` says; `status` is what to show
    own_reason: str | None = None
    gateway: GatewayRef | None = None  # the gateway its birth names

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "site": self.site, "kind": self.kind, "status": self.status,
            "status_reason": self.status_reason, "gateway": self.gateway.id if self.gateway else None,
            "birth": self.birth, "state": self.state,
            "last_seen": to_rfc3339(self.last_seen) if self.last_seen else None,
            "name": (self.birth or {}).get("name") or self.registry.get("name"),
            **{k: self.registry.get(k) for k in ("endpoint", "profile", "gateway_shard")},
            "location": self.location(),
        }

    def location(self) -> dict[str, float] | None:
        """Where the device is: its birth's `location`, else the registry's coordinates (a crew's phone sorts
        faults by distance from it)."""
        loc = (self.birth or {}).get("location")
        if isinstance(loc, dict) and isinstance(loc.get("lat"), int | float) and isinstance(
                loc.get("lon"), int | float):
            return {"lat": float(loc["lat"]), "lon": float(loc["lon"])}
        lat, lon = self.registry.get("lat"), self.registry.get("lon")
        return {"lat": float(lat), "lon": float(lon)} if isinstance(lat, int | float) and isinstance(
            lon, int | float) else None


class DeviceCache:
    """Devices by id. A device id is unique across sites; a second site claiming the same id replaces the first
    (the topic contract makes the id the device's identity; the listener logs the move)."""

    def __init__(self) -> None:
        self._devices: dict[str, LiveDevice] = {}
        self._presence: dict[str, Presence] = {}

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, device_id: str) -> LiveDevice | None:
        return self._devices.get(device_id)

    def all(self) -> list[LiveDevice]:
        return sorted(self._devices.values(), key=lambda d: (d.site, d.id))

    def preload(self, device_id: str, site: str, kind: str, status: str, birth: dict[str, Any] | None,
                last_seen: datetime, registry: dict[str, Any]) -> None:
        """Seed (or update the registry of) a device known to the config DB; what the bus says is kept."""
        dev = self._devices.get(device_id)
        if dev is None:
            dev = self._devices[device_id] = LiveDevice(device_id, site, kind, birth, status, None, None, last_seen,
                                                        gateway=gateway_of(birth))
        dev.registry = registry

    def touch(self, site: str, device_id: str, now: datetime) -> tuple[LiveDevice, bool]:
        """The entry of a device (created if new), with `last_seen` set; True when its site changed."""
        dev = self._devices.get(device_id)
        moved = False
        if dev is None:
            dev = self._devices[device_id] = LiveDevice(device_id, site)
        elif dev.site != site:
            dev.site, moved = site, True
        dev.last_seen = now
        return dev, moved

    def presence(self, gateway_id: str) -> Presence | None:
        """The latest presence of a gateway (None: none received yet)."""
        return self._presence.get(gateway_id)

    def set_presence(self, gateway_id: str, presence: Presence) -> None:
        self._presence[gateway_id] = presence

    def gateways(self) -> dict[str, Presence]:
        return dict(self._presence)

    def behind(self, gateway_id: str) -> list[LiveDevice]:
        """The devices whose birth names this gateway."""
        return [d for d in self.all() if d.gateway is not None and d.gateway.id == gateway_id]
