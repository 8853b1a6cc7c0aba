"""The canonical form commands are signed over (RFC 8785 JCS, bound to the target), in both implementations."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.command_auth import CanonicalError, CommandRefused, canonical_json, check_command, signing_input
from firmware_sim.command_auth import jcs
from tests.command_signing import TEST_KEYS, TEST_SIGNER, sim_keys

# RFC 8785 appendix B: IEEE 754 doubles and their canonical text.
NUMBERS = [(0.0, "0"), (-0.0, "0"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
           (9007199254740992.0, "9007199254740992"), (295147905179352830000.0, "295147905179352830000"),
           (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (333333333.3333332, "333333333.3333332"),
           (-1.5, "-1.5"), (50.0, "50"), (123456.789, "123456.789")]


@pytest.mark.parametrize(("value", "text"), NUMBERS)
def test_numbers_print_as_ecmascript_does(value: float, text: str) -> None:
    assert canonical_json(value) == text.encode() and jcs(value) == text


def test_rfc8785_sorting_and_strings() -> None:
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew", "1": "One", "\U0001f600": "Emoji",
             "\u0080": "Control\u007f", "\u00f6": "Latin Small Letter O With Diaeresis", "s": "\u2028\n\"\\"}
    expected = ('{"\\r":"Carriage Return","1":"One","s":"\u2028\\n\\"\\\\","\u0080":"Control\u007f",'
                '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f600":"Emoji",'
                '"\ufb33":"Hebrew"}')
    assert canonical_json(value).decode() == expected and jcs(value) == expected


def test_what_cannot_be_signed_is_refused() -> None:
    for bad in (math.nan, 2**53, {"a": math.inf}, "\ud800"):
        with pytest.raises(CanonicalError):
            canonical_json(bad)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
                           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=4), max_leaves=20)


@settings(max_examples=int(os.environ.get("SIGNALIGHT_PROPERTY_BUDGET", "300")), deadline=None)
@given(json_values)
def test_the_two_implementations_agree_and_survive_a_json_round_trip(value: object) -> None:
    ours = canonical_json(value)
    assert ours.decode() == jcs(value)
    assert canonical_json(json.loads(json.dumps(value))) == ours


def test_a_signed_envelope_verifies_in_both_and_only_for_its_target() -> None:
    now = datetime.now(UTC)
    envelope = TEST_SIGNER.sign({"id": "cmd-00000001", "name": "switch", "issued_by": "ops",
                                 "args": {"circuit": 2, "level_pct": 37.5, "until": "2026-12-02T10:00:00Z"},
                                 "expires_at": (now + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")},
                                "tn", "tn-cab-002")
    wire = json.loads(json.dumps(envelope))
    assert check_command(wire, site="tn", device_id="tn-cab-002", now=now, keys=TEST_KEYS).id == "cmd-00000001"
    assert sim_keys().check(wire, "tn", "tn-cab-002") is None
    assert sim_keys().check(wire, "tn", "tn-cab-003")[0] == "wrong_target"
    assert sim_keys().check({**wire, "args": {**wire["args"], "level_pct": 100}}, "tn", "tn-cab-002")[0] == \
        "bad_signature"
    with pytest.raises(CommandRefused, match="bad_signature"):
        check_command({**wire, "expires_at": "2099-01-01T00:00:00Z"}, site="tn", device_id="tn-cab-002", now=now,
                      keys=TEST_KEYS)
    assert signing_input(wire, "tn", "tn-cab-002").startswith(b"signalight-cmd-v1\ntn\ntn-cab-002\n{")
