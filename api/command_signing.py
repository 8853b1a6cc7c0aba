"""The API's command-signing key: Ed25519, PEM (PKCS#8) on disk with mode 0600, and the signer of `cmd` envelopes.

The canonical form is `controllers.command_auth.signing_input` (contracts/mqtt/topics-v1.md, "Command
authentication"). Executors hold only public keys: `verify_keys_json` writes the `command_verify_keys` file,
`{kid: base64 raw public key}`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controllers.command_auth import key_id, signing_input, target_of

log = logging.getLogger(__name__)


class SigningKeyError(Exception):
    """The signing key file is missing, unreadable, not an Ed25519 private key, or readable by others."""


class CommandSigner:
    """Signs command envelopes for one device at a time."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_raw = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                serialization.PublicFormat.Raw)
        self.kid = key_id(self.public_raw)

    @classmethod
    def generate(cls) -> CommandSigner:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, envelope: dict[str, Any], site: str, device_id: str) -> dict[str, Any]:
        """The envelope with `target`, `kid` and `sig` set (any earlier ones replaced). Raises
        controllers.command_auth.CanonicalError for a value the canonical form cannot hold."""
        unsigned = {k: v for k, v in envelope.items() if k != "sig"}
        unsigned.update(target=target_of(site, device_id), kid=self.kid)
        signature = self._key.sign(signing_input(unsigned, site, device_id))
        return {**unsigned, "sig": base64.b64encode(signature).decode("ascii")}

    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")


def write_private_key(path: Path, signer_key: Ed25519PrivateKey) -> None:
    """Write the key as PEM with mode 0600 (never readable by others, even for an instant), atomically: the file
    appears whole or not at all. Raises FileExistsError when `path` exists (another process made it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_signer(path: Path) -> CommandSigner:
    """The signer of the PEM key at `path`. Raises SigningKeyError naming the file and what is wrong."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"command signing key {path} does not exist; create it with `signalight keys "
                              f"generate` (and give executors `signalight keys export-public`)") from None
    except OSError as exc:
        raise SigningKeyError(f"command signing key {path}: {exc}") from None
    if mode & 0o077:
        raise SigningKeyError(f"command signing key {path} has mode {mode:o}: others may read it; chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"command signing key {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"command signing key {path} is a {type(key).__name__}, not Ed25519")
    return CommandSigner(key)


def load_or_create_signer(path: Path, *, create: bool) -> CommandSigner:
    """The key at `path`; when it does not exist and `create` (development, demo), a new one written there."""
    if create and not path.exists():
        key = Ed25519PrivateKey.generate()
        try:
            write_private_key(path, key)
            log.warning("command_signing_key_created path=%s kid=%s", str(path), CommandSigner(key).kid)
        except FileExistsError:
            pass  # another process of this deployment made it at the same moment: use theirs
    return load_signer(path)


def verify_keys_json(signers: list[CommandSigner], existing: dict[str, str] | None = None) -> str:
    """The executors' `command_verify_keys` document: `existing` keys kept (a rotation), the signers' added."""
    keys = dict(existing or {})
    for signer in signers:
        keys[signer.kid] = signer.public_key_b64()
    return json.dumps(keys, indent=2, sort_keys=True) + "\n"
