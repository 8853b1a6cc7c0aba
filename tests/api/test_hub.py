"""The SSE event hub: filters, resume from the buffer, and the overflow policy (disconnect, never drop silently)."""

from __future__ import annotations

from api.hub import OVERFLOW, EventHub, StreamFilter


async def test_resume_replays_only_missed_matching_events() -> None:
    hub = EventHub(buffer=100, client_queue=10)
    first = hub.publish("state", "tn", "a", {"n": 1})
    hub.publish("state", "tn", "b", {"n": 2})
    hub.publish("state", "hn", "a", {"n": 3})
    async with hub.subscribe(StreamFilter(devices=frozenset({"a"})), first.id) as sub:
        assert sub.resumed and [e.data["n"] for e in sub.backlog] == [3]
    async with hub.subscribe(StreamFilter(sites=frozenset({"tn"})), None) as sub:
        assert not sub.resumed and sub.backlog == []
        hub.publish("state", "hn", "x", {})
        hub.publish("alarm", "tn", "x", {"k": 1})
        event = sub.queue.get_nowait()
        assert event is not None and event.type == "alarm" and sub.queue.empty()


async def test_unknown_or_too_old_id_asks_for_a_snapshot() -> None:
    hub = EventHub(buffer=100, client_queue=10)
    old = hub.publish("state", "tn", "a", {})
    for _ in range(150):
        hub.publish("state", "tn", "a", {})
    for last_id in (old.id, "deadbeef.3", "garbage", f"{hub.epoch}.99999"):
        async with hub.subscribe(StreamFilter(), last_id) as sub:
            assert not sub.resumed, last_id
    async with hub.subscribe(StreamFilter(), hub.last_id) as sub:
        assert sub.resumed and sub.backlog == []


async def test_slow_client_is_disconnected_then_resumes() -> None:
    hub = EventHub(buffer=1000, client_queue=5)
    async with hub.subscribe(StreamFilter()) as sub:
        events = [hub.publish("state", "tn", "a", {"n": n}) for n in range(8)]
        got = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        assert got[-1] is OVERFLOW and len(got) == 6 and hub.overflows == 1
        last_seen = got[-2]
        assert last_seen is not None
    async with hub.subscribe(StreamFilter(), last_seen.id) as again:
        assert again.resumed and [e.n for e in again.backlog] == [e.n for e in events[5:]]
    assert hub.subscriber_count == 0
