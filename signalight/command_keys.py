"""Command keys of each process, from the settings: the API's signer, the executors' trusted public keys.

Production: the API's private key must exist (`signalight keys generate`), and executors' `command_verify_keys`
must exist (`signalight keys export-public`); a missing one is a start-up error naming the file and the command.
Development and demo: every process of one data dir shares a key made on first use (mode 0600), and the trusted
keys file is written next to it holding its public key, so `make demo`, the tests and the rigs need nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from api.command_signing import CommandSigner, SigningKeyError, load_or_create_signer, load_signer, verify_keys_json
from gateways.command_keys import TrustedKeys, VerifyKeysError, load_verify_keys
from signalight.settings import Settings


class KeySetupError(Exception):
    """A key file the settings name is missing or unusable; the message says which and how to make it."""


def _development(s: Settings) -> bool:
    return s.environment in ("development", "demo")


def write_verify_keys(path: Path, signers: list[CommandSigner], *, merge: bool) -> None:
    """Write the trusted-keys file (atomically): the signers' public keys, plus the file's own when `merge`."""
    existing: dict[str, str] = {}
    if merge and path.exists():
        doc = json.loads(path.read_text(encoding="utf-8"))
        existing = doc if isinstance(doc, dict) else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(verify_keys_json(signers, existing), encoding="utf-8")
    os.replace(tmp, path)


def api_signer(s: Settings) -> CommandSigner:
    """The API's signer. Raises KeySetupError (production without a key, or an unusable key file)."""
    assert s.command_signing_key is not None and s.command_verify_keys is not None
    try:
        signer = load_or_create_signer(s.command_signing_key, create=_development(s))
    except SigningKeyError as exc:
        raise KeySetupError(str(exc)) from None
    if _development(s):
        try:
            trusted = load_verify_keys(s.command_verify_keys)
        except VerifyKeysError:
            trusted = None
        if trusted is None or not trusted.known(signer.kid):
            write_verify_keys(s.command_verify_keys, [signer], merge=trusted is not None)
    return signer


def executor_keys(s: Settings) -> TrustedKeys:
    """The executors' trusted keys. In development and demo, made from the shared signing key when missing.
    Raises KeySetupError."""
    assert s.command_verify_keys is not None
    if _development(s) and not s.command_verify_keys.exists():
        api_signer(s)
    try:
        return load_verify_keys(s.command_verify_keys)
    except VerifyKeysError as exc:
        raise KeySetupError(str(exc)) from None


def export_public(key: Path, out: Path, *, merge: bool) -> CommandSigner:
    """Write the public key of the private key at `key` into the trusted-keys file `out`. Raises KeySetupError."""
    try:
        signer = load_signer(key)
    except SigningKeyError as exc:
        raise KeySetupError(str(exc)) from None
    write_verify_keys(out, [signer], merge=merge)
    return signer
