"""When to ask a broker again for a retained message a consumer should have had: a birth or a status.

A broker that keeps retained messages apart from its live routing (NATS keeps them in JetStream) may let one
published while a client was subscribing reach neither the live subscription nor the snapshot sent on subscribing
(seen: a recorder's missed birth; gateways/README.md, "Cluster"). Any broker answers a new SUBSCRIBE with the
retained message, so the consumer asks by subscribing to that one topic again. This is the timing of those asks,
with no I/O: the first `first_wait_s` after the evidence that something was missed (the message itself may just be
late), then after a doubling wait, up to `max_wait_s`, until `stop` says the message came. At most `max_keys` are
tracked: beyond, the oldest is forgotten (`forgotten` counts them)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RetainedAsks(Generic[K]):
    def __init__(self, *, first_wait_s: float = 2.0, max_wait_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.first_wait_s, self.max_wait_s, self.max_keys = first_wait_s, max_wait_s, max_keys
        #: per key: (when the next ask is due, the wait after it), monotonic seconds
        self._due: dict[K, tuple[float, float]] = {}
        self.asked = 0
        self.forgotten = 0

    def start(self, key: K, now: float) -> None:
        """Evidence at `now` that `key`'s retained message was missed; nothing if already tracked."""
        if key in self._due:
            return
        if len(self._due) >= self.max_keys:
            del self._due[next(iter(self._due))]
            self.forgotten += 1
        self._due[key] = (now + self.first_wait_s, min(self.first_wait_s * 2, self.max_wait_s))

    def stop(self, key: K) -> None:
        """The message came (or the key no longer matters)."""
        self._due.pop(key, None)

    def due(self, now: float) -> list[K]:
        """The keys to ask for now; each is then due again after its doubled wait. Counted in `asked`."""
        out: list[K] = []
        for key, (at, wait) in self._due.items():
            if now >= at:
                out.append(key)
                self._due[key] = (now + wait, min(wait * 2, self.max_wait_s))
        self.asked += len(out)
        return out

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def __len__(self) -> int:
        return len(self._due)
