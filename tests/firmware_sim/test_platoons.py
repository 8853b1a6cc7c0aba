"""Arrivals shaped by the upstream signal: advance detectors see every vehicle `setback` before the stop bar, the
coordinated phases' vehicles come bunched in platoons released at the upstream signal's green, and so the offset
decides how many arrive on green. Real controllers stepped tick by tick; arrivals on green counted from their own
event log (82 on an advance channel while the phase's green, events 1..8, is on)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from firmware_sim.detectors import (
    HEADWAY_TICKS,
    LINK_M,
    SPEED_MS,
    UPSTREAM_OFFSET_S,
    LayoutError,
    default_layout,
    parse_layout,
)
from firmware_sim.fleet import FleetConfig
from firmware_sim.signal_controller import SignalController

ICT = timezone(timedelta(hours=7))
MORNING = datetime(2026, 12, 2, 7, 0, tzinfo=ICT)


def _run(offset_s: float, hours: float, layout: list[dict[str, object]] | None = None,
         ) -> tuple[SignalController, list[tuple[int, int, int]]]:
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(7), offset_s=offset_s,
                            detector_layout=None if layout is None else parse_layout(layout))
    events: list[tuple[int, int, int]] = []
    ctrl.event_sink = lambda code, param, ms: events.append((code, param, ms))
    for _ in range(round(hours * 36000)):
        ctrl.step()
    return ctrl, events


def _arrivals_on_green(events: list[tuple[int, int, int]], channels: dict[int, int]) -> tuple[int, int]:
    """(on green, all) actuations of the advance `channels` {channel: phase}."""
    green: set[int] = set()
    on = total = 0
    for code, param, _ in events:
        if code == 1:
            green.add(param)
        elif code == 7:
            green.discard(param)
        elif code == 82 and param in channels:
            total += 1
            on += channels[param] in green
    return on, total


def test_a_better_offset_brings_the_platoon_on_green() -> None:
    travel_s = LINK_M / SPEED_MS + UPSTREAM_OFFSET_S
    ratios = {}
    for offset in (round(travel_s), round(travel_s) + 50):
        ctrl, events = _run(offset, 1.0)
        assert ctrl.mode == "coordinated" and ctrl.seq.pattern is not None
        on, total = _arrivals_on_green(events, {10: 2, 14: 6})
        assert total > 300, "a morning hour's through traffic crosses the advance detectors"
        ratios[offset] = on / total
    good, bad = ratios[round(travel_s)], ratios[round(travel_s) + 50]
    assert good > 0.6 and bad < 0.4 and good - bad > 0.3, ratios


def test_coordinated_through_traffic_comes_bunched_at_the_upstream_green() -> None:
    ctrl, events = _run(70, 1.0)
    assert ctrl.seq.pattern is not None
    cycle = ctrl.seq.pattern.cycle_s
    # position in the upstream signal's cycle (zero at local midnight + its offset) when crossing the detector
    at = [((ms / 1000 + 7 * 3600 - UPSTREAM_OFFSET_S) % cycle) for c, p, ms in events if c == 82 and p == 10]
    window = 0.3 * cycle
    densest = max(sum(1 for a in at if (a - start) % cycle < window) for start in range(round(cycle)))
    assert densest / len(at) > 0.6, "the platoon: most of the phase's vehicles within 30 % of the cycle"
    expected = (LINK_M - 100.0) / SPEED_MS      # released at the upstream green, crossing 100 m before our bar
    first = min(range(round(cycle)), key=lambda s: -sum(1 for a in at if (a - s) % cycle < window))
    assert abs(first - expected) < 6, (first, expected)


def test_advance_detector_sees_each_vehicle_setback_before_the_stop_bar() -> None:
    layout = [{"channel": 2, "phase": 2, "type": "stop_bar", "setback_m": 0},
              {"channel": 22, "phase": 2, "type": "advance", "setback_m": 139.0, "lane": "T1"}]
    ctrl, events = _run(20, 0.25, layout)
    assert set(ctrl.detectors.advance) == {2}, "only the layout's advance detector is wired"
    adv = ctrl.detectors.advance[2]
    assert adv.spec.channel == 22 and adv.travel == 100, "139 m at 13.9 m/s is 10 s"
    channels = {p for c, p, _ in events if c in (81, 82)}
    assert 22 in channels and not {10, 12, 14, 16} & channels
    # every vehicle that reached the stop bar crossed the advance detector 10 s before (or is still on its way)
    on = sorted(ms for c, p, ms in events if c == 82 and p == 22)
    assert adv.count >= len(on) > 50
    assert len(adv.transit) <= 10 * 10 / HEADWAY_TICKS + 10


def test_default_layout_is_the_api_export_shape_and_parses() -> None:
    doc = default_layout(range(1, 9))
    assert {(d["channel"], d["type"]) for d in doc} >= {(2, "stop_bar"), (10, "advance"), (14, "advance")}
    assert {p: a.channel for p, a in parse_layout(doc).items()} == {2: 10, 4: 12, 6: 14, 8: 16}


@pytest.mark.parametrize(("doc", "message"), [
    ({"channel": 1}, "expected a list"),
    ([{"channel": 10, "phase": 2, "type": "loop", "setback_m": 50}], "[0].type"),
    ([{"channel": 0, "phase": 2, "type": "advance", "setback_m": 50}], "[0].channel"),
    ([{"channel": 10, "phase": 2, "type": "advance", "setback_m": float("nan")}], "[0].setback_m"),
    ([{"channel": 10, "phase": 2, "type": "advance", "setback_m": 5000}], "[0].setback_m"),
    ([{"channel": 3, "phase": 2, "type": "stop_bar", "setback_m": 0}], "phase 2 is channel 2"),
    ([{"channel": 10, "phase": 2, "type": "advance", "setback_m": 50},
      {"channel": 10, "phase": 6, "type": "advance", "setback_m": 50}], "[1].channel"),
    ([{"channel": 2, "phase": 2, "type": "stop_bar", "setback_m": 0},
      {"channel": 2, "phase": 2, "type": "advance", "setback_m": 50}], "stop bar's channel"),
])
def test_a_bad_layout_is_refused_naming_the_entry(doc: object, message: str) -> None:
    with pytest.raises(LayoutError) as info:
        parse_layout(doc, "detectors.tn-sig-001")
    assert message in str(info.value) and "detectors.tn-sig-001" in str(info.value)
    with pytest.raises(ValueError, match=r"detectors\.tn-sig-001"):
        FleetConfig(detectors={"tn-sig-001": doc}).check()
