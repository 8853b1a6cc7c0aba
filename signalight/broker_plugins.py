"""amqtt plugins that make the embedded demo broker enforce the generated `password_file` and `acl_file`.

Through amqtt's public plugin interface (`BaseAuthPlugin.authenticate`, `BaseTopicPlugin.topic_filtering`, a
`Config` dataclass filled from the broker config). The files are the ones `signalight broker init` writes for
Mosquitto, judged by the same code (`AclTable`, `verify_password`), so the demo and production admit the same
clients to the same topics.

Two places where amqtt 0.12 differs from Mosquitto, closed here:
- amqtt publishes a client's Last Will without any topic check: a client whose will topic it may not write is
  refused at CONNECT (Mosquitto drops such a will when it would send it).
- amqtt checks SUBSCRIBE and every live message (RECEIVE), but not the retained messages it sends on subscribe; a
  filter is therefore admitted only where it meets the client's read rules. In the demo anonymous clients may read
  `sl/v1/#` anyway, so no retained message reaches anyone who could not subscribe to it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from signalight.broker_acl import AclTable
from signalight.broker_passwords import PasswordFileError, load_password_file, verify_password

log = logging.getLogger("signalight.broker")

_LOG_FIRST = 100  # denials logged one by one; after that every 1000th, so a flood cannot flood the log


def _counted(counter: Counter[str], reason: str) -> bool:
    counter[reason] += 1
    n = counter[reason]
    return n <= _LOG_FIRST or n % 1000 == 0


def _text(value: str | bytes | bytearray | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return bytes(value).decode("utf-8", errors="replace")


class PasswordFileAuth(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """Admit a client whose username and password match the password file, or (when allowed) a client that gives
    no username at all, as anonymous. A wrong password or an unknown username is refused (CONNACK 0x05)."""

    @dataclass
    class Config:
        password_file: str
        acl_file: str
        allow_anonymous: bool = False

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.users = load_password_file(Path(self.config.password_file))
        self.acl = AclTable.parse(Path(self.config.acl_file).read_text(encoding="utf-8"), self.config.acl_file)
        self.refused: Counter[str] = Counter()

    def _refuse(self, session: Session, reason: str) -> bool:
        if _counted(self.refused, reason):
            log.warning("broker_connect_refused client=%s username=%s reason=%s", session.client_id,
                        session.username, reason)
        return False

    async def authenticate(self, *, session: Session) -> bool | None:
        username = _text(session.username)
        if not username:
            if not self.config.allow_anonymous:
                return self._refuse(session, "anonymous")
            session.is_anonymous = True
        else:
            encoded = self.users.get(username)
            if encoded is None:
                return self._refuse(session, "unknown_user")
            try:
                if not verify_password(_text(session.password) or "", encoded):
                    return self._refuse(session, "bad_password")
            except PasswordFileError:
                return self._refuse(session, "bad_hash")
        will = _text(session.will_topic) if session.will_flag else None
        if will is not None and not self.acl.can_publish(username or None, will):
            return self._refuse(session, "will_topic_denied")
        return True


class AclFileTopics(BaseTopicPlugin):  # type: ignore[misc]
    """Allow PUBLISH, SUBSCRIBE and RECEIVE as the acl_file says (rules before the first `user` line: anonymous)."""

    @dataclass
    class Config:
        acl_file: str

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.acl = AclTable.parse(Path(self.config.acl_file).read_text(encoding="utf-8"), self.config.acl_file)
        self.denied: Counter[str] = Counter()

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        if session is None or not topic:
            return False
        username = _text(session.username) or None
        if action == Action.PUBLISH:
            allowed = self.acl.can_publish(username, topic)
        elif action == Action.RECEIVE:
            allowed = self.acl.can_receive(username, topic)
        elif action == Action.SUBSCRIBE:
            allowed = self.acl.can_subscribe(username, topic)
        else:
            allowed = False
        # RECEIVE denials are the normal filtering of a wide subscription, not an attempt: not logged.
        if not allowed and action != Action.RECEIVE and _counted(self.denied, str(action)):
            log.warning("broker_%s_denied client=%s username=%s topic=%s", action, session.client_id,
                        username or "(anonymous)", topic)
        return allowed
