"""User accounts: creation for the CLI (`signalight admin create-user`) and the demo, and login checks.

Passwords are stored only as argon2 hashes; hashing runs in a worker thread so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import create_engine, migrate, session_factory
from api.models import User
from api.security import Role, hash_password, verify_password

log = logging.getLogger(__name__)

USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
#: The demo's documented demo/demo account needs 4; the users route asks more of people (MIN_PASSWORD_LEN_API).
MIN_PASSWORD_LEN = 4
MIN_PASSWORD_LEN_API = 8


class UserError(ValueError):
    """A user name, password or role that cannot be accepted; the message says which and why."""


def check_user_fields(name: str, password: str, role: str, *, min_password_len: int = MIN_PASSWORD_LEN) -> Role:
    """The validated role. Raises UserError naming the bad field."""
    if not USER_NAME_RE.match(name):
        raise UserError(f"name {name!r}: 1-64 characters of letters, digits, '_', '.', '@', '-'")
    if len(password) < min_password_len:
        raise UserError(f"password: at least {min_password_len} characters")
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from None


async def upsert_user(session: AsyncSession, name: str, password: str, role: Role, now: datetime) -> bool:
    """Create the user, or reset the password and role of an existing one. True when created.

    A reset bumps the user's token version (every token issued before is refused) and leaves `active` alone: a
    password reset never re-enables a disabled account. The same password and role again change nothing (the demo
    re-creates its user at every start; its logins survive that)."""
    user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
    if user is not None and user.role == role.value and await asyncio.to_thread(
            verify_password, user.password_hash, password):
        return False
    password_hash = await asyncio.to_thread(hash_password, password)
    if user is None:
        session.add(User(name=name, password_hash=password_hash, role=role.value, active=True, created_at=now,
                         failed_logins=0, token_version=0))
        return True
    user.password_hash, user.role = password_hash, role.value
    user.token_version = (user.token_version or 0) + 1
    return False


async def create_user(db_url: str, name: str, password: str, role: str) -> None:
    """Create user `name` with `role` (viewer, crew, operator, engineer, admin) in the config DB at `db_url`,
    migrating the schema first. An existing user gets the new password and role (so the demo can run again).
    Raises UserError for a bad name, a password under 4 characters, or an unknown role; DatabaseError when the
    database cannot be reached."""
    checked_role = check_user_fields(name, password, role)
    await migrate(db_url)
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            created = await upsert_user(session, name, password, checked_role, datetime.now(UTC))
    finally:
        await engine.dispose()
    log.info(("user_created user=%s role=%s" if created else "user_updated user=%s role=%s"), name, checked_role.value)


class LoginRefused(Exception):
    """Wrong credentials, an unknown user or a disabled account: one message for all, so none can be told apart."""


async def authenticate(session: AsyncSession, name: str, password: str) -> User:
    """The user when the password is right and the account active. Raises LoginRefused. The password is verified
    (argon2, in a thread) even for an unknown user, so the time taken does not tell either. Throttling of repeated
    failures is the caller's (`api.login_throttle`)."""
    user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not user.active or not ok:
        raise LoginRefused("wrong user name or password")
    return user
