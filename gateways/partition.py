"""Recorder partitions: N recorders split telemetry on any broker, without MQTT 5 shared subscriptions.

A partition "i/N" owns the devices whose CRC-32 of the device id is i modulo N: the same hash gateways shard
unassigned devices by (`gateways.manifest.owns`), stable across processes and restarts. Every recorder of a
partitioned set subscribes to all telemetry and stores the samples of its own devices only; the others it
acknowledges at once. The broker therefore still delivers every message to every recorder: partitions split the
validation and the store writes, not the broker's fan-out (`$share` on an MQTT 5 broker splits both).

The rule that keeps every sample stored exactly once: partitions are static (N does not change while samples are in
flight) and every partition has exactly one recorder, whose client id is the partition's (so its persistent session
holds its partition's samples while it is away, and it resumes them from any node of a cluster).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_SPELLING = re.compile(r"^(\d{1,4})/(\d{1,4})$")


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    count: int

    def owns(self, device_id: str) -> bool:
        return zlib.crc32(device_id.encode()) % self.count == self.index

    @property
    def name(self) -> str:
        """A name usable in an MQTT client id: `2-of-4`."""
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_partition(text: str) -> Partition:
    """"i/N" with 0 <= i < N; a clear error naming the value otherwise."""
    m = _SPELLING.match(text.strip())
    if m is None:
        raise ValueError(f"recorder partition {text!r}: expected i/N, e.g. 0/4")
    index, count = int(m[1]), int(m[2])
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"recorder partition {text!r}: index must be in [0, N) and N >= 1")
    return Partition(index, count)
