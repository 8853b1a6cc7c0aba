"""The gateway process: Modbus devices made to look like MQTT devices on the bus (topic contract v1).

`run_gateway` owns the Modbus devices of its shard: one coordinator per device (polling, state, telemetry, comm
loss), one `ModbusLink` per host:port shared by the unit ids behind it, and command execution from
`sl/v1/{site}/{id}/cmd` answered on `cmd/res`. The gateway's own presence (`gateways.presence`) is the Last Will of
its bus connection; after every (re)connect it announces itself `online`, then republishes its devices' birth, status
and state (the broker may have lost its retained messages). On a clean shutdown (cancellation) it publishes
`status offline` for every device it owns, then its own presence `offline`. Devices on the MQTT transport speak for
themselves: the gateway only watches their `seq` (asking for a rebirth after a gap) and counts their malformed
payloads (`gateways.mqtt_device_watch`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controllers.bounded_json import FirstSight
from controllers.bus import BusError
from controllers.clock import Clock
from controllers.command_auth import SignatureCheck
from controllers.commands import AnyCommand, CircuitRelease
from controllers.devices import DeviceKind
from controllers.normalize import circuit_count
from controllers.presence import GatewayRef
from controllers.topics import Suffix, TopicError, parse, subscription
from gateways import heap
from gateways.commands import CommandLedger, LongExecute, NoKeys, handle_command
from gateways.first_sight_file import FileFirstSight
from gateways.manifest import DeviceEntry, ModbusDevice, MqttDevice, load_manifest, owns
from gateways.metrics import serve_gateway_metrics
from gateways.modbus.commands import ModbusCommander
from gateways.modbus.coordinator import DeviceCoordinator
from gateways.modbus.link import ModbusLink
from gateways.modbus.plan_deploy import PlanDeployer
from gateways.modbus.profile import load_profile
from gateways.modbus.program_deploy import ProgramDeployer
from gateways.modbus.reader import DeviceReader
from gateways.mqtt import Bus, BusConfig
from gateways.mqtt_device_watch import MqttDeviceWatch, run_mqtt_device_watch
from gateways.presence import GatewayPresence, default_gateway_id
from gateways.publisher import DevicePublisher
from gateways.replay_window import ReplayWindow

__all__ = ["DeviceEntry", "GatewayDevice", "load_manifest", "run_gateway"]

log = logging.getLogger(__name__)

SHUTDOWN_PUBLISH_S = 2.0
GC_FREEZE_AFTER_S = 5.0


class GatewayDevice:
    """One owned Modbus device: its coordinator, command runner and command ledger."""

    def __init__(self, entry: ModbusDevice, link: ModbusLink, bus: Bus, clock: Clock, *,
                 offline_after: int = 3, gateway: GatewayRef | None = None, keys: SignatureCheck | None = None,
                 window: ReplayWindow | None = None, first_sight: FirstSight | None = None,
                 lateness_observer: Callable[[float], None] | None = None) -> None:
        profile = load_profile(entry.profile)
        if profile.kind != entry.kind:
            raise ValueError(f"device {entry.id}: profile {entry.profile} is for {profile.kind}, not {entry.kind}")
        self.entry = entry
        self.clock = clock
        self.reader = DeviceReader(entry, profile, link)
        self.publisher = DevicePublisher(entry, bus, clock, gateway=gateway)
        self.coordinator = DeviceCoordinator(self.reader, self.publisher, clock, offline_after=offline_after,
                                             lateness_observer=lateness_observer)
        self.commander = ModbusCommander(self.reader, clock)
        self.keys: SignatureCheck = keys if keys is not None else NoKeys()
        self.ledger = CommandLedger(window=window, first_sight=first_sight)
        # deploy_plan is not in the generic command route: it runs here when the register map has a staging area.
        self.long_commands: dict[str, LongExecute] = {}
        self.deployer: PlanDeployer | None = None
        if entry.kind is DeviceKind.SIGNAL_CONTROLLER and "plan_staging" in profile.areas:
            self.deployer = PlanDeployer(self.reader, clock, self.publisher.publish_cmd_result, self.refresh_state)
            self.long_commands["deploy_plan"] = self.deployer.execute
        if entry.kind is DeviceKind.LIGHTING_CABINET and "program_staging" in profile.areas:
            self.deployer = ProgramDeployer(self.reader, clock, self.publisher.publish_cmd_result,
                                            self.refresh_state)
            self.long_commands["deploy_program"] = self.deployer.execute

    async def execute(self, command: AnyCommand) -> dict[str, Any]:
        """Run `command`, then read the state back and publish it. Raises CommandFailed."""
        if isinstance(command, CircuitRelease) and command.circuit is None:
            # The register map releases one circuit per write: release each in turn.
            for n in range(1, circuit_count(self.coordinator.values) + 1):
                await self.commander.execute(command.model_copy(update={"circuit": n}), self.clock.now())
        else:
            await self.commander.execute(command, self.clock.now())
        return await self.refresh_state()

    async def refresh_state(self) -> dict[str, Any]:
        """Poll the state groups now; publish the state when it changed; return it."""
        for group in self.reader.plans:
            if self.coordinator._state_group(group):
                await self.coordinator.poll(group)
        return await self.coordinator.publish_state(force=False)

    async def on_cmd(self, payload: bytes) -> None:
        try:
            await handle_command(payload, device=self.entry.id, kind=self.entry.kind, clock=self.clock,
                                 ledger=self.ledger, execute=self.execute, answer=self.publisher.publish_cmd_result,
                                 long_commands=self.long_commands, site=self.entry.site, keys=self.keys)
        except BusError as exc:  # not from the answer, which waits in the device's outbox until it is sent
            log.warning("command_answer_failed device=%s error=%s", self.entry.id, exc)

    async def rebirth(self) -> None:
        try:
            await self.publisher.republish()
        except BusError as exc:
            log.warning("rebirth_failed device=%s error=%s", self.entry.id, exc)


def modbus_links(entries: Sequence[ModbusDevice]) -> dict[tuple[str, int], ModbusLink]:
    """One link per host:port, with the `max_in_flight` its devices give (default 1). Raises ValueError when two
    devices behind one host:port disagree on it."""
    links: dict[tuple[str, int], ModbusLink] = {}
    given: dict[tuple[str, int], tuple[str, int]] = {}
    for entry in entries:
        key = (entry.host, entry.port)
        if entry.max_in_flight is not None:
            first = given.setdefault(key, (entry.id, entry.max_in_flight))
            if first[1] != entry.max_in_flight:
                raise ValueError(f"devices {first[0]} and {entry.id} share {entry.host}:{entry.port} but give "
                                 f"max_in_flight {first[1]} and {entry.max_in_flight}")
    for entry in entries:
        key = (entry.host, entry.port)
        if key not in links:
            links[key] = ModbusLink(entry.host, entry.port, max_in_flight=given.get(key, ("", 1))[1])
    return links


async def run_gateway(*, bus: BusConfig, devices: Sequence[DeviceEntry], clock: Clock, shard: str | None = None,
                      metrics_port: int | None = None, offline_after: int = 3, gateway_id: str | None = None,
                      command_keys: SignatureCheck | None = None, replay_dir: Path | None = None,
                      lateness_observer: Callable[[float], None] | None = None) -> None:
    """Run the gateway for the Modbus devices of `devices` this `shard` owns, until cancelled.

    `shard`: None owns every device; a name owns the devices whose manifest `shard` is that name; "i/N" also owns
    unassigned devices whose id hashes to i modulo N (see `gateways.manifest.owns`). `metrics_port`: Prometheus
    metrics over HTTP on that port (None: off). `gateway_id`: the id of this gateway's presence topic (None:
    `default_gateway_id(shard)`); the gateway sets `bus.will` itself, so it must be unset. `command_keys`: the
    trusted command-signing keys (None: every command is refused). `replay_dir`: where the replay window of command
    ids lives, as `{gateway_id}.command-ids` (None: in memory only, forgotten on restart). `lateness_observer`: told
    each poll's lateness in seconds (the figure the metrics export; benchmarks/fleet.py collects it). Raises
    ValueError for an unusable device entry, profile or gateway id, or a `bus.will` given; OSError when `replay_dir`
    is unusable.
    """
    if bus.will is not None:
        raise ValueError("BusConfig.will is set: a gateway's Last Will is its own presence; leave it unset")
    presence = GatewayPresence(gateway_id or default_gateway_id(shard), clock)
    bus = bus.model_copy(update={"will": presence.will()})
    owned = [d for d in devices if isinstance(d, ModbusDevice) and owns(d, shard)]
    # Refused payloads are logged once, across restarts too when the gateway has a folder for its state.
    first_sight = (FileFirstSight(replay_dir / f"{presence.gateway_id}.poison-seen") if replay_dir is not None
                   else FirstSight())
    device_watch = MqttDeviceWatch([d for d in devices if isinstance(d, MqttDevice) and owns(d, shard)], clock,
                               first_sight=first_sight)
    links = modbus_links(owned)
    window = ReplayWindow(replay_dir / f"{presence.gateway_id}.command-ids" if replay_dir is not None else None)
    await asyncio.to_thread(window.load, clock.now())
    if command_keys is None:
        log.warning("gateway_no_command_keys gateway=%s: every command will be refused", presence.gateway_id)
    async with Bus(bus) as b:
        members: dict[tuple[str, str], GatewayDevice] = {}
        for entry in owned:
            link = links[(entry.host, entry.port)]
            members[(entry.site, entry.id)] = GatewayDevice(entry, link, b, clock, offline_after=offline_after,
                                                            gateway=presence.ref, keys=command_keys, window=window,
                                                            first_sight=first_sight,
                                                            lateness_observer=lateness_observer)
        log.info("gateway_start gateway=%s session=%s shard=%s devices=%d links=%d", presence.gateway_id,
                 presence.session, shard, len(members), len(links))

        async def on_connect() -> None:
            # The gateway first, then its devices: a consumer that sees the births sees the gateway online.
            await presence.announce(b)
            for m in members.values():
                await m.publisher.republish()

        b.add_on_connect(on_connect)
        try:
            async with asyncio.TaskGroup() as tg:
                if metrics_port is not None:
                    tg.create_task(serve_gateway_metrics(metrics_port, members.values(), links.values(), device_watch))
                tg.create_task(presence.watch(b), name="presence")
                tg.create_task(_serve_commands(b, members, tg))
                tg.create_task(run_mqtt_device_watch(b, device_watch))
                for m in members.values():
                    tg.create_task(m.coordinator.run(), name=f"device-{m.entry.id}")
                # Once every device has been polled (the longest first contact is a few fast polls), keep the
                # devices' objects out of full collections (gateways/heap.py).
                tg.create_task(heap.freeze_after(GC_FREEZE_AFTER_S), name="gc-freeze")
        finally:
            await _shutdown(members)
            await _withdraw(b, presence)
            for link in links.values():
                link.close()


async def _serve_commands(bus: Bus, members: dict[tuple[str, str], GatewayDevice], tg: asyncio.TaskGroup) -> None:
    async with bus.subscribe(subscription(Suffix.CMD), subscription(Suffix.REBIRTH), queue_size=10_000) as sub:
        async for message in sub:
            try:
                t = parse(message.topic)
            except TopicError:
                continue
            member = members.get((t.site, t.device_id))
            if member is None:
                continue
            if t.suffix is Suffix.CMD:
                # Each command in its own task: a slow device never holds up commands for another one.
                tg.create_task(member.on_cmd(message.payload), name=f"cmd-{t.device_id}")
            elif t.suffix is Suffix.REBIRTH:
                tg.create_task(member.rebirth(), name=f"rebirth-{t.device_id}")


async def _shutdown(members: dict[tuple[str, str], GatewayDevice]) -> None:
    """Publish `status offline` for every owned device after what waits in its outbox, bounded in time (the bus may
    be gone); then stop the outboxes."""
    for m in members.values():
        await m.publisher.publish_status("offline", "gateway stopped")
    flushed = await asyncio.gather(*(m.publisher.flush(SHUTDOWN_PUBLISH_S) for m in members.values()))
    if not all(flushed):
        log.warning("gateway_shutdown_timeout devices=%d unsent=%d", len(members),
                    sum(len(m.publisher.outbox) for m in members.values()))
    for m in members.values():
        m.publisher.close()
    log.info("gateway_stopped devices=%d", len(members))


async def _withdraw(bus: Bus, presence: GatewayPresence) -> None:
    """Publish the gateway's own `offline` after its devices', bounded in time. A clean disconnect follows, which
    does not publish the will: should this fail with the connection still up, the retained presence stays `online`
    until the gateway runs again (only a disconnect without DISCONNECT, or MQTT 5 reason 0x04, would send the will)."""
    try:
        async with asyncio.timeout(SHUTDOWN_PUBLISH_S):
            await presence.withdraw(bus)
    except (BusError, TimeoutError) as exc:
        log.warning("gateway_withdraw_failed gateway=%s error=%s", presence.gateway_id, str(exc) or "timeout")


_ = DeviceKind  # re-exported kind for callers building entries by hand
