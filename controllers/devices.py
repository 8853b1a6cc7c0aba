"""Device kinds, transports and identifiers shared by every part."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

#: Site and device identifiers: lower-case ASCII, digits, '-' and '_' (they are MQTT topic levels and Influx tags).
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)

DeviceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
SiteId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class DeviceKind(StrEnum):
    SIGNAL_CONTROLLER = "signal_controller"
    LIGHTING_CABINET = "lighting_cabinet"


class Transport(StrEnum):
    MODBUS = "modbus"
    MQTT = "mqtt"


def is_valid_id(value: str) -> bool:
    """True when `value` may be used as a site or device id."""
    return bool(_ID_RE.match(value))
