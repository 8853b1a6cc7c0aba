"""Bounded JSON decoding: every hostile payload is a PayloadRejected with a reason, never another exception; the
simulator's own copy agrees with it on every payload."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.bounded_json import MAX_BYTES, PayloadRejected, decode, decode_object
from firmware_sim.bounded_json import JsonRefused, loads

HOSTILE = [
    (b"[" * 2000 + b"]" * 2000, "too_deep"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "too_deep"),
    (b"[" * 100_000, "too_deep"),
    (b" " * (MAX_BYTES + 1), "too_large"),
    (b"\xff\xfe{}", "not_utf8"),
    (b'{"a": "\xed\xa0\x80"}', "not_utf8"),
    (b"NaN", "non_finite"),
    (b'{"v": -Infinity}', "non_finite"),
    (b"[1e400]", "non_finite"),
    (b"9" * 5000, "huge_number"),
    (b'{"id": 1, "id": 2}', "duplicate_key"),
    (b"", "not_json"),
    (b'{"a": 1', "not_json"),
    (b'"\\"' + b'\\"' * 50_000, "not_json"),
]


@pytest.mark.parametrize(("payload", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_hostile_payloads_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode(payload)
    assert caught.value.reason == reason
    with pytest.raises(JsonRefused) as sim:
        loads(payload)
    assert sim.value.reason == reason


def test_brackets_inside_strings_do_not_count_and_valid_json_decodes() -> None:
    deep_text = {"note": "[" * 5000, "nested": [[[[1.5, True, None]]]]}
    assert decode(json.dumps(deep_text).encode()) == deep_text
    assert decode_object(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(PayloadRejected, match="not_object"):
        decode_object(b"[1]")


@settings(max_examples=int(os.environ.get("SIGNALIGHT_PROPERTY_BUDGET", "300")), deadline=None)
@given(st.binary(max_size=512) | st.text(alphabet="[]{}\"\\:,0123456789.eE-+ntrufalsNIy \u00e9", max_size=300)
       .map(str.encode))
def test_any_bytes_decode_or_are_rejected_never_raise_otherwise(payload: bytes) -> None:
    try:
        ours = ("ok", decode(payload))
    except PayloadRejected as exc:
        ours = ("refused", exc.reason)
    try:
        theirs = ("ok", loads(payload))
    except JsonRefused as exc:
        theirs = ("refused", exc.reason)
    assert ours == theirs
