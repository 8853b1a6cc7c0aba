"""A lighting cabinet speaking MQTT topic contract v1 itself (no gateway): birth, status, state, telemetry,
events, and commands with `cmd/res`.

On every (re)connect: `birth` (retained, bd_seq + 1), `status online` (retained; the Last Will is `status offline`
retained), `state` (retained). State is republished on change, telemetry every 10 s of virtual time, alarm events
on change. Commands are admitted as the controller's (`mqtt_commands.CommandBook`: bounded decoding, schema,
signature by a trusted key for this cabinet, expiry, same id at most once).
`deploy_program {document, crc32, deployment_id?}`: the CRC-32 of the document's transfer encoding (canonical
compact sorted JSON) must equal `crc32`; the firmware checks the document and runs it at once: a progress answer
`stage: verifying`, then the final `stage: active` with the state (its `lighting` block names the running
document), or `ok: false, stage: rolled_back` with `crc_mismatch` / `invalid_program`, the previous program
running on.
Reconnects forever with exponential backoff and jitter; TCP_NODELAY on the socket; QoS 1 everywhere.
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_program import ProgramError
from firmware_sim.clock import SimClock, parse_rfc3339, rfc3339
from firmware_sim.command_auth import CommandKeys
from firmware_sim.mqtt_commands import CommandBook
from firmware_sim.plan_transfer import canonical_bytes

log = logging.getLogger(__name__)

TELEMETRY_S = 10.0
MODEL, FIRMWARE = "SL-LC4-MQTT", "fw-1.7.0"


class CabinetMqttFace:
    """Payloads and command handling of one MQTT cabinet; no I/O (the link publishes what it returns)."""

    def __init__(self, cab: LightingCabinet, site: str, clock: SimClock, keys: CommandKeys | None = None,
                 window: Path | None = None) -> None:
        self.cab, self.site, self.clock = cab, site, clock
        self.prefix = f"sl/v1/{site}/{cab.device_id}"
        self.seq = -1
        self.bd_seq = -1
        # keys None: every command refused; window: the replay window file kept across restarts
        self.book = CommandBook(cab.device_id, clock, site, keys, window)
        self.last_state: dict[str, Any] | None = None
        self.last_alarms: set[str] = set()
        self.progress: list[dict[str, Any]] = []     # progress answers of the command being handled

    @property
    def device_id(self) -> str:
        return self.cab.device_id

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}/{suffix}"

    def powered(self) -> bool:
        return self.cab.mains_ok

    def connected(self) -> None:
        """A session started: alarms present now are in the state; events report changes from here."""
        self.alarm_events()

    def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        """What to publish now (topic suffix, payload): alarm events raised or cleared since the last call."""
        return [("event", e) for e in self.alarm_events()]

    def requeue(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Alarm events the link could not publish: dropped, as the state sent on reconnect carries the alarms."""

    def commands(self, payload: bytes) -> list[dict[str, Any]]:
        """The cmd/res answers to a `cmd` payload (none when it cannot be answered): a deploy_program's progress
        answer first, then its final one."""
        self.progress: list[dict[str, Any]] = []
        res = self.handle_command(payload)
        return [*self.progress, *([] if res is None else [res])]

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def birth(self) -> dict[str, Any]:
        self.bd_seq = (self.bd_seq + 1) % 256
        return {"ts": rfc3339(self.clock.now()), "bd_seq": self.bd_seq, "kind": "lighting_cabinet", "model": MODEL,
                "firmware": FIRMWARE, "transport": "mqtt",
                "capabilities": ["switch", "release", "dim", "deploy_program"],
                "circuits": len(self.cab.circuits),
                "loads": [c.load() for c in self.cab.circuits], "location": {"lat": self.cab.lat, "lon": self.cab.lon},
                "name": self.cab.device_id}

    def state_values(self) -> dict[str, Any]:
        cab, now = self.cab, self.clock.now()
        faults = cab.circuit_faults()
        circuits = [{"circuit": c.number, "on": c.on, "level_pct": c.level_pct, "current_a": round(c.current_a, 2),
                     "control": "override" if c.overridden else "program",
                     "override_until": rfc3339(c.override_until) if c.overridden and c.override_until else None,
                     "breaker_tripped": c.breaker_tripped, "contactor_closed": c.contactor,
                     "program_level_pct": c.program_level_pct, "faults": faults[c.number],
                     "changed_at": rfc3339(c.changed_at) if c.changed_at else None} for c in cab.circuits]
        lighting = {"crc32": cab.program_crc32, "name": cab.program.name if cab.program else None,
                    "activated_at": rfc3339(cab.program_activated_at) if cab.program_activated_at else None}
        return {"circuits": circuits, "door_open": cab.door_open, "mains_ok": cab.mains_ok,
                "photocell_lux": round(cab.photocell_lux, 1), "alarms": cab.alarms(now), "lighting": lighting}

    def state(self, seq: int | None = None) -> dict[str, Any]:
        """The state now, with the next `seq`, or `seq` (that of a state taken but never sent)."""
        values = self.state_values()
        self.last_state = values
        return {"ts": rfc3339(self.clock.now()), "seq": self._next_seq() if seq is None else seq,
                "kind": "lighting_cabinet", "values": values}

    def state_changed(self) -> bool:
        """True when the state differs from the last published (lux alone does not count: it always moves)."""
        if self.last_state is None:
            return True
        now, then = self.state_values(), dict(self.last_state)
        now.pop("photocell_lux")
        then.pop("photocell_lux")
        return now != then

    def telemetry(self) -> dict[str, Any]:
        cab = self.cab
        values: dict[str, float | bool] = {}
        for c in cab.circuits:
            values[f"circuit{c.number}_level_pct"] = c.level_pct
            values[f"circuit{c.number}_current_a"] = round(c.current_a, 2)
            values[f"circuit{c.number}_burning_h"] = round(c.burning_s / 3600, 2)
            values[f"circuit{c.number}_switch_count"] = c.switch_count
        values.update(cab.phase_values())
        values.update(active_power_w=round(cab.active_power_w(), 1), energy_kwh=round(cab.energy_kwh, 3),
                      photocell_lux=round(cab.photocell_lux, 1), cabinet_temp_c=round(cab.temp_c, 1),
                      clock_offset_s=round(cab.clock_offset_s, 1))
        return {"ts": rfc3339(self.clock.now()), "seq": self._next_seq(), "values": values}

    def alarm_events(self) -> list[dict[str, Any]]:
        """Events for alarms raised or cleared since the last call."""
        now = set(self.cab.alarms(self.clock.now()))
        events = [{"ts": rfc3339(self.clock.now()), "seq": self._next_seq(), "alarm": name, "active": name in now}
                  for name in sorted(now ^ self.last_alarms)]
        self.last_alarms = now
        return events

    def handle_command(self, payload: bytes) -> dict[str, Any] | None:
        """The cmd/res answer to a `cmd` payload, or None when it is not answered (no id, or a forgery under the id
        of an authentic command)."""
        answers = self.book.handle(payload, lambda cmd_id, name, args: [self._execute(cmd_id, name, args)])
        return answers[0] if answers else None

    def _execute(self, cmd_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            if name == "switch":
                # `until` is center time: held for as long, on the cabinet's own clock (contract "Command time")
                until: datetime | None = self.book.device_time(parse_rfc3339(args["until"]))
                self.cab.switch(int(args["circuit"]), float(args["level_pct"]), until)
            elif name == "release":
                self.cab.release(args.get("circuit"))
            elif name == "deploy_program":
                return self._deploy(cmd_id, args)
            else:
                return self.book.result(cmd_id, False, "unknown_command", f"a lighting cabinet does not do {name!r}")
        except ValueError as exc:
            return self.book.result(cmd_id, False, "invalid_args", str(exc))
        self.cab.step(self.clock.now(), 0.0)
        return self.book.result(cmd_id, True, None, None, state=self.state_values())

    def _deploy(self, cmd_id: str, args: dict[str, Any]) -> dict[str, Any]:
        self.progress.append(self.book.result(cmd_id, True, None, None, remember=False, final=False, stage="verifying"))
        document = args["document"]
        crc = zlib.crc32(canonical_bytes(document))
        if crc != args["crc32"]:
            return self.book.result(cmd_id, False, "crc_mismatch",
                                f"received CRC-32 {crc:#010x}, announced {args['crc32']:#010x}", stage="rolled_back")
        try:
            self.cab.deploy(document, crc, self.clock.now())
        except ProgramError as exc:
            return self.book.result(cmd_id, False, "invalid_program", str(exc)[:1024], stage="rolled_back")
        self.cab.step(self.clock.now(), 0.0)
        return self.book.result(cmd_id, True, None, None, state=self.state_values(), stage="active")
