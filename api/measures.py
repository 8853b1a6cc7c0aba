"""ATSPM performance measures from the stored hi-res events, computed by `atspm` (the field's own library; the
`measures` extra) and never re-derived here.

A run takes the events of one intersection's controller in a window of whole 15-minute bins, its detector
configuration, and the unmatched-event carry-over atspm left at the end of the previous window (when that window
ended where this one starts), and returns atspm's binned tables plus the new carry-over. Which tables are kept is
`MEASURES`; `timeline` runs because ped_delay needs it, and is not stored. Timestamps go to atspm as naive UTC (15-
minute bins line up with every real time zone's offset). The caller runs this in a worker thread: DuckDB is CPU
bound.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.events import ControllerEvent

BIN = timedelta(minutes=15)

#: Our detector types and the atspm `Function` each one is (None: not a detector atspm configures: ped buttons are
#: read from the phase's ped events 45/90).
DETECTOR_TYPES: dict[str, str | None] = {
    "stop_bar": "Presence",  # split failures (occupancy)
    "stop_bar_count": "stop bar count",
    "advance": "Advance",  # arrivals on green, platoon ratio
    "yellow_red": "Yellow_Red",  # yellow and red actuations
    "ped": None,
}

#: atspm aggregations run, with the parameters atspm documents as its defaults.
AGGREGATIONS: list[tuple[str, dict[str, Any]]] = [
    ("has_data", {"no_data_min": 5, "min_data_points": 3}),
    ("actuations", {}),
    ("arrival_on_green", {"latency_offset_seconds": 0}),
    ("platoon_ratio", {}),
    ("split_failures", {"red_time": 5, "red_occupancy_threshold": 0.80, "green_occupancy_threshold": 0.80,
                        "by_approach": True}),
    ("yellow_red", {"latency_offset_seconds": 0}),
    ("terminations", {}),
    ("full_ped", {"seconds_between_actuations": 15, "return_volumes": True}),
    ("timeline", {"min_duration": 1, "cushion_time": 1, "maxtime": False, "live": False}),
    ("ped_delay", {}),
    ("phase_wait", {"preempt_recovery_seconds": 120, "assumed_cycle_length": 140, "skip_multiplier": 1.5,
                    "tsp_skip_multiplier": 2.0}),
    ("coordination_agg", {}),
]

#: The binned tables stored and served.
#: `phase_wait` (call 43 to green, skips) and `coordination_agg` (pattern 131 and cycle length 132 per bin, carried
#: forward across runs) run on what every controller logs; coordination_agg's ActualCycleLength and ActualOffset
#: come from MAXTIME's events 316/318, which the Indiana 0..255 codes on our wire cannot carry: they stay null.
MEASURES = ("has_data", "actuations", "arrival_on_green", "platoon_ratio", "split_failures", "yellow_red",
            "terminations", "full_ped", "ped_delay", "phase_wait", "coordination_agg")

#: How long atspm keeps an unmatched event waiting for its match.
CARRY_MAX_DAYS = 7


@dataclass(frozen=True, slots=True)
class Detector:
    channel: int
    phase: int
    type: str


@dataclass
class MeasureRow:
    """One row of an atspm table: its bin, phase and detector when it has them, the other columns in `values`."""

    measure: str
    bin_start: datetime
    phase: int | None
    detector: int | None
    values: dict[str, float | int | str | bool | None]


@dataclass
class RunResult:
    rows: list[MeasureRow] = field(default_factory=list)
    unmatched: bytes | None = None
    sf_unmatched: bytes | None = None


def aligned(ts: datetime) -> bool:
    return ts.tzinfo is not None and (ts - datetime(1970, 1, 1, tzinfo=UTC)) % BIN == timedelta(0)


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def _value(v: Any) -> float | int | str | bool | None:
    if v is None:
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # NaN: atspm had nothing to average (JSON cannot carry it)
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def event_frame(events: Sequence[ControllerEvent], device_id: int = 1) -> Any:
    """atspm's raw_data table (TimeStamp, DeviceId, EventId, Parameter) of `events`."""
    import pandas as pd

    return pd.DataFrame({"TimeStamp": pd.to_datetime([_naive(e.ts) for e in events]).astype("datetime64[us]"),
                         "DeviceId": pd.Series([device_id] * len(events), dtype="int64"),
                         "EventId": pd.Series([e.code for e in events], dtype="int64"),
                         "Parameter": pd.Series([e.param for e in events], dtype="int64")})


def detector_frame(detectors: Sequence[Detector], device_id: int = 1) -> Any:
    """atspm's detector_config table (DeviceId, Phase, Parameter, Function); ped buttons left out."""
    import pandas as pd

    rows = [(device_id, d.phase, d.channel, DETECTOR_TYPES[d.type]) for d in detectors if DETECTOR_TYPES[d.type]]
    return pd.DataFrame(rows, columns=["DeviceId", "Phase", "Parameter", "Function"]).astype(
        {"DeviceId": "int64", "Phase": "int64", "Parameter": "int64"})


