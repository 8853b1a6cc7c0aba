"""Timing-plan download over Modbus, as a transaction (contracts/plans/README.md, "Transfer encoding").

The master writes the payload into `plan_staging` (2 bytes a register, big-endian), `plan_length_bytes`,
`plan_crc32_staged`, then `plan_commit` = 1. The firmware checks the length, the CRC-32 of the `length` bytes it
holds, parses and checks the plan; status goes receiving → verifying → done | error with `plan_error`. An
accepted plan is activated by the controller at its next cycle boundary; a refused one changes nothing.
`plan_commit` = 0 aborts a transfer. `active_crc` is the CRC-32 of the running plan's canonical bytes.

Fault `corrupt_plan_transfer` (`corrupt`): "write" flips bit 0 of the first staging register each staging write
stores (a line error the master sees on read-back); "commit" flips bit 0 of the first staging register when the
master commits (after its read-back: the controller's CRC check refuses the plan).
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import TYPE_CHECKING, Any

from firmware_sim.plan import PlanError, default_plan_doc, parse_plan
from firmware_sim.regmap import RegisterImage

if TYPE_CHECKING:
    from firmware_sim.signal_controller import SignalController

log = logging.getLogger(__name__)

IDLE, RECEIVING, VERIFYING, DONE, ERROR = 0, 1, 2, 3, 4
E_NONE, E_CRC, E_LENGTH, E_PARSE, E_INVALID, E_BUSY, E_ABORTED = 0, 1, 2, 3, 4, 5, 6


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """The transfer payload of a plan document: sorted keys, no whitespace, integral numbers as integers."""
    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    return json.dumps(norm(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def to_registers(payload: bytes) -> list[int]:
    """Payload bytes as 16-bit registers, big-endian, zero-padded to an even length."""
    padded = payload + b"\0" * (len(payload) % 2)
    return [int.from_bytes(padded[i:i + 2], "big") for i in range(0, len(padded), 2)]


class PlanTransfer:
    def __init__(self, ctrl: SignalController, image: RegisterImage) -> None:
        self.ctrl = ctrl
        self.image = image
        area = image.map.areas["plan_staging"]
        self._at, self._registers = area.address, area.registers
        self.status, self.error = IDLE, E_NONE
        doc = getattr(ctrl, "plan_doc", None) or default_plan_doc(ctrl.device_id)
        self.active_crc = zlib.crc32(canonical_bytes(doc))
        self.pending_crc: int | None = None
        self.corrupt: str | None = None     # fault corrupt_plan_transfer: None, "write" or "commit"

    def touched(self, addresses: set[int]) -> None:
        """A write reached the staging area or its header: a transfer is under way."""
        header = {self.image.map.points[n].address for n in ("plan_length_bytes", "plan_crc32_staged")}
        staging = range(self._at, self._at + self._registers)
        if self.status != VERIFYING and (addresses & header or any(a in staging for a in addresses)):
            self.status, self.error = RECEIVING, E_NONE
        hit = [a for a in addresses if a in staging]
        if self.corrupt == "write" and hit:
            self.image.tables["holding"][min(hit)] ^= 1

    def commit(self, value: int) -> None:
        """Handle a write to plan_commit: 1 commits, 0 aborts; other values raise ValueError (refused write)."""
        if value == 0:
            self.status, self.error = ERROR, E_ABORTED
            return
        if value != 1:
            raise ValueError(f"plan_commit must be 0 (abort) or 1 (commit), got {value}")
        if self.corrupt == "commit":
            self.image.tables["holding"][self._at] ^= 1
        self.status = VERIFYING
        self.status, self.error = self._verify()
        log.info("plan_commit device=%s status=%d error=%d", self.ctrl.device_id, self.status, self.error)
        self.ctrl.set_alarm("plan_deploy_failed", self.status == ERROR)

    def _verify(self) -> tuple[int, int]:
        if self.ctrl.pending_plan is not None:
            return ERROR, E_BUSY
        length = self.image.raw("plan_length_bytes")
        if not 0 < length <= self._registers * 2:
            return ERROR, E_LENGTH
        words = self.image.tables["holding"][self._at:self._at + (length + 1) // 2]
        payload = b"".join(w.to_bytes(2, "big") for w in words)[:length]
        crc = zlib.crc32(payload)
        if crc != self.image.raw("plan_crc32_staged"):
            return ERROR, E_CRC
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ERROR, E_PARSE
        if not isinstance(doc, dict):
            return ERROR, E_PARSE
        try:
            plan = parse_plan(doc)
        except PlanError as exc:
            log.warning("plan_refused device=%s reason=%s", self.ctrl.device_id, exc)
            return ERROR, E_INVALID
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # A document of the wrong shape: refused like any invalid plan; the firmware keeps running.
            log.warning("plan_refused device=%s reason=%r", self.ctrl.device_id, exc)
            return ERROR, E_INVALID
        try:
            self.ctrl.accept_plan(plan)
        except PlanError as exc:
            log.warning("plan_refused device=%s reason=%s", self.ctrl.device_id, exc)
            return ERROR, E_INVALID
        self.pending_crc = crc
        return DONE, E_NONE

    def activated(self) -> None:
        """The controller switched to the pending plan."""
        if self.pending_crc is not None:
            self.active_crc, self.pending_crc = self.pending_crc, None
