"""`deploy_plan` on a Modbus signal controller: the center's side of the plan-transfer transaction.

contracts/plans/README.md ("Transfer encoding") and contracts/mqtt/topics-v1.md ("Timing-plan deploy"). Steps:
1. refuse, writing nothing: a deploy already running on the device (`busy`), a plan the validator refuses
   (`invalid_plan`, naming the rules) or too big for the staging area (`invalid_plan`), `args.crc32` not the
   CRC of the plan's transfer encoding (`crc_mismatch`);
2. `transferring`: plan_commit 0 (drop any stale staging), plan_length_bytes + plan_crc32_staged, the payload in
   FC16 writes of at most 123 registers (the link's lock is taken per request, so polling goes on in between);
3. read the header and staging block back and compare (`readback_mismatch`); `verifying`: plan_commit 1, then
   plan_status until `done` or `error` (plan_error mapped to an error code);
4. `activating`: plan_crc32 (the running plan) until it is the new CRC, within 2 x cycle_s + margin
   (`activation_timeout`); final `ok: true, stage: active` with the state read afterwards.
A failure before the controller accepted the plan aborts (plan_commit 0 when reachable) and answers
`stage: rolled_back`: the previous plan keeps running. After acceptance the controller owns the plan, so a
later failure is answered without a stage (it may still activate). Times are seconds on the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol

from controllers.bus import BusError
from controllers.clock import Clock
from controllers.commands import (
    AnyCommand,
    CommandEnvelope,
    CommandResult,
    DeployPlan,
    DeployProgram,
    DeployStage,
    ErrorCode,
)
from controllers.plans import PlanV1, encode_plan, validate_plan
from gateways.modbus.codec import encode
from gateways.modbus.link import ModbusError
from gateways.modbus.reader import DeviceReader

log = logging.getLogger(__name__)

WRITE_CHUNK = 123        # FC16 limit (registers per request)
READ_CHUNK = 125         # FC3 limit
MAX_CYCLE_S = 255.0      # longest cycle a plan may have (rule cycle_range): the wait when the cycle is unknown

#: plan_error labels (register map) to cmd/res error codes, with what they mean for the engineer.
PLAN_ERRORS: dict[str, tuple[ErrorCode, str]] = {
    "crc_mismatch": (ErrorCode.CRC_MISMATCH, "the CRC-32 of the staged bytes is not the one sent"),
    "bad_length": (ErrorCode.VERIFY_FAILED, "the staged length is out of range"),
    "parse_error": (ErrorCode.VERIFY_FAILED, "the staged bytes are not a plan document"),
    "invalid_plan": (ErrorCode.INVALID_PLAN, "the controller's own plan check refused it"),
    "busy": (ErrorCode.BUSY, "another accepted plan is waiting for its cycle boundary"),
    "aborted": (ErrorCode.REFUSED, "the transfer was aborted on the controller"),
    "none": (ErrorCode.DEVICE_FAULT, "error status without an error code"),
}

Publish = Callable[[dict[str, Any]], Awaitable[None]]
Deploy = DeployPlan | DeployProgram


class Encoded(Protocol):
    """A document ready for transfer (a timing plan or a lighting document)."""

    @property
    def crc32(self) -> int: ...
    @property
    def registers(self) -> tuple[int, ...]: ...
    @property
    def length(self) -> int: ...

ReadState = Callable[[], Awaitable[dict[str, Any]]]


class DeployFailed(Exception):
    """A deploy step failed: the cmd/res error code, a message, and whether the previous plan surely stays."""

    def __init__(self, code: ErrorCode, message: str, *, rolled_back: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.rolled_back = rolled_back


class PlanDeployer:
    """Runs `deploy_plan` commands on one Modbus signal controller, one at a time.

    `NAMES` are the register-map names of the transaction (the lighting deployer runs the same transaction on
    its own registers).

    `publish` sends a cmd/res payload (progress reports; a failure to send one is logged, the deploy goes on);
    `read_state` polls the device and returns its normalized state. `step_timeout_s` bounds each status wait,
    `activation_margin_s` is added to 2 x cycle_s for the activation wait, `poll_interval_s` paces the waits.
    """

    NAMES: ClassVar[Mapping[str, str]] = {
        "staging": "plan_staging", "length": "plan_length_bytes", "crc_staged": "plan_crc32_staged",
        "commit": "plan_commit", "status": "plan_status", "error": "plan_error", "running": "plan_crc32",
    }  # fmt: skip
    ERRORS: ClassVar[Mapping[str, tuple[ErrorCode, str]]] = PLAN_ERRORS
    DEVICE, THING = "controller", "plan"

    def __init__(self, reader: DeviceReader, clock: Clock, publish: Publish, read_state: ReadState, *,
                 step_timeout_s: float = 10.0, activation_margin_s: float = 10.0,
                 poll_interval_s: float = 0.1) -> None:
        self.reader = reader
        self.clock = clock
        self.publish = publish
        self.read_state = read_state
        self.step_timeout_s = step_timeout_s
        self.activation_margin_s = activation_margin_s
        self.poll_interval_s = poll_interval_s
        self.busy = False
        area = reader.profile.areas[self.NAMES["staging"]]
        self.staging_at = area.address
        self.staging_registers = area.registers or 0
        self._device = reader.entry.id

    async def execute(self, command: AnyCommand, envelope: CommandEnvelope) -> dict[str, Any]:
        """`gateways.commands.LongExecute` for `deploy_plan`: `run`, or unknown_command for any other command."""
        if not isinstance(command, DeployPlan):
            return CommandResult(id=envelope.id, ok=False, error=ErrorCode.UNKNOWN_COMMAND, ts=self.clock.now(),
                                 message=f"{command.name} is not a plan deploy").to_payload()
        return await self.run(command, envelope)

    async def run(self, command: Deploy, envelope: CommandEnvelope) -> dict[str, Any]:
        """Execute `command` (sent as `envelope`), publishing progress; returns the final cmd/res payload."""
        deployment = command.deployment_id or envelope.id
        if self.busy:
            return self._failed(envelope, deployment, DeployFailed(
                ErrorCode.BUSY, f"device {self._device}: another plan deploy is running"))
        self.busy = True
        try:
            state = await self._deploy(command, envelope, deployment)
        except DeployFailed as exc:
            return self._failed(envelope, deployment, exc)
        except ModbusError as exc:
            # Not expected (each step maps its own failures); never let it end the gateway's task group.
            return self._failed(envelope, deployment, DeployFailed(ErrorCode.WRITE_FAILED, str(exc),
                                                                    rolled_back=False))
        finally:
            self.busy = False
        log.info("plan_deploy_active device=%s deployment_id=%s crc32=%08x", self._device, deployment, command.crc32)
        return CommandResult(id=envelope.id, ok=True, ts=self.clock.now(), state=state,
                             stage=DeployStage.ACTIVE).to_payload()

    def _failed(self, envelope: CommandEnvelope, deployment: str, exc: DeployFailed) -> dict[str, Any]:
        log.warning("plan_deploy_failed device=%s deployment_id=%s error=%s rolled_back=%s message=%s",
                    self._device, deployment, exc.code.value, exc.rolled_back, exc.message)
        return CommandResult(id=envelope.id, ok=False, error=exc.code, message=exc.message[:1024],
                             ts=self.clock.now(),
                             stage=DeployStage.ROLLED_BACK if exc.rolled_back else None).to_payload()

    def check(self, command: Deploy) -> Encoded:
        """The plan's transfer encoding, after the checks that need no device. Raises DeployFailed."""
        if not isinstance(command, DeployPlan):
            raise DeployFailed(ErrorCode.UNKNOWN_COMMAND, f"{command.name} is not a plan deploy")
        report = validate_plan(command.plan)
        if not report.ok:
            where = "; ".join(f"{i.rule} at {i.path}" for i in report.errors)
            rules = ",".join(sorted(report.error_rules()))
            raise DeployFailed(ErrorCode.INVALID_PLAN, f"plan refused by the validator: rules={rules}: {where}")
        # intersection_id is not compared with the device id: the API maps an intersection to its controller.
        encoded = encode_plan(PlanV1.model_validate(command.plan))
        if len(encoded.registers) > self.staging_registers or encoded.length > 0xFFFF:
            raise DeployFailed(ErrorCode.INVALID_PLAN, f"plan is {encoded.length} bytes: more than the staging "
                               f"area of device {self._device} holds ({self.staging_registers} registers)")
        if encoded.crc32 != command.crc32:
            raise DeployFailed(ErrorCode.CRC_MISMATCH, f"args.crc32 {command.crc32:08x} is not the CRC-32 of the "
                               f"plan's transfer encoding ({encoded.crc32:08x})")
        return encoded

    async def _deploy(self, command: Deploy, envelope: CommandEnvelope, deployment: str) -> dict[str, Any]:
        encoded = self.check(command)
        try:
            running = await self._read(*self.running_points())
        except ModbusError as exc:
            raise DeployFailed(ErrorCode.WRITE_FAILED, f"cannot reach {self._device}, nothing sent: {exc}") from None
        if running.get(self.NAMES["running"]) == encoded.crc32:
            log.info("plan_deploy_already_running device=%s deployment_id=%s", self._device, deployment)
            return await self.read_state()
        log.info("plan_deploy_start device=%s deployment_id=%s bytes=%d crc32=%08x", self._device, deployment,
                 encoded.length, encoded.crc32)
        await self._progress(envelope, deployment, DeployStage.TRANSFERRING)
        try:
            await self._write_point(self.NAMES["commit"], 0)
            await self._transfer(encoded)
            await self._read_back(encoded)
        except DeployFailed:
            await self._abort(deployment)
            raise
        except ModbusError as exc:
            await self._abort(deployment)
            raise DeployFailed(ErrorCode.WRITE_FAILED, f"transfer to {self._device} failed: {exc}") from None
        await self._progress(envelope, deployment, DeployStage.VERIFYING)
        await self._commit(deployment)
        await self._progress(envelope, deployment, DeployStage.ACTIVATING)
        await self._await_activation(encoded.crc32, self.activation_wait_s(running) + self.activation_margin_s)
        return await self.read_state()

    def running_points(self) -> tuple[str, ...]:
        """Points read before a transfer: the running CRC, and what `activation_wait_s` needs."""
        return (self.NAMES["running"], "cycle_s")

    def activation_wait_s(self, running: dict[str, Any]) -> float:
        """How long an accepted plan may take to run: two cycles (it waits for a cycle boundary)."""
        cycle = running.get("cycle_s")
        return 2 * (float(cycle) if isinstance(cycle, int | float) and cycle > 0 else MAX_CYCLE_S)

    async def _transfer(self, encoded: Encoded) -> None:
        length, crc_staged = self.NAMES["length"], self.NAMES["crc_staged"]
        header = self._point_registers(length, encoded.length) + self._point_registers(crc_staged, encoded.crc32)
        await self._write(self.reader.profile.point(length).address, header)
        regs = list(encoded.registers)
        for i in range(0, len(regs), WRITE_CHUNK):
            # One request per chunk: the link lock is released in between, so the device's polls interleave.
            await self._write(self.staging_at + i, regs[i:i + WRITE_CHUNK])

    async def _read_back(self, encoded: Encoded) -> None:
        length, crc_staged = self.NAMES["length"], self.NAMES["crc_staged"]
        staged = await self._read(length, crc_staged)
        regs = list(encoded.registers)
        got: list[int] = []
        for i in range(0, len(regs), READ_CHUNK):
            got += await self.reader.link.read("holding", self.staging_at + i, min(READ_CHUNK, len(regs) - i),
                                               unit_id=self.reader.unit_id, device=self._device)
        if staged.get(length) != encoded.length or staged.get(crc_staged) != encoded.crc32:
            raise DeployFailed(ErrorCode.READBACK_MISMATCH, f"device {self._device} holds length "
                               f"{staged.get(length)} crc32 {staged.get(crc_staged)}, "
                               f"sent {encoded.length} and {encoded.crc32}")
        bad = [i for i, (a, b) in enumerate(zip(regs, got, strict=False)) if a != b]
        if bad or len(got) != len(regs):
            first = bad[0] if bad else len(got)
            raise DeployFailed(ErrorCode.READBACK_MISMATCH, f"staging read back from {self._device} differs in "
                               f"{len(bad)} of {len(regs)} registers, first at {self.staging_at + first}")

    async def _commit(self, deployment: str) -> None:
        """plan_commit 1, then plan_status until done. Raises DeployFailed."""
        try:
            await self._write_point(self.NAMES["commit"], 1)
        except ModbusError as exc:
            # The write may have reached the device: abort, and say the outcome is not known for sure.
            await self._abort(deployment)
            raise DeployFailed(ErrorCode.WRITE_FAILED, f"commit to {self._device} failed: {exc}",
                               rolled_back=False) from None
        deadline = self.clock.monotonic() + self.step_timeout_s
        last = ""
        while True:
            try:
                values = await self._read(self.NAMES["status"], self.NAMES["error"])
            except ModbusError as exc:
                values, last = {}, str(exc)
            status = values.get(self.NAMES["status"])
            if status == "done":
                return
            if status == "error":
                error = str(values.get(self.NAMES["error"]))
                code, meaning = self.ERRORS.get(error, self.ERRORS["none"])
                raise DeployFailed(code, f"{self.DEVICE} {self._device} refused the {self.THING}: {error} ({meaning})")
            if self.clock.monotonic() >= deadline:
                await self._abort(deployment)
                raise DeployFailed(ErrorCode.TIMEOUT, f"controller {self._device} did not verify the plan within "
                                   f"{self.step_timeout_s} s (status {status}) {last}".strip(), rolled_back=False)
            await self.clock.sleep(self.poll_interval_s)

    async def _await_activation(self, crc: int, timeout_s: float) -> None:
        deadline = self.clock.monotonic() + timeout_s
        last = ""
        while True:
            try:
                if (await self._read(self.NAMES["running"])).get(self.NAMES["running"]) == crc:
                    return
            except ModbusError as exc:
                last = str(exc)
            if self.clock.monotonic() >= deadline:
                raise DeployFailed(ErrorCode.ACTIVATION_TIMEOUT, f"controller {self._device} accepted the plan but "
                                   f"does not run it after {timeout_s:.0f} s {last}".strip(), rolled_back=False)
            await self.clock.sleep(self.poll_interval_s)

    async def _abort(self, deployment: str) -> None:
        """plan_commit 0, best effort: an unreachable device never committed what it did not fully receive."""
        try:
            await self._write_point(self.NAMES["commit"], 0)
        except ModbusError as exc:
            log.warning("plan_deploy_abort_failed device=%s deployment_id=%s error=%s", self._device, deployment,
                        exc)

    async def _progress(self, envelope: CommandEnvelope, deployment: str, stage: DeployStage) -> None:
        log.info("plan_deploy_stage device=%s deployment_id=%s stage=%s", self._device, deployment, stage.value)
        payload = CommandResult(id=envelope.id, ok=True, final=False, stage=stage, ts=self.clock.now()).to_payload()
        try:
            await self.publish(payload)
        except BusError as exc:     # a lost progress report must not stop the transfer
            log.warning("plan_deploy_progress_failed device=%s id=%s stage=%s error=%s", self._device, envelope.id,
                        stage.value, exc)

    def _point_registers(self, name: str, value: int) -> list[int]:
        return encode(self.reader.profile.point(name), value, self.reader.profile)

    async def _write_point(self, name: str, value: int) -> None:
        await self._write(self.reader.profile.point(name).address, self._point_registers(name, value))

    async def _write(self, address: int, regs: list[int]) -> None:
        await self.reader.link.write_registers(address, regs, unit_id=self.reader.unit_id, device=self._device)

    async def _read(self, *names: str) -> dict[str, Any]:
        return (await self.reader.read_points(names)).values
