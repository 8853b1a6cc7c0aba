"""The embedded MQTT broker of the all-in-one demo: amqtt in this process (MQTT 3.1.1), on loopback only.

It enforces the broker files `signalight broker init` writes (`signalight.broker_plugins`): the demo's processes log
in with their generated credentials, each limited to its own topics; anonymous clients may only read `sl/v1/#`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amqtt.broker import Broker

if TYPE_CHECKING:
    from _collections_abc import dict_items  # the type of dict.items(), which this class overrides


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (so a broker can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SnapshotSubscriptions(dict[str, list[tuple[Any, int]]]):
    """amqtt 0.12's table of subscriptions, iterated over snapshots.

    amqtt iterates this dict and awaits inside the loop: per delivered message, the topic plugins' RECEIVE check
    (any topic plugin turns it on); on every connect, the retained messages of each filter. A client subscribing or
    leaving meanwhile changes the dict's size, the broadcast task dies with RuntimeError and the message is lost for
    every subscriber after that point. Snapshots (of the keys, and of each filter's subscriber list) make the loops
    immune; nothing in amqtt writes through what they return.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> dict_items[str, list[tuple[Any, int]]]:
        return {k: list(v) for k, v in super().items()}.items()


@contextlib.asynccontextmanager
async def embedded_broker(host: str, port: int, *, password_file: Path, acl_file: Path,
                          allow_anonymous: bool = False) -> AsyncIterator[None]:
    """An amqtt broker listening on host:port for the duration of the block, admitting the clients of
    `password_file` to the topics of `acl_file` (and, with `allow_anonymous`, clients without a username to the
    file's anonymous rules). Raises OSError (port), PasswordFileError / AclError (files) at start."""
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "plugins": {
            "signalight.broker_plugins.PasswordFileAuth": {
                "password_file": str(password_file), "acl_file": str(acl_file), "allow_anonymous": allow_anonymous},
            "signalight.broker_plugins.AclFileTopics": {"acl_file": str(acl_file)},
        },
    }
    broker = Broker(config)
    # The one reach into amqtt's internals (see SnapshotSubscriptions); checked, so an amqtt that renames it fails
    # loudly here instead of losing messages quietly. Without it the demo's start-up (tests/signalight/test_demo.py)
    # logs "RuntimeError: dictionary changed size during iteration" from amqtt's broadcast loop.
    table = getattr(broker, "_subscriptions", None)
    if type(table) is not dict:
        raise RuntimeError(f"amqtt {version('amqtt')}: Broker._subscriptions is not a dict; review "
                           "signalight.broker.SnapshotSubscriptions")
    broker._subscriptions = SnapshotSubscriptions(table)
    await broker.start()
    try:
        yield
    finally:
        await broker.shutdown()
