"""One judge for telemetry: the contract's JSON Schema. The judge reads it as JSON Schema means it (ECMA-262
patterns, real dates, integers that JSON writes as 1.0), and the recorder's fast path agrees with it: whatever the
fast path accepts, the judge accepts with the same result (hypothesis, on payloads built to sit near every edge)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controllers.bus import BusMessage
from controllers.devices import DeviceKind
from gateways.recorder import _fast_telemetry, validate_telemetry
from gateways.stores.lineproto import encode_lines
from gateways.telemetry_contract import judge_telemetry
from tests.gateways.recorder_fakes import FlakyStore, recorder

EXAMPLES = int(os.environ.get("SIGNALIGHT_PROPERTY_BUDGET", "1")) * 400

field_names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True),
    st.sampled_from(["a\n", "A", "1a", "a-b", "", "a" * 64, "a" * 65, "é", "a\u0660", "_a"]),
    st.text(max_size=5),
)
numbers = st.one_of(st.integers(), st.integers(min_value=-(10**40), max_value=10**40), st.booleans(),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 0.0, -0.0]),
                    st.sampled_from([10**400, -(10**309)]))  # integers too large for a float
values = st.one_of(numbers, st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=2))
timestamps = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"),
    st.sampled_from(["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00",
                     "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00+07:00", "٢٠٢٦-01-01T00:00:00Z",
                     "2026-01-01T00:00:00.1234567Z"]),
    st.text(max_size=4),
)
seqs = st.one_of(st.integers(min_value=-2, max_value=258), st.sampled_from([1.0, 255.0, 1.5, True, "1", None]))


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        doc["ts"] = draw(timestamps)
    if draw(st.integers(0, 9)):
        doc["seq"] = draw(seqs)
    if draw(st.integers(0, 9)):
        doc["values"] = draw(st.dictionaries(field_names, values, max_size=4))
    if draw(st.booleans()):
        doc["historical"] = draw(st.one_of(st.booleans(), st.integers(0, 1)))
    if not draw(st.integers(0, 15)):
        doc[draw(st.text(max_size=3))] = 1
    return json.dumps(doc, allow_nan=True).encode()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
@example(b'{"ts": "2026-01-01T00:00:00Z", "seq": 1, "values": {"a": 1.5, "b": 1' + b'0' * 400 + b'}}')
def test_the_fast_path_accepts_only_what_the_judge_accepts_with_the_same_result(payload: bytes) -> None:
    try:
        judged = judge_telemetry(payload)
    except ValueError:
        judged = None
    fast = _fast_telemetry(payload)
    if fast is not None:
        assert judged is not None, payload
        assert fast == judged and [type(v) for v in fast[3].values()] == [type(v) for v in judged[3].values()]
    if judged is None:
        with pytest.raises(ValueError):
            validate_telemetry(payload)
    else:
        assert validate_telemetry(payload) == judged


def test_the_judge_reads_the_schema_as_json_schema_means_it() -> None:
    good = {"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1}}

    def judged(**change: Any) -> Any:
        return judge_telemetry(json.dumps({**good, **change}).encode())

    assert judged(seq=1.0)[1] == 1  # an integer in JSON Schema
    with pytest.raises(ValueError, match=r"values: 'a\\n' does not match"):
        judged(values={"a\n": 1})  # `$` is the end of the text
    with pytest.raises(ValueError, match=r"ts: .* is not a 'date-time'"):
        judged(ts="2026-02-30T07:00:00Z")
    with pytest.raises(ValueError, match="ts: '2026-11-23T07:00:00Z\\\\n'"):
        judged(ts="2026-11-23T07:00:00Z\n")
    with pytest.raises(ValueError, match=r"values\.a: not a finite number"):
        judge_telemetry(b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1e400}}')
    with pytest.raises(ValueError, match="not JSON"):
        judge_telemetry(b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": NaN}}')
    with pytest.raises(ValueError, match="not JSON"):
        judge_telemetry(b"[" * 2000 + b"]" * 2000)


def test_the_recorder_keeps_seq_1_0_and_drops_a_field_named_a_newline(tmp_path: Path) -> None:
    r = recorder(FlakyStore(), tmp_path)
    r.kinds[("tn", "sc-1")] = DeviceKind.SIGNAL_CONTROLLER
    r.on_messages([BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts":"2026-11-23T07:00:00Z","seq":1.0,"values":{"a":1}}'),
                   BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts":"2026-11-23T07:00:00Z","seq":2,"values":{"a\\n":1}}')])
    assert [s.seq for s in r.batch] == [1] and r.stats.malformed == 1


def test_an_integer_too_large_for_a_float_is_left_out_not_a_crash(tmp_path: Path) -> None:
    """The contract allows any JSON number; one no float can hold (10**400) stopped the recorder's hot path with an
    OverflowError on every redelivery. The sample is kept, without that field."""
    r = recorder(FlakyStore(), tmp_path)
    r.kinds[("tn", "sc-1")] = DeviceKind.SIGNAL_CONTROLLER
    huge = b'{"ts":"2026-11-23T07:00:01Z","seq":2,"values":{"a":1.5,"b":1' + b"0" * 400 + b"}}"
    r.on_messages([BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts":"2026-11-23T07:00:00Z","seq":1,"values":{"a":1}}'),
                   BusMessage("sl/v1/tn/sc-1/telemetry", huge)])  # the second on the hot path: the topic is known
    assert [s.seq for s in r.batch] == [1, 2] and r.stats.malformed == 0
    assert encode_lines(r.batch[1:]).split(b" ")[1] == b"a=1.5,seq=2i,historical=false"
