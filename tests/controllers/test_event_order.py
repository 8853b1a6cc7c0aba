"""A millisecond's events come back in the order sent, also when the publisher's 0..255 seq wrapped inside it
(real embedded store, the measures' fetch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.measures_service import fetch_events
from controllers.events import ControllerEvent, in_seq_order
from gateways.stores.embedded import EmbeddedStore

T0 = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def ev(ms: int, seq: int, code: int, device: str = "sc-1") -> ControllerEvent:
    return ControllerEvent("tn", device, T0 + timedelta(milliseconds=ms), seq, code, 2)


async def test_a_wrap_inside_a_millisecond_keeps_the_sent_order(tmp_path: Path) -> None:
    sent = [ev(0, 250, 1), ev(5, 253, 8), ev(5, 254, 9), ev(5, 255, 10), ev(5, 0, 11), ev(5, 1, 82), ev(7, 2, 81)]
    store = EmbeddedStore(tmp_path / "t.sqlite")
    try:
        await store.write_events(list(reversed(sent)))
        stored = await store.query_events(device="sc-1", start=T0, end=T0 + timedelta(seconds=1), limit=100)
        assert [e.seq for e in stored] == [250, 0, 1, 253, 254, 255, 2], "the store orders a ms by seq"
        got = await fetch_events(store, "sc-1", T0, T0 + timedelta(seconds=1))
        assert [e.code for e in got] == [1, 8, 9, 10, 11, 82, 81]
    finally:
        await store.aclose()


def test_without_a_wrap_the_store_order_stands() -> None:
    same_ms = [ev(3, s, c) for s, c in ((10, 1), (11, 82), (12, 8))]
    assert in_seq_order(same_ms) == same_ms
    two_devices = [ev(3, 0, 1, "a"), ev(3, 200, 2, "b")]
    assert in_seq_order(two_devices) == two_devices, "only one device's millisecond is one publisher's run"
