"""Roles and scopes, argon2 password hashes, and the signed tokens (JWT, HS256) of the OAuth2 password flow.

Token expiry is checked against the injected clock, not the wall clock, so tests and simulations agree on time.
Hashing with argon2 is CPU-bound (tens of ms): callers on the event loop run `hash_password` and `verify_password`
in a worker thread.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, ValidationError


class Role(StrEnum):
    VIEWER = "viewer"
    CREW = "crew"
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"


class Scope(StrEnum):
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    COMMANDS_READ = "commands:read"
    COMMAND_SIGNAL = "command:signal"
    COMMAND_CABINET = "command:cabinet"
    ALARMS_READ = "alarms:read"
    ALARMS_ACK = "alarms:ack"
    TELEMETRY_READ = "telemetry:read"
    INTERSECTIONS_WRITE = "intersections:write"
    PLANS_WRITE = "plans:write"
    AUDIT_READ = "audit:read"
    USERS_ADMIN = "users:admin"
    WORKORDERS_WORK = "workorders:work"  # take the crew's steps on one's own work orders
    WORKORDERS_MANAGE = "workorders:manage"  # create, assign, review, cancel, reopen any work order


_READ = {Scope.DEVICES_READ, Scope.COMMANDS_READ, Scope.ALARMS_READ, Scope.TELEMETRY_READ}

#: Least privilege: a lighting crew switches circuits but not signals; only engineers change plans and intersections.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: frozenset(_READ),
    Role.CREW: frozenset(_READ | {Scope.COMMAND_CABINET, Scope.ALARMS_ACK, Scope.WORKORDERS_WORK}),
    Role.OPERATOR: frozenset(_READ | {Scope.COMMAND_SIGNAL, Scope.COMMAND_CABINET, Scope.ALARMS_ACK,
                                      Scope.WORKORDERS_WORK, Scope.WORKORDERS_MANAGE}),
    Role.ENGINEER: frozenset(_READ | {Scope.COMMAND_SIGNAL, Scope.COMMAND_CABINET, Scope.ALARMS_ACK,
                                      Scope.INTERSECTIONS_WRITE, Scope.PLANS_WRITE, Scope.AUDIT_READ,
                                      Scope.DEVICES_WRITE, Scope.WORKORDERS_WORK, Scope.WORKORDERS_MANAGE}),
    Role.ADMIN: frozenset(Scope),
}

#: Roles by reach: each holds every scope of the ones before it (checked in tests), so "outranks" is well defined.
ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.CREW: 1, Role.OPERATOR: 2, Role.ENGINEER: 3, Role.ADMIN: 4}


def lower_role(a: Role, b: Role) -> Role:
    """The role of the two that reaches less (what an API token may do when its creator was demoted)."""
    return a if ROLE_RANK[a] <= ROLE_RANK[b] else b

_HASHER = PasswordHasher()
ALGORITHM = "HS256"


@functools.cache
def _dummy_hash() -> str:
    """Verified when a user name is unknown, so a login takes as long for a missing user as for a wrong password
    (made on first use: hashing costs ~50 ms, too much for every import)."""
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """argon2id hash. Blocking (CPU, ~50 ms)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; False for a wrong password, a missing user (None) or a corrupt hash."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class TokenError(Exception):
    """A token that is malformed, badly signed, of the wrong type or expired."""


class TokenClaims(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str
    role: Role
    typ: str
    exp: int
    iat: int
    jti: str
    ver: int = 0  # the user's token_version when issued; a token of an older version is refused


def issue_token(secret: str, *, subject: str, role: Role, typ: str, now: datetime, ttl_s: float,
                version: int = 0) -> tuple[str, str]:
    """A signed token and its id (jti). `typ` is "access" or "refresh"; `version` is the user's token_version."""
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "typ": typ, "jti": jti, "ver": version,
                              "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl_s)).timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), jti


def decode_token(secret: str, token: str, *, typ: str, now: datetime) -> TokenClaims:
    """Verified claims. Raises TokenError saying why the token is refused."""
    try:
        # Times are checked below against the injected clock; PyJWT would compare `iat` with the wall clock.
        raw = jwt.decode(token, secret, algorithms=[ALGORITHM],
                         options={"verify_exp": False, "verify_iat": False, "require": ["exp"]})
        claims = TokenClaims.model_validate(raw)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise TokenError(f"invalid token: {type(exc).__name__}") from None
    if claims.typ != typ:
        raise TokenError(f"a {claims.typ} token where a {typ} token is required")
    if now.timestamp() >= claims.exp:
        raise TokenError("token expired")
    return claims


API_TOKEN_PREFIX = "slt_"


def new_api_token() -> str:
    """A random machine token (256 bits), shown once; only its digest is stored."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex of an API token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccessTokenCache:
    """Verified access-token claims by token string, so a client polling with one token is verified once.

    Safe because a token is immutable and its expiry is re-checked on every hit; bounded (the oldest entry is
    evicted past `size`). Only successful decodes are cached; refusals are recomputed.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._claims: dict[str, TokenClaims] = {}

    def decode(self, secret: str, token: str, *, now: datetime) -> TokenClaims:
        """As `decode_token(..., typ="access")`. Raises TokenError."""
        claims = self._claims.get(token)
        if claims is None:
            claims = decode_token(secret, token, typ="access", now=now)
            if len(self._claims) >= self.size:
                self._claims.pop(next(iter(self._claims)))
            self._claims[token] = claims
        elif now.timestamp() >= claims.exp:
            self._claims.pop(token, None)
            raise TokenError("token expired")
        return claims
