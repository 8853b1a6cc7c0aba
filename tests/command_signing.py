"""A fixed command-signing key for tests: what the API signs with, what executors under test trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.command_signing import CommandSigner, verify_keys_json
from gateways.command_keys import TrustedKeys

TEST_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TEST_SIGNER = CommandSigner(TEST_PRIVATE_KEY)
TEST_KEYS = TrustedKeys({TEST_SIGNER.kid: TEST_SIGNER.public_raw})


def signed(envelope: dict[str, Any], site: str, device_id: str) -> dict[str, Any]:
    """`envelope` as the API would send it to `site`/`device_id`."""
    return TEST_SIGNER.sign(envelope, site, device_id)


def write_test_keys(folder: Path) -> Path:
    """The trusted-keys file (for the simulator's `command_keys`) holding the test key; its path."""
    path = folder / "command-verify.json"
    path.write_text(verify_keys_json([TEST_SIGNER]), encoding="utf-8")
    return path


def sim_keys() -> Any:
    """The simulator's trusted keys (firmware_sim.command_auth.CommandKeys) holding the test key."""
    from firmware_sim.command_auth import CommandKeys

    return CommandKeys({TEST_SIGNER.kid: TEST_PRIVATE_KEY.public_key()})
