"""The key that signs the API's tokens in development and demo: random, one per data directory, kept in a file only
its owner may read (mode 0600), and reused across restarts so a restart does not log everyone out.

Production sets `SIGNALIGHT_SECRET_KEY` instead (the settings refuse to start without one). No key that signs tokens
is ever part of this repository.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

MIN_KEY_LEN = 32


class TokenKeyError(Exception):
    """The key file exists but cannot be used (readable by others, too short); the message names the file."""


def load_or_create_token_key(path: Path) -> str:
    """The key stored at `path`, created (64 random URL-safe characters, mode 0600) when missing.

    Creation is atomic: the key is written to a private temporary file and linked into place, so two processes
    starting together end with the same key. Raises TokenKeyError for a file others may read or a short key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise TokenKeyError(f"{path}: mode {mode:04o} lets others read the token key; chmod 600 it")
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_LEN:
        raise TokenKeyError(f"{path}: the token key has {len(key)} characters, at least {MIN_KEY_LEN} are required")
    return key


def _create(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process won the race: then its key is the one
            log.info("token_key_created path=%s", str(path))
        except FileExistsError:
            pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
