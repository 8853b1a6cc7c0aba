"""`deploy_program` on a Modbus lighting cabinet: the center's side of the lighting-document transfer.

The timing plans' transaction (`plan_deploy`) on the cabinet's own registers (`program_*` of
lighting-cabinet-v1): refuse, writing nothing, a document the validator refuses (`invalid_program`, naming the
rules), one too big for the staging area, or a wrong `args.crc32`; `transferring` (staging writes), read-back
compare, `verifying` (commit, status until done or error), then `activating` until `program_crc32` names the new
document. A cabinet has no cycle boundary: it runs an accepted document at once, so the activation wait is the
step timeout. The validator checks a year of nights from the cabinet's clock date, with the cabinet's own
coordinates when its registry entry has them (the sun is computed where the cabinet stands).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ValidationError

from controllers.commands import AnyCommand, CommandEnvelope, CommandResult, DeployProgram, ErrorCode
from controllers.lighting import LightingV1, encode_lighting, validate_lighting
from gateways.modbus.plan_deploy import Deploy, DeployFailed, Encoded, PlanDeployer

PROGRAM_ERRORS: dict[str, tuple[ErrorCode, str]] = {
    "crc_mismatch": (ErrorCode.CRC_MISMATCH, "the CRC-32 of the staged bytes is not the one sent"),
    "bad_length": (ErrorCode.VERIFY_FAILED, "the staged length is out of range"),
    "parse_error": (ErrorCode.VERIFY_FAILED, "the staged bytes are not a lighting document"),
    "invalid_program": (ErrorCode.INVALID_PROGRAM, "the cabinet's own check refused it"),
    "busy": (ErrorCode.BUSY, "the cabinet is busy with another transfer"),
    "aborted": (ErrorCode.REFUSED, "the transfer was aborted on the cabinet"),
    "none": (ErrorCode.DEVICE_FAULT, "error status without an error code"),
}


class ProgramDeployer(PlanDeployer):
    """Runs `deploy_program` commands on one Modbus lighting cabinet, one at a time."""

    NAMES: ClassVar[Mapping[str, str]] = {
        "staging": "program_staging", "length": "program_length_bytes", "crc_staged": "program_crc32_staged",
        "commit": "program_commit", "status": "program_status", "error": "program_error",
        "running": "program_crc32",
    }  # fmt: skip
    ERRORS: ClassVar[Mapping[str, tuple[ErrorCode, str]]] = PROGRAM_ERRORS
    DEVICE, THING = "cabinet", "lighting document"

    async def execute(self, command: AnyCommand, envelope: CommandEnvelope) -> dict[str, Any]:
        """`gateways.commands.LongExecute` for `deploy_program`."""
        if not isinstance(command, DeployProgram):
            return CommandResult(id=envelope.id, ok=False, error=ErrorCode.UNKNOWN_COMMAND, ts=self.clock.now(),
                                 message=f"{command.name} is not a lighting deploy").to_payload()
        return await self.run(command, envelope)

    def check(self, command: Deploy) -> Encoded:
        """The document's transfer encoding, after the checks that need no device. Raises DeployFailed."""
        if not isinstance(command, DeployProgram):
            raise DeployFailed(ErrorCode.UNKNOWN_COMMAND, f"{command.name} is not a lighting deploy")
        try:
            doc = LightingV1.model_validate(command.document)
        except ValidationError as exc:
            raise DeployFailed(ErrorCode.INVALID_PROGRAM, f"not a lighting document: {exc}"[:1024]) from None
        location = self.reader.entry.location
        if location is not None:
            doc = doc.model_copy(update={"site": doc.site.model_copy(update={"lat": location.lat,
                                                                             "lon": location.lon})})
        report = validate_lighting(doc, from_date=self.clock.now().date())
        if not report.ok:
            where = "; ".join(f"{i.rule} at {i.path}" for i in report.errors)
            rules = ",".join(sorted(report.error_rules()))
            raise DeployFailed(ErrorCode.INVALID_PROGRAM, f"document refused by the validator: rules={rules}: "
                               f"{where}"[:1024])
        encoded = encode_lighting(LightingV1.model_validate(command.document))
        if len(encoded.registers) > self.staging_registers or encoded.length > 0xFFFF:
            raise DeployFailed(ErrorCode.INVALID_PROGRAM, f"document is {encoded.length} bytes: more than the "
                               f"staging area of {self._device} holds ({self.staging_registers} registers)")
        if encoded.crc32 != command.crc32:
            raise DeployFailed(ErrorCode.CRC_MISMATCH, f"args.crc32 {command.crc32:08x} is not the CRC-32 of the "
                               f"document's transfer encoding ({encoded.crc32:08x})")
        return encoded

    def running_points(self) -> tuple[str, ...]:
        return (self.NAMES["running"],)

    def activation_wait_s(self, running: dict[str, Any]) -> float:
        return self.step_timeout_s
