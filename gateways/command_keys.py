"""The executors' trusted command keys: Ed25519 public keys from the `command_verify_keys` file.

The file is JSON `{kid: base64 of the raw 32-byte public key}`; each kid must be the one derived from its key
(`controllers.command_auth.key_id`), so a mislabelled entry is an error at start-up, not a silent mismatch. Several
keys may be trusted at once (a rotation: the new key is added everywhere, the API switches, the old one is removed).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controllers.command_auth import key_id


class VerifyKeysError(Exception):
    """The trusted-keys file is missing, not JSON, or holds a bad key or a kid that is not its key's."""


class TrustedKeys:
    """A `controllers.command_auth.SignatureCheck` over a set of Ed25519 public keys."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, raw in keys.items():
            if key_id(raw) != kid:
                raise VerifyKeysError(f"kid {kid!r} is not the id of its key (expected {key_id(raw)})")
            try:
                self._keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
            except ValueError as exc:
                raise VerifyKeysError(f"kid {kid}: {exc}") from None

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    def known(self, kid: str) -> bool:
        return kid in self._keys

    def verify(self, kid: str, signature: bytes, data: bytes) -> bool:
        key = self._keys.get(kid)
        if key is None:
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def parse_verify_keys(text: str, where: str = "command_verify_keys") -> TrustedKeys:
    """Trusted keys from the file's text. Raises VerifyKeysError naming `where` and the entry."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise VerifyKeysError(f"{where} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not doc:
        raise VerifyKeysError(f"{where} must be a non-empty JSON object {{kid: base64 public key}}")
    raw: dict[str, bytes] = {}
    for kid, value in doc.items():
        try:
            raw[kid] = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except binascii.Error:
            raw[kid] = b""
        if len(raw[kid]) != 32:
            raise VerifyKeysError(f"{where}: {kid}: not the base64 of a 32-byte Ed25519 public key")
    try:
        return TrustedKeys(raw)
    except VerifyKeysError as exc:
        raise VerifyKeysError(f"{where}: {exc}") from None


def load_verify_keys(path: Path) -> TrustedKeys:
    """Trusted keys from the `command_verify_keys` file. Raises VerifyKeysError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VerifyKeysError(f"command verify keys {path}: {exc.strerror or exc}; export them from the API's key "
                              f"with `signalight keys export-public`") from None
    return parse_verify_keys(text, str(path))
