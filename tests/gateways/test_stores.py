"""Telemetry stores: line protocol escaping, and the same write/query behaviour on the embedded store and on a real
InfluxDB (raw samples, mean/min/max/last per interval, empty intervals, idempotent rewrite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from controllers.devices import DeviceKind
from controllers.telemetry import Aggregate, Sample, StoreError
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import encode_lines, escape_key, escape_measurement, line
from tests.servers import InfluxDB

T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
SC = DeviceKind.SIGNAL_CONTROLLER


def s(seconds: float, value: float, device: str = "sc-1", seq: int = 0, **more: float | bool) -> Sample:
    return Sample(SC, "tn", device, T0 + timedelta(seconds=seconds), seq, {"cabinet_temp_c": value, **more})


def test_line_protocol_escaping() -> None:
    assert escape_measurement("a b,c") == "a\\ b\\,c"
    assert escape_key("k=v, w\\") == "k\\=v\\,\\ w\\\\"
    sample = Sample(SC, "tn", "sc-1", T0 + timedelta(milliseconds=125), 7, {"x": 1, "door": True, "bad": float("nan")})
    assert line(sample) == ("signal_controller,device=sc-1,site=tn x=1.0,door=1.0,seq=7i,historical=false "
                            f"{int(T0.timestamp() * 1000) + 125}")
    only_nan = Sample(SC, "tn", "sc-1", T0, 0, {"bad": float("inf")})
    assert line(only_nan) is None
    assert encode_lines([only_nan, sample]).count(b"\n") == 0


def test_line_protocol_caches_escape_once_and_follow_the_kind() -> None:
    odd = Sample(SC, "t n", "sc,1", T0, 1, {"k=v": 1.5, "big": 10**400, "x": 2})  # type: ignore[dict-item]
    for _ in range(2):  # the second time from the caches
        assert line(odd) == ("signal_controller,device=sc\\,1,site=t\\ n k\\=v=1.5,x=2.0,seq=1i,historical=false "
                             f"{int(T0.timestamp() * 1000)}")
    relabelled = Sample(DeviceKind.LIGHTING_CABINET, "t n", "sc,1", T0, 1, {"x": 2.0})
    assert (line(relabelled) or "").startswith("lighting_cabinet,device=sc\\,1,site=t\\ n x=2.0")
    naive = Sample(SC, "tn", "sc-1", datetime(2026, 1, 1), 1, {"x": 1.0})
    with pytest.raises(ValueError, match="naive"):
        line(naive)


@pytest.fixture(params=["embedded", pytest.param("influx", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "embedded":
        st: Any = EmbeddedStore(tmp_path / "telemetry.db")
    else:
        influx: InfluxDB = request.getfixturevalue("influxdb")
        st = InfluxStore(influx.url, influx.database)
        await st.create_database()
    yield st
    await st.aclose()


async def test_raw_samples_come_back_in_order(store: Any) -> None:
    await store.write([s(2, 22.0, seq=2), s(0, 20.0, seq=0), s(1, 21.0, seq=1), s(1, 99.0, device="sc-2")])
    (series,) = await store.query(kind=SC, device="sc-1", fields=["cabinet_temp_c"], start=T0,
                                  end=T0 + timedelta(seconds=10))
    assert series.points == [(T0, 20.0), (T0 + timedelta(seconds=1), 21.0), (T0 + timedelta(seconds=2), 22.0)]
    (seqs,) = await store.query(kind=SC, device="sc-1", fields=["seq"], start=T0, end=T0 + timedelta(seconds=10))
    assert [v for _, v in seqs.points] == [0.0, 1.0, 2.0]


async def test_aggregates_per_interval_with_empty_intervals(store: Any) -> None:
    await store.write([s(0, 10.0), s(3, 20.0), s(7, 30.0), s(25, 5.0)])
    args = {"kind": SC, "device": "sc-1", "fields": ["cabinet_temp_c"], "start": T0,
            "end": T0 + timedelta(seconds=30), "interval_s": 10}
    expect = {Aggregate.MEAN: [20.0, None, 5.0], Aggregate.MIN: [10.0, None, 5.0],
              Aggregate.MAX: [30.0, None, 5.0], Aggregate.LAST: [30.0, None, 5.0]}
    for agg, values in expect.items():
        (series,) = await store.query(**args, aggregate=agg)
        assert [t for t, _ in series.points] == [T0 + timedelta(seconds=x) for x in (0, 10, 20)], agg
        assert [v for _, v in series.points] == values, agg


async def test_rewriting_a_sample_overwrites_instead_of_duplicating(store: Any) -> None:
    await store.write([s(0, 10.0, seq=4)])
    await store.write([Sample(SC, "tn", "sc-1", T0, 4, {"cabinet_temp_c": 10.0}, historical=True)])
    temp, hist = await store.query(kind=SC, device="sc-1", fields=["cabinet_temp_c", "historical"], start=T0,
                                   end=T0 + timedelta(seconds=1))
    assert temp.points == [(T0, 10.0)]
    assert len(hist.points) == 1


async def test_booleans_are_stored_as_0_1(store: Any) -> None:
    await store.write([s(0, 1.0, door=True), s(1, 1.0, door=False)])
    (series,) = await store.query(kind=SC, device="sc-1", fields=["door"], start=T0, end=T0 + timedelta(seconds=5))
    assert [v for _, v in series.points] == [1.0, 0.0]


async def test_influx_errors_are_typed() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    st = InfluxStore("http://influx.invalid:8086", "db", transport=httpx.MockTransport(down))
    with pytest.raises(StoreError) as info:
        await st.write([s(0, 1.0)])
    assert info.value.retryable
    st2 = InfluxStore("http://influx.invalid:8086", "db",
                      transport=httpx.MockTransport(lambda r: httpx.Response(400, text='{"error":"field type"}')))
    with pytest.raises(StoreError, match="HTTP 400") as info:
        await st2.write([s(0, 1.0)])
    assert not info.value.retryable
    await st.aclose()
    await st2.aclose()


@pytest.mark.integration
async def test_influxql_by_hand_sees_the_written_points(influxdb: InfluxDB) -> None:
    st = InfluxStore(influxdb.url, influxdb.database)
    await st.write([s(0, 10.0, seq=1), s(1, 11.0, seq=2, device="sc-2")])
    await st.aclose()
    result: Any = influxdb.query('SELECT "cabinet_temp_c", "seq" FROM "signal_controller" WHERE "device" = \'sc-2\'')
    assert result["results"][0]["series"][0]["values"] == [[int(T0.timestamp() * 1000) + 1000, 11.0, 2]]
