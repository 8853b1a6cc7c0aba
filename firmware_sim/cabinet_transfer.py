"""Lighting document download over Modbus, as a transaction (contracts/lighting/README.md, "Transfer"): the
timing plans' transaction on the cabinet's own registers.

The master writes the payload into `program_staging`, `program_length_bytes`, `program_crc32_staged`, then
`program_commit` = 1. The firmware checks the length, the CRC-32 of the `length` bytes it holds, parses and checks
the document; status goes receiving → verifying → done | error with `program_error`. A lighting cabinet has no
cycle boundary to wait for: an accepted document runs at once and `program_crc32` names it. A refused one changes
nothing; `program_commit` = 0 aborts a transfer.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from datetime import datetime

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_program import ProgramError
from firmware_sim.plan_transfer import (
    DONE,
    E_ABORTED,
    E_CRC,
    E_INVALID,
    E_LENGTH,
    E_NONE,
    E_PARSE,
    ERROR,
    IDLE,
    RECEIVING,
    VERIFYING,
)
from firmware_sim.regmap import RegisterImage

log = logging.getLogger(__name__)


class ProgramTransfer:
    def __init__(self, cab: LightingCabinet, image: RegisterImage, now: Callable[[], datetime | None]) -> None:
        self.cab, self.image, self.now = cab, image, now
        area = image.map.areas["program_staging"]
        self._at, self._registers = area.address, area.registers
        self.status, self.error = IDLE, E_NONE

    def touched(self, addresses: set[int]) -> None:
        """A write reached the staging area or its header: a transfer is under way."""
        header = {self.image.map.points[n].address for n in ("program_length_bytes", "program_crc32_staged")}
        staging = range(self._at, self._at + self._registers)
        if self.status != VERIFYING and (addresses & header or any(a in staging for a in addresses)):
            self.status, self.error = RECEIVING, E_NONE

    def commit(self, value: int) -> None:
        """A write to program_commit: 1 commits, 0 aborts; other values raise ValueError (refused write)."""
        if value == 0:
            self.status, self.error = ERROR, E_ABORTED
            return
        if value != 1:
            raise ValueError(f"program_commit must be 0 (abort) or 1 (commit), got {value}")
        self.status = VERIFYING
        self.status, self.error = self._verify()
        log.info("program_commit device=%s status=%d error=%d", self.cab.device_id, self.status, self.error)

    def _verify(self) -> tuple[int, int]:
        length = self.image.raw("program_length_bytes")
        if not 0 < length <= self._registers * 2:
            return ERROR, E_LENGTH
        words = self.image.tables["holding"][self._at:self._at + (length + 1) // 2]
        payload = b"".join(w.to_bytes(2, "big") for w in words)[:length]
        crc = zlib.crc32(payload)
        if crc != self.image.raw("program_crc32_staged"):
            return ERROR, E_CRC
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ERROR, E_PARSE
        now = self.now()
        if now is None:
            return ERROR, E_INVALID         # not yet running: no clock to activate against
        try:
            self.cab.deploy(doc, crc, self.cab.clock(now))
        except ProgramError as exc:
            log.warning("program_refused device=%s reason=%s", self.cab.device_id, exc)
            return ERROR, E_INVALID
        except (KeyError, TypeError, AttributeError) as exc:
            log.warning("program_refused device=%s reason=%r", self.cab.device_id, exc)
            return ERROR, E_PARSE
        return DONE, E_NONE
