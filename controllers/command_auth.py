"""Authenticated commands: the canonical form the API signs and every executor verifies, and the checks before acting.

Contract: contracts/mqtt/topics-v1.md, "Command authentication". The signature (Ed25519) covers

    b"signalight-cmd-v1\\n" + site + b"\\n" + device_id + b"\\n" + JCS(envelope without "sig")

where `site`/`device_id` are those of the `cmd` topic the executor received it on and JCS is the JSON
Canonicalization Scheme (RFC 8785: keys sorted by UTF-16 code units, no whitespace, strings with minimal escapes,
numbers as ECMAScript prints them). So a command signed for one device fails on every other one, and no field
(args, expiry, issuer, key id) can change without breaking the signature. `kid` is the first 16 hex digits of the
SHA-256 of the raw 32-byte public key.

Pure: the signature check itself is a `SignatureCheck` the caller supplies (gateways and the API hold the
cryptography), times are arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from controllers.commands import CommandEnvelope, ErrorCode

SIGNING_CONTEXT = b"signalight-cmd-v1"
#: The longest a command may be valid: executors refuse an `expires_at` further ahead (the replay window keeps ids
#: until their expiry, so this also bounds how long an id is kept). The API's longest TTL is 1 h (deploy_ttl_s).
MAX_LIFETIME_S = 6 * 3600.0
#: JSON numbers an ECMAScript-based verifier reads exactly: integers beyond this cannot be signed.
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value JCS cannot represent (non-finite number, integer beyond 2^53, lone surrogate, non-JSON type)."""


class CommandRefused(Exception):
    """A command an executor must not act on. `reason` is one short stable word (metrics label, log field):
    malformed, unsigned, unknown_kid, bad_signature, wrong_target, expired, expiry_too_far, replayed; `code` is the
    cmd/res error code to answer with."""

    def __init__(self, reason: str, code: ErrorCode, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.code = code
        self.message = message


class SignatureCheck(Protocol):
    """The executor's trusted public keys (several at once during a rotation)."""

    def known(self, kid: str) -> bool: ...

    def verify(self, kid: str, signature: bytes, data: bytes) -> bool: ...


def key_id(raw_public_key: bytes) -> str:
    """The `kid` of an Ed25519 public key (32 raw bytes)."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def _number(value: float) -> str:
    # ECMAScript Number::toString from the shortest round-trip digits, which repr() also gives.
    if not math.isfinite(value):
        raise CanonicalError(f"{value} is not a finite number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.DIGITS x 10^n
    n = (len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))) + int(exp_text or 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + text


def _canonical(value: Any, out: list[str]) -> None:
    if value is None or value is True or value is False:
        out.append(json.dumps(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"integer {value} is beyond 2^53")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for n, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-16-be", "surrogatepass"))):
            if not isinstance(key, str):
                raise CanonicalError(f"object key {key!r} is not a string")
            out.append(("," if n else "") + json.dumps(key, ensure_ascii=False) + ":")
            _canonical(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _canonical(item, out)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value. Raises CanonicalError."""
    out: list[str] = []
    _canonical(value, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError("a string holds a lone surrogate") from None


def target_of(site: str, device_id: str) -> str:
    """The envelope's `target`: which device the command is for."""
    return f"{site}/{device_id}"


def signing_input(envelope: Mapping[str, Any], site: str, device_id: str) -> bytes:
    """The bytes the signature covers: context, target and the canonical envelope without `sig`."""
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    return b"\n".join((SIGNING_CONTEXT, site.encode(), device_id.encode(), canonical_json(unsigned)))


def check_command(doc: Any, *, site: str, device_id: str, now: datetime, keys: SignatureCheck,
                  max_lifetime_s: float = MAX_LIFETIME_S) -> CommandEnvelope:
    """The envelope of a decoded `cmd` payload once it is authentic, for this device and in date. Raises
    CommandRefused: malformed (schema), unsigned, unknown_kid, wrong_target, bad_signature, expired,
    expiry_too_far. Whether its id was seen before is the caller's replay window's business."""
    if not isinstance(doc, dict):
        raise CommandRefused("malformed", ErrorCode.MALFORMED, "not a JSON object")
    kid, sig = doc.get("kid"), doc.get("sig")
    if kid is None or sig is None:
        raise CommandRefused("unsigned", ErrorCode.UNAUTHENTICATED, "no kid and sig: commands must be signed")
    try:
        envelope = CommandEnvelope.model_validate(doc)
    except ValidationError as exc:
        raise CommandRefused("malformed", ErrorCode.MALFORMED, str(exc).replace("\n", " ")[:300]) from None
    assert envelope.kid is not None and envelope.sig is not None
    if not keys.known(envelope.kid):
        raise CommandRefused("unknown_kid", ErrorCode.UNAUTHENTICATED, f"key {envelope.kid} is not trusted here")
    if envelope.target is not None and envelope.target != target_of(site, device_id):
        raise CommandRefused("wrong_target", ErrorCode.UNAUTHENTICATED,
                             f"signed for {envelope.target}, received for {target_of(site, device_id)}")
    try:
        signature = base64.b64decode(envelope.sig, validate=True)
        data = signing_input(doc, site, device_id)
    except (binascii.Error, CanonicalError) as exc:
        raise CommandRefused("bad_signature", ErrorCode.UNAUTHENTICATED, str(exc)[:200]) from None
    if not keys.verify(envelope.kid, signature, data):
        raise CommandRefused("bad_signature", ErrorCode.UNAUTHENTICATED,
                             f"signature does not verify with key {envelope.kid} for {target_of(site, device_id)}")
    if envelope.is_expired(now):
        raise CommandRefused("expired", ErrorCode.EXPIRED, f"expired at {envelope.expires_at.isoformat()}")
    if envelope.expires_at - now > timedelta(seconds=max_lifetime_s):
        raise CommandRefused("expiry_too_far", ErrorCode.UNAUTHENTICATED,
                             f"expires_at {envelope.expires_at.isoformat()} is more than {max_lifetime_s:.0f} s ahead")
    return envelope
