"""The embedded telemetry store (the demo's default): SQLite on disk, same interface as the InfluxDB side.

One row per (measurement, device, field, time, site): writing the same sample again overwrites each of its fields,
as InfluxDB does, so a replayed batch never duplicates. Every database call runs on one worker thread (the event loop
never blocks, and SQLite sees one connection from one thread). Intervals are aligned on the epoch, like InfluxDB's
GROUP BY time(); an interval without samples yields None. Errors: `StoreError` (retryable for a busy or full disk).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from controllers.devices import DeviceKind
from controllers.events import MAX_PAGE, ControllerEvent, EventCursor, from_ms
from controllers.telemetry import FIELD_HISTORICAL, FIELD_SEQ, Aggregate, Sample, Series, StoreError, measurement
from gateways.stores.lineproto import sample_fields, to_ms

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry (
    measurement TEXT NOT NULL, device TEXT NOT NULL, field TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    site TEXT NOT NULL, value REAL,
    PRIMARY KEY (measurement, device, field, ts_ms, site)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS controller_event (
    device TEXT NOT NULL, ts_ms INTEGER NOT NULL, seq INTEGER NOT NULL, site TEXT NOT NULL,
    code INTEGER NOT NULL, param INTEGER NOT NULL,
    PRIMARY KEY (device, ts_ms, seq, site)
) WITHOUT ROWID
"""

_AGG_SQL = {Aggregate.MEAN: "AVG(value)", Aggregate.MIN: "MIN(value)", Aggregate.MAX: "MAX(value)"}


class EmbeddedStore:
    """TelemetryWriter and TelemetryQuery on a SQLite file at `path` (created with its folder if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-store")
        self._conn: sqlite3.Connection | None = None
        self.points_written = 0

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            return fn(self._connect())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"embedded store {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"embedded store {self.path}: {exc}", retryable=False) from None

    async def aclose(self) -> None:
        def close(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await self._run(close)
        self._executor.shutdown(wait=True)

    async def write(self, samples: Sequence[Sample]) -> None:
        """Write a batch in one transaction (all or nothing). Raises StoreError."""
        rows: list[tuple[str, str, str, int, str, float]] = []
        for s in samples:
            m, ts = measurement(s.kind), to_ms(s.ts)
            fields = sample_fields(s)
            if not fields:
                continue
            for key, value in fields.items():
                rows.append((m, s.device, key, ts, s.site, value))
            rows.append((m, s.device, FIELD_SEQ, ts, s.site, float(s.seq)))
            rows.append((m, s.device, FIELD_HISTORICAL, ts, s.site, 1.0 if s.historical else 0.0))

        def insert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO telemetry VALUES (?, ?, ?, ?, ?, ?)", rows)

        await self._run(insert)
        self.points_written += len(samples)

    async def query(self, *, kind: DeviceKind, device: str, fields: Sequence[str], start: datetime, end: datetime,
                    interval_s: float | None = None, aggregate: Aggregate = Aggregate.MEAN) -> list[Series]:
        """See controllers.telemetry.TelemetryQuery."""
        m, start_ms, end_ms = measurement(kind), to_ms(start), to_ms(end)
        wanted = list(dict.fromkeys(fields))

        def select(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            marks = ",".join("?" * len(wanted))
            base = f"FROM telemetry WHERE measurement = ? AND device = ? AND field IN ({marks}) AND ts_ms >= ? " \
                   "AND ts_ms < ?"
            params: list[Any] = [m, device, *wanted, start_ms, end_ms]
            if interval_s is None:
                return conn.execute(f"SELECT field, ts_ms, value {base} ORDER BY ts_ms", params).fetchall()
            interval_ms = max(1, round(interval_s * 1000))
            bucket = f"(ts_ms / {interval_ms}) * {interval_ms}"
            # SQLite takes the bare `value` from the row holding MAX(ts_ms): the last sample of the interval.
            agg = "value, MAX(ts_ms)" if aggregate is Aggregate.LAST else _AGG_SQL[aggregate]
            return conn.execute(f"SELECT field, {bucket} AS b, {agg} {base} GROUP BY field, b ORDER BY b",
                                params).fetchall()

        rows = await self._run(select) if wanted else []
        out = {f: Series(device=device, field=f) for f in wanted}
        if interval_s is None:
            for field, ts_ms, value in rows:
                out[field].points.append((_dt(ts_ms), value))
            return [out[f] for f in fields]
        interval_ms = max(1, round(interval_s * 1000))
        found = {(r[0], r[1]): r[2] for r in rows}
        first = (start_ms // interval_ms) * interval_ms
        for b in range(first, end_ms, interval_ms):
            for f in wanted:
                out[f].points.append((_dt(b), found.get((f, b))))
        return [out[f] for f in fields]

    # --- controller events (controllers.events): one row per (device, ms, seq, site), replaced when written again
    async def write_events(self, events: Sequence[ControllerEvent]) -> None:
        """Write a batch of controller events in one transaction. Raises StoreError."""
        rows = [(e.device, to_ms(e.ts), int(e.seq), e.site, int(e.code), int(e.param)) for e in events]

        def insert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO controller_event VALUES (?, ?, ?, ?, ?, ?)", rows)

        await self._run(insert)
        self.points_written += len(rows)

    async def query_events(self, *, device: str, start: datetime, end: datetime, codes: Sequence[int] = (),
                           params: Sequence[int] = (), limit: int = 1000,
                           after: EventCursor | None = None) -> list[ControllerEvent]:
        """See controllers.events.EventStore."""
        sql = "SELECT ts_ms, seq, code, param, site FROM controller_event WHERE device = ? AND ts_ms >= ? AND ts_ms < ?"
        args: list[Any] = [device, to_ms(start), to_ms(end)]
        if after is not None:
            sql += " AND (ts_ms, seq) > (?, ?)"
            args += [after.ts_ms, after.seq]
        for name, values in (("code", codes), ("param", params)):
            if values:
                sql += f" AND {name} IN ({','.join('?' * len(values))})"
                args += [int(v) for v in values]
        sql += " ORDER BY ts_ms, seq LIMIT ?"
        args.append(max(1, min(limit, MAX_PAGE)))
        rows = await self._run(lambda conn: conn.execute(sql, args).fetchall())
        return [ControllerEvent(site=r[4], device=device, ts=from_ms(r[0]), seq=r[1], code=r[2], param=r[3])
                for r in rows]


def _dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