def _parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _frame(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def run_atspm(raw: Any, config: Any, *, unmatched: bytes | None = None, sf_unmatched: bytes | None = None,
              incremental: bool = True) -> dict[str, Any]:
    """atspm itself on atspm-shaped frames: {table: DataFrame} of `MEASURES`, plus `unmatched_events` and
    `sf_unmatched` when `incremental`. Raises ImportError when the `measures` extra is not installed."""
    from atspm import SignalDataProcessor

    settings: dict[str, Any] = {}
    if incremental:
        settings["unmatched_event_settings"] = {
            "df_or_path": _frame(unmatched) if unmatched else None,
            "split_fail_df_or_path": _frame(sf_unmatched) if sf_unmatched else None,
            "max_days_old": CARRY_MAX_DAYS}
    aggregations = [{"name": name, "params": dict(params)} for name, params in AGGREGATIONS]
    with SignalDataProcessor(raw_data=raw, detector_config=config, bin_size=15, verbose=0,
                             aggregations=aggregations, **settings) as processor:
        processor.load()
        processor.aggregate()
        present = {name for (name,) in processor.conn.sql(
            "SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
        wanted = [*MEASURES, "unmatched_events", "sf_unmatched"] if incremental else list(MEASURES)
        return {name: processor.conn.query(f'SELECT * FROM "{name}"').df() for name in wanted if name in present}


def compute(events: Sequence[ControllerEvent], detectors: Sequence[Detector], *,
            unmatched: bytes | None = None, sf_unmatched: bytes | None = None) -> RunResult:
    """atspm's measures of one intersection's events (one window), with the carry-over in and out."""
    tables = run_atspm(event_frame(events), detector_frame(detectors), unmatched=unmatched,
                       sf_unmatched=sf_unmatched)
    result = RunResult()
    for name in MEASURES:
        frame = tables.get(name)
        if frame is None:
            continue
        for record in frame.to_dict("records"):
            result.rows.append(measure_row(name, record))
    if "unmatched_events" in tables:
        result.unmatched = _parquet(tables["unmatched_events"])
    if "sf_unmatched" in tables:
        result.sf_unmatched = _parquet(tables["sf_unmatched"])
    return result


def measure_row(name: str, record: dict[str, Any]) -> MeasureRow:
    """A row of atspm table `name` (one record of its DataFrame) as stored: DeviceId dropped (one intersection a
    run), TimeStamp the bin (UTC), Phase and Detector pulled out."""
    stamp = record.pop("TimeStamp").to_pydatetime().replace(tzinfo=UTC)
    record.pop("DeviceId", None)
    phase = record.pop("Phase", None)
    detector = record.pop("Detector", None)
    return MeasureRow(name, stamp, None if phase is None else int(phase), None if detector is None else int(detector),
                      {k: _value(v) for k, v in record.items()})


# --- cycle-level views: atspm's timeline (green, yellow, red clearance intervals per phase) and the raw arrivals ---
@dataclass
class Cycle:
    """One cycle of a phase on atspm's timeline: from a start of red clearance to the next (the PCD's cycle); the
    green and yellow bands inside it (None when the cycle saw none, e.g. a skipped phase) and the red clearance that
    ends them, so green + yellow + red clearance is the cycle's split."""

    start: datetime
    end: datetime
    green_start: datetime | None = None
    yellow_start: datetime | None = None
    green_s: float = 0.0
    yellow_s: float = 0.0
    red_clearance_s: float = 0.0


def phase_intervals(events: Sequence[ControllerEvent]) -> list[tuple[str, int, datetime, datetime]]:
    """atspm's timeline of the events: (class, phase, start, end) of its valid Green, Yellow and Red (clearance)
    intervals, oldest first."""
    from atspm import SignalDataProcessor

    aggregations = [{"name": name, "params": dict(params)} for name, params in AGGREGATIONS
                    if name in ("has_data", "timeline")]
    with SignalDataProcessor(raw_data=event_frame(events), detector_config=detector_frame([]), bin_size=15,
                             verbose=0, aggregations=aggregations) as processor:
        processor.load()
        processor.aggregate()
        rows = processor.conn.query(
            "SELECT EventClass, EventValue, StartTime, EndTime FROM timeline WHERE IsValid "
            "AND EventClass IN ('Green', 'Yellow', 'Red') ORDER BY StartTime").fetchall()
    return [(str(c), int(v), s.replace(tzinfo=UTC), e.replace(tzinfo=UTC)) for c, v, s, e in rows]


def cycles_of(intervals: Sequence[tuple[str, int, datetime, datetime]], phase: int) -> list[Cycle]:
    """The phase's cycles, each from one red-clearance start to the next, with the bands that fall inside."""
    mine = [(c, s, e) for c, p, s, e in intervals if p == phase]
    red_s = {s: (e - s).total_seconds() for c, s, e in mine if c == "Red"}
    reds = sorted(red_s)
    # red_clearance_s is the clearance that ends the cycle's green and yellow (the one starting at its end).
    cycles = [Cycle(a, b, red_clearance_s=red_s[b]) for a, b in itertools.pairwise(reds)]
    i = 0
    for c, s, e in sorted(mine, key=lambda x: x[1]):
        while i < len(cycles) and s >= cycles[i].end:
            i += 1
        if i >= len(cycles) or s < cycles[i].start:
            continue
        cycle = cycles[i]
        seconds = (e - s).total_seconds()
        if c == "Green" and cycle.green_start is None:
            cycle.green_start, cycle.green_s = s, seconds
        elif c == "Yellow" and cycle.yellow_start is None:
            cycle.yellow_start, cycle.yellow_s = s, seconds
    return cycles
