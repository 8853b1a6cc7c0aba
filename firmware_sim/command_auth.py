"""Command authentication as device firmware does it (contracts/mqtt/topics-v1.md, "Command authentication").

The simulator's own implementation, written from the contract: Ed25519 (`cryptography`) over
`signalight-cmd-v1 LF site LF device_id LF JCS(envelope without sig)`, keys from a JSON file `{kid: base64 raw
public key}` whose kids must be SHA-256-derived from the keys. A device holds only public keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CONTEXT = b"signalight-cmd-v1"


class KeysFileError(ValueError):
    """The trusted command keys file is missing or wrong."""


def _es_number(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError("non-finite number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mant, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0").rstrip("0")
    point = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    point += int(exp or 0)
    k = len(digits)
    if k <= point <= 21:
        out = digits + "0" * (point - k)
    elif 0 < point <= 21:
        out = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        out = "0." + "0" * (-point) + digits
    else:
        e = point - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + out


def jcs(value: Any) -> str:
    """RFC 8785 text of a JSON value. Raises ValueError for what JCS cannot hold."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise ValueError("integer beyond 2^53")
        return str(value)
    if isinstance(value, float):
        return _es_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    raise ValueError(f"{type(value).__name__} is not JSON")


class CommandKeys:
    """The public keys this device trusts."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = keys

    @classmethod
    def load(cls, path: Path) -> CommandKeys:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeysFileError(f"command keys {path}: {exc}") from None
        if not isinstance(doc, dict) or not doc:
            raise KeysFileError(f"command keys {path}: expected a non-empty JSON object {{kid: base64 key}}")
        keys: dict[str, Ed25519PublicKey] = {}
        for kid, b64 in doc.items():
            try:
                raw = base64.b64decode(b64, validate=True)
                key = Ed25519PublicKey.from_public_bytes(raw)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise KeysFileError(f"command keys {path}: {kid}: {exc}") from None
            if hashlib.sha256(raw).hexdigest()[:16] != kid:
                raise KeysFileError(f"command keys {path}: {kid} is not the id of its key")
            keys[kid] = key
        return cls(keys)

    def check(self, doc: dict[str, Any], site: str, device_id: str) -> tuple[str, str] | None:
        """None when `doc` is signed by a trusted key for this device; else (reason, message) with reason one of
        unsigned, unknown_kid, wrong_target, bad_signature."""
        kid, sig = doc.get("kid"), doc.get("sig")
        if not isinstance(kid, str) or not isinstance(sig, str):
            return "unsigned", "commands must carry kid and sig"
        key = self.keys.get(kid)
        if key is None:
            return "unknown_kid", f"key {kid[:16]!r} is not trusted"
        target = doc.get("target")
        if target is not None and target != f"{site}/{device_id}":
            return "wrong_target", f"signed for {str(target)[:130]}, this is {site}/{device_id}"
        try:
            signature = base64.b64decode(sig, validate=True)
            body = jcs({k: v for k, v in doc.items() if k != "sig"}).encode("utf-8")
            key.verify(signature, b"\n".join((CONTEXT, site.encode(), device_id.encode(), body)))
        except (binascii.Error, ValueError, UnicodeEncodeError, InvalidSignature):
            return "bad_signature", f"signature does not verify for {site}/{device_id}"
        return None
