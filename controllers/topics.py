"""MQTT topic contract v1 (contracts/mqtt/topics-v1.md): building and parsing topic names.

Pure string handling; no I/O. `sl/v1/{site}/{device_id}/{suffix}`, and a gateway's own presence on
`sl/v1/_gateway/{gateway_id}/presence` (never a device topic: `_gateway` is not a valid site id).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controllers.devices import is_valid_id

PREFIX = "sl/v1"
#: The level under PREFIX that holds the gateways' own topics (not a valid site id, so never a device's).
GATEWAY_LEVEL = "_gateway"
PRESENCE = "presence"


class Suffix(StrEnum):
    BIRTH = "birth"
    STATUS = "status"
    STATE = "state"
    TELEMETRY = "telemetry"
    EVENT = "event"
    CMD = "cmd"
    CMD_RES = "cmd/res"
    REBIRTH = "rebirth"


#: Suffixes a device publishes retained (QoS 1); the rest are QoS 1, not retained.
RETAINED = frozenset({Suffix.BIRTH, Suffix.STATUS, Suffix.STATE})


class TopicError(ValueError):
    """A topic that is not a valid contract-v1 topic."""


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    device_id: str
    suffix: Suffix


def topic(site: str, device_id: str, suffix: Suffix | str) -> str:
    """Topic of `suffix` for one device. Raises TopicError on an invalid id."""
    if not is_valid_id(site):
        raise TopicError(f"invalid site id {site!r}")
    if not is_valid_id(device_id):
        raise TopicError(f"invalid device id {device_id!r}")
    return f"{PREFIX}/{site}/{device_id}/{Suffix(suffix).value}"


def subscription(suffix: Suffix | str, site: str = "+", device_id: str = "+") -> str:
    """Subscription filter for `suffix` on all devices (or one site / one device)."""
    return f"{PREFIX}/{site}/{device_id}/{Suffix(suffix).value}"


def parse(name: str) -> DeviceTopic:
    """Split a contract-v1 topic into site, device and suffix. Raises TopicError naming what is wrong."""
    parts = name.split("/")
    if len(parts) < 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"not a {PREFIX} device topic: {name!r}")
    if parts[2] == GATEWAY_LEVEL:
        raise TopicError(f"a gateway topic, not a device topic: {name!r}")
    site, device_id, rest = parts[2], parts[3], "/".join(parts[4:])
    if not is_valid_id(site) or not is_valid_id(device_id):
        raise TopicError(f"invalid site or device id in topic {name!r}")
    try:
        suffix = Suffix(rest)
    except ValueError:
        raise TopicError(f"unknown topic suffix {rest!r} in {name!r}") from None
    return DeviceTopic(site, device_id, suffix)


def gateway_topic(gateway_id: str) -> str:
    """The presence topic of one gateway. Raises TopicError on an invalid gateway id."""
    if not is_valid_id(gateway_id):
        raise TopicError(f"invalid gateway id {gateway_id!r}")
    return f"{PREFIX}/{GATEWAY_LEVEL}/{gateway_id}/{PRESENCE}"


def gateway_subscription(gateway_id: str = "+") -> str:
    """Subscription filter for the presence of every gateway (or one)."""
    return f"{PREFIX}/{GATEWAY_LEVEL}/{gateway_id}/{PRESENCE}"


def is_gateway_topic(name: str) -> bool:
    """True for a name under the gateways' level (valid or not: `parse_gateway` says what is wrong)."""
    return name.startswith(f"{PREFIX}/{GATEWAY_LEVEL}/")


def parse_gateway(name: str) -> str:
    """The gateway id of a presence topic. Raises TopicError naming what is wrong."""
    parts = name.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != GATEWAY_LEVEL or parts[4] != PRESENCE:
        raise TopicError(f"not a gateway presence topic: {name!r}")
    if not is_valid_id(parts[3]):
        raise TopicError(f"invalid gateway id in topic {name!r}")
    return parts[3]
