"""Who may do what on the bus: the broker's identities and their topic rules, from the device registry.

One rule set, two judges that read the same file: `render_acl` writes it as a Mosquitto 2.x `acl_file`, and
`AclTable` (used by the embedded demo broker) evaluates that file with Mosquitto's semantics: a client may publish
to a topic a `write`/`readwrite` rule matches, receives a message only when a `read`/`readwrite` rule matches its
topic, and rules before the first `user` line are the anonymous clients'.

Least privilege (contracts/mqtt/topics-v1.md):
- a device (one that speaks MQTT itself) writes only its own birth/status/state/telemetry/event/cmd/res and reads
  only its own cmd and rebirth;
- a gateway, for the Modbus devices of its shard, writes what the device would and reads their cmd and rebirth; for
  the MQTT devices of its shard it only watches them (reads birth/status/state/telemetry/event) and asks for a
  rebirth; plus its own presence `sl/v1/_gateway/{id}/presence` (it publishes it and watches it for a late will);
- recorders read `sl/v1/#`; the API reads `sl/v1/#` and publishes `sl/v1/+/+/cmd` only;
- anonymous clients: nothing, or (the demo) read `sl/v1/#`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from controllers.devices import Transport, is_valid_id
from controllers.topics import GATEWAY_LEVEL, PREFIX, PRESENCE, Suffix, topic
from gateways.manifest import DeviceEntry, owns
from signalight.broker_passwords import check_username

Access = Literal["read", "write", "readwrite"]
_ACCESS: dict[str, Access] = {"read": "read", "write": "write", "readwrite": "readwrite"}

#: What a device publishes about itself, and what it listens to.
DEVICE_WRITES = (Suffix.BIRTH, Suffix.STATUS, Suffix.STATE, Suffix.TELEMETRY, Suffix.EVENT, Suffix.CMD_RES)
DEVICE_READS = (Suffix.CMD, Suffix.REBIRTH)
#: What a gateway watches of the MQTT devices of its shard (gateways.mqtt_device_watch.WATCHED).
GATEWAY_WATCHES = (Suffix.BIRTH, Suffix.STATUS, Suffix.STATE, Suffix.TELEMETRY, Suffix.EVENT)

EVERYTHING = f"{PREFIX}/#"
ANY_CMD = f"{PREFIX}/+/+/{Suffix.CMD.value}"


class Role(StrEnum):
    API = "api"
    RECORDER = "recorder"
    GATEWAY = "gateway"
    DEVICE = "device"


class AclError(ValueError):
    """A rule set or an acl_file that cannot be used."""


@dataclass(frozen=True)
class AclRule:
    access: Access
    topic: str

    def line(self) -> str:
        return f"topic {self.access} {self.topic}"


@dataclass(frozen=True)
class GatewaySpec:
    """A gateway process: its presence id and shard (None: it owns every device)."""

    gateway_id: str
    shard: str | None = None

    @classmethod
    def parse(cls, spec: str) -> GatewaySpec:
        """`ID` or `ID=SHARD` (e.g. `edge01-0-4=0/4`). Raises AclError naming the spec."""
        gateway_id, sep, shard = spec.partition("=")
        if not is_valid_id(gateway_id):
            raise AclError(f"gateway {spec!r}: the id must match [a-z0-9][a-z0-9_-]{{0,63}}")
        if sep and not shard:
            raise AclError(f"gateway {spec!r}: empty shard after '='")
        return cls(gateway_id, shard or None)


@dataclass(frozen=True)
class Identity:
    """One broker login. `key` names it in the credentials files: `api`, `recorder`, `gateway:{id}`, or the device
    id (the simulator's credentials file is keyed by device id)."""

    key: str
    username: str
    role: Role
    rules: tuple[AclRule, ...]
    gateway: GatewaySpec | None = None


@dataclass(frozen=True)
class AclPlan:
    """Every identity and the anonymous rules; `unowned` lists Modbus devices no gateway serves."""

    identities: tuple[Identity, ...]
    anonymous: tuple[AclRule, ...] = ()
    unowned: tuple[str, ...] = field(default=())

    def by_key(self) -> dict[str, Identity]:
        return {i.key: i for i in self.identities}


def gateway_key(gateway_id: str) -> str:
    return f"gateway:{gateway_id}"


def device_username(site: str, device_id: str) -> str:
    # Site and device ids never contain '.', process usernames never do: no device can take a process's name.
    return f"{site}.{device_id}"


def presence_topic(gateway_id: str) -> str:
    return f"{PREFIX}/{GATEWAY_LEVEL}/{gateway_id}/{PRESENCE}"


def default_gateways(devices: Sequence[DeviceEntry]) -> list[GatewaySpec]:
    """One gateway per shard the registry names (`gateway-{shard}`), or one `gateway-all` for an unsharded fleet.

    A device that names no shard while others do is served by no named gateway: pass `--gateway` for it."""
    shards = sorted({d.shard for d in devices if d.shard is not None})
    if not shards:
        return [GatewaySpec("gateway-all", None)]
    return [GatewaySpec(f"gateway-{shard}".lower(), shard) for shard in shards]


def device_rules(device: DeviceEntry) -> tuple[AclRule, ...]:
    writes = [AclRule("write", topic(device.site, device.id, s)) for s in DEVICE_WRITES]
    reads = [AclRule("read", topic(device.site, device.id, s)) for s in DEVICE_READS]
    return (*writes, *reads)


def gateway_rules(spec: GatewaySpec, devices: Sequence[DeviceEntry]) -> tuple[AclRule, ...]:
    rules = [AclRule("readwrite", presence_topic(spec.gateway_id))]
    for d in devices:
        if not owns(d, spec.shard):
            continue
        if d.transport is Transport.MODBUS:
            rules.extend(device_rules(d))
        else:
            rules.extend(AclRule("read", topic(d.site, d.id, s)) for s in GATEWAY_WATCHES)
            rules.append(AclRule("write", topic(d.site, d.id, Suffix.REBIRTH)))
    return tuple(rules)


def build_plan(devices: Sequence[DeviceEntry], gateways: Sequence[GatewaySpec] | None = None, *,
               anonymous_read: bool = False) -> AclPlan:
    """The rule set for the registry `devices` served by `gateways` (default: `default_gateways`).

    Raises AclError for duplicate gateway ids, a bad shard spelling, or two devices with one id on different sites
    (the simulator's credentials file is keyed by device id)."""
    specs = list(gateways) if gateways else default_gateways(devices)
    identities = [
        Identity("api", "signalight-api", Role.API, (AclRule("read", EVERYTHING), AclRule("write", ANY_CMD))),
        Identity("recorder", "signalight-recorder", Role.RECORDER, (AclRule("read", EVERYTHING),)),
    ]
    seen: set[str] = set()
    for spec in specs:
        if spec.gateway_id in seen:
            raise AclError(f"gateway id {spec.gateway_id!r} is given twice")
        seen.add(spec.gateway_id)
        try:
            rules = gateway_rules(spec, devices)
        except ValueError as exc:
            raise AclError(f"gateway {spec.gateway_id}: {exc}") from None
        identities.append(Identity(gateway_key(spec.gateway_id), f"signalight-gateway-{spec.gateway_id}",
                                   Role.GATEWAY, rules, gateway=spec))
    sites: dict[str, str] = {}
    for d in devices:
        if d.id in sites and sites[d.id] != d.site:
            raise AclError(f"device id {d.id!r} is on sites {sites[d.id]!r} and {d.site!r}: device ids must be "
                           "unique across the registry")
        sites[d.id] = d.site
        if d.transport is Transport.MQTT:
            identities.append(Identity(d.id, device_username(d.site, d.id), Role.DEVICE, device_rules(d)))
    unowned = tuple(d.id for d in devices if d.transport is Transport.MODBUS
                    and not any(owns(d, s.shard) for s in specs))
    anonymous = (AclRule("read", EVERYTHING),) if anonymous_read else ()
    for ident in identities:
        check_username(ident.username)
    return AclPlan(tuple(identities), anonymous, unowned)


def render_acl(plan: AclPlan, header: str = "") -> str:
    """The Mosquitto `acl_file` text of `plan`."""
    out = [f"# {line}" for line in header.splitlines()]
    out.append("# anonymous clients" + ("" if plan.anonymous else ": nothing"))
    out.extend(rule.line() for rule in plan.anonymous)
    for ident in plan.identities:
        out.append("")
        out.append(f"# {ident.role.value}" + (f" {ident.key}" if ident.key != ident.role.value else "")
                   + (f" shard={ident.gateway.shard}" if ident.gateway and ident.gateway.shard else ""))
        out.append(f"user {ident.username}")
        out.extend(rule.line() for rule in ident.rules)
    return "\n".join(out) + "\n"


# --- evaluating an acl_file (the embedded broker) -------------------------------------------------------------------


def topic_matches(pattern: str, name: str) -> bool:
    """MQTT wildcard match of a topic name against a filter (`+` one level, `#` the rest, including the parent)."""
    p, t = pattern.split("/"), name.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return len(t) >= i
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def filters_intersect(a: str, b: str) -> bool:
    """Whether some topic name matches both filters."""
    x, y = a.split("/"), b.split("/")
    i = 0
    while True:
        if i < len(x) and x[i] == "#":
            return len(y) >= i
        if i < len(y) and y[i] == "#":
            return len(x) >= i
        if i == len(x) or i == len(y):
            return len(x) == len(y)
        if x[i] != "+" and y[i] != "+" and x[i] != y[i]:
            return False
        i += 1


def _strip_share(flt: str) -> str:
    if flt.startswith("$share/"):
        parts = flt.split("/", 2)
        return parts[2] if len(parts) == 3 else ""
    return flt


class _Rules:
    """Rules of one client, split for speed: exact topics are a set lookup, wildcards a short list."""

    def __init__(self) -> None:
        self.exact: dict[str, set[str]] = {"read": set(), "write": set()}
        self.wild: dict[str, list[str]] = {"read": [], "write": []}

    def add(self, access: Access, name: str) -> None:
        for a in (("read", "write") if access == "readwrite" else (access,)):
            if "+" in name or "#" in name:
                self.wild[a].append(name)
            else:
                self.exact[a].add(name)

    def allows(self, access: Literal["read", "write"], name: str) -> bool:
        return name in self.exact[access] or any(topic_matches(p, name) for p in self.wild[access])

    def may_subscribe(self, flt: str) -> bool:
        return any(filters_intersect(p, flt) for p in (*self.exact["read"], *self.wild["read"]))


class AclTable:
    """A parsed Mosquitto acl_file (`user` and `topic [read|write|readwrite]` lines), evaluated as Mosquitto does."""

    def __init__(self, rules: dict[str | None, _Rules]) -> None:
        self._rules = rules
        self._none = _Rules()

    @classmethod
    def parse(cls, text: str, source: str = "acl_file") -> AclTable:
        """Raises AclError naming `source` and the line of anything this evaluator does not implement."""
        rules: dict[str | None, _Rules] = {None: _Rules()}
        current: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            rest = rest.strip()
            if word == "user" and rest:
                current = rest
                rules.setdefault(current, _Rules())
            elif word == "topic" and rest:
                mode, _, name = rest.partition(" ")
                access = _ACCESS.get(mode)
                if access is None or not name.strip():
                    # `topic NAME` (readwrite) and `deny` exist in Mosquitto; we never write them: refuse, not guess.
                    raise AclError(f"{source}:{number}: expected `topic read|write|readwrite TOPIC`")
                rules[current].add(access, name.strip())
            else:
                raise AclError(f"{source}:{number}: unsupported line {line!r} (only `user` and `topic`)")
        return cls(rules)

    def _of(self, username: str | None) -> _Rules:
        return self._rules.get(username, self._none)

    def can_publish(self, username: str | None, name: str) -> bool:
        return self._of(username).allows("write", name)

    def can_receive(self, username: str | None, name: str) -> bool:
        return self._of(username).allows("read", name)

    def can_subscribe(self, username: str | None, flt: str) -> bool:
        """Whether the filter can bring the client anything it may read (each message is checked again)."""
        return self._of(username).may_subscribe(_strip_share(flt))
