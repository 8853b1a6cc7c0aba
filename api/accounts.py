"""What each request needs to know about an account, cached briefly: is it active, its role, its token version.

Every token (access, refresh, and an API token through its creator) is checked against this on every request, so
disabling a user, changing their role or resetting their password (each bumps `users.token_version`) refuses their
tokens at once. A replica trusts its cache for `account_cache_s` at most (a change made through another replica
reaches it within that time); a change made through this one drops the entry (`invalidate`) before it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.models import User
from api.security import Role
from controllers.clock import Clock


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: Role
    active: bool
    token_version: int


class AccountCache:
    """Accounts by name, each kept `ttl_s` of the injected monotonic clock. Bounded: past `size` entries the oldest
    is dropped. Unknown names are cached too (as None), so a token for a deleted user costs no query per request."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, ttl_s: float,
                 size: int = 10_000) -> None:
        self._sessions = sessions
        self._clock = clock
        self.ttl_s = ttl_s
        self.size = size
        self._entries: dict[str, tuple[float, Account | None]] = {}

    async def get(self, name: str) -> Account | None:
        """The account, or None when no user has that name."""
        now = self._clock.monotonic()
        hit = self._entries.get(name)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        async with self._sessions() as session:
            user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
        account = None if user is None else Account(user.name, Role(user.role), user.active, user.token_version)
        if name not in self._entries and len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[name] = (now, account)
        return account

    def invalidate(self, name: str) -> None:
        """Forget `name`: the next request reads it from the database."""
        self._entries.pop(name, None)
