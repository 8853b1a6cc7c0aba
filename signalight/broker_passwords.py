"""Mosquitto 2.x password files: `username:$7${iterations}${salt b64}${hash b64}` lines, PBKDF2-HMAC-SHA512.

The same format `mosquitto_passwd` writes (12-byte salt, 64-byte hash, 101 iterations by default), so the file we
generate is read by a real Mosquitto as is, and the embedded demo broker verifies passwords against the same file.
Only hashes are stored here; the clear passwords live in the 0600 credentials files (`signalight.broker_files`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from pathlib import Path

#: Mosquitto 2.0's default (mosquitto_passwd -I changes it); a password file may carry any count per line.
ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64


class PasswordFileError(ValueError):
    """A password file line that is not a Mosquitto `$7$` entry."""


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The `$7$...` hash of `password` with a random salt (or `salt`, for tests)."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` hash (constant-time compare). Raises PasswordFileError on a bad hash."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        raise PasswordFileError("not a Mosquitto $7$ (PBKDF2-SHA512) hash")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        raise PasswordFileError("malformed $7$ hash (iterations, salt or hash)") from None
    if iterations < 1 or not salt or not digest:
        raise PasswordFileError("malformed $7$ hash (iterations, salt or hash)")
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(computed, digest)


def render_password_file(passwords: Mapping[str, str]) -> str:
    """Password file text for {username: clear password}, one hashed line each, sorted by username."""
    lines = []
    for username in sorted(passwords):
        check_username(username)
        lines.append(f"{username}:{hash_password(passwords[username])}")
    return "\n".join(lines) + "\n"


def parse_password_file(text: str, source: str = "password_file") -> dict[str, str]:
    """{username: `$7$` hash} of a password file. Raises PasswordFileError naming `source` and the line."""
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        if not sep or not username:
            raise PasswordFileError(f"{source}:{number}: expected `username:$7$...`")
        if not encoded.startswith("$7$"):
            raise PasswordFileError(f"{source}:{number}: user {username!r} has no $7$ (PBKDF2-SHA512) hash")
        users[username] = encoded
    return users


def load_password_file(path: Path) -> dict[str, str]:
    """{username: hash} of the file at `path`. Raises OSError, PasswordFileError."""
    return parse_password_file(path.read_text(encoding="utf-8"), str(path))


def check_username(username: str) -> None:
    """Raise ValueError for a name Mosquitto's files cannot carry (`:` separates the hash; no spaces, no empties)."""
    if not username or any(c in username for c in ": \t\r\n#") or not username.isprintable():
        raise ValueError(f"username {username!r} cannot be written to a Mosquitto password or ACL file")
