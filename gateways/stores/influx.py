"""InfluxDB over its v1 HTTP API (InfluxDB 1.x; 2.x/3.x through v1 compatibility with a token).

Writes are line protocol on `/write?precision=ms`; queries are InfluxQL on `/query` (GET, epoch=ms). A point's
identity is (measurement, tags, time), so writing a replayed batch again overwrites instead of duplicating.
Errors: `StoreError(retryable=True)` for a store that is down, slow (timeout) or failing (5xx, 429); `retryable=False`
for a request InfluxDB refuses (4xx: bad data, no database, no permission). Non-blocking (httpx.AsyncClient).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from controllers.devices import DeviceKind
from controllers.events import MAX_PAGE, MEASUREMENT, ControllerEvent, EventCursor, from_ms
from controllers.telemetry import TAG_DEVICE, Aggregate, Sample, Series, StoreError, measurement
from gateways.stores.lineproto import encode_events, encode_lines, to_ms

log = logging.getLogger(__name__)


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxStore:
    """TelemetryWriter and TelemetryQuery on one InfluxDB database."""

    def __init__(self, url: str, database: str, *, username: str | None = None, password: str | None = None,
                 token: str | None = None, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = httpx.BasicAuth(username, password or "") if username else None
        self.database = database
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, headers=headers, auth=auth, timeout=timeout_s,
                                         transport=transport)
        self.points_written = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StoreError(f"influxdb {self.url}: timeout on {path}: {exc}") from None
        except httpx.HTTPError as exc:
            raise StoreError(f"influxdb {self.url}: {path}: {exc!r}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise StoreError(f"influxdb {self.url}: {path}: HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise StoreError(f"influxdb {self.url}: {path}: HTTP {response.status_code}: {response.text[:300]}",
                             retryable=False)
        return response

    async def create_database(self) -> None:
        """Create the database if missing (idempotent)."""
        await self._request("POST", "/query", data={"q": f"CREATE DATABASE {quote_ident(self.database)}"})

    async def ping(self) -> None:
        await self._request("GET", "/ping")

    async def write_lines(self, body: bytes) -> None:
        """POST a line-protocol body (precision ms)."""
        if body:
            await self._request("POST", "/write", params={"db": self.database, "precision": "ms"}, content=body)

    async def write(self, samples: Sequence[Sample]) -> None:
        """Write a batch (all or nothing on InfluxDB's side). Raises StoreError."""
        await self.write_prepared(samples, self.prepare(samples))

    def prepare(self, samples: Sequence[Sample]) -> bytes:
        """The write body of a batch, made ahead of `write_prepared` (so that a writer can encode the next batch
        while InfluxDB takes the previous one)."""
        return encode_lines(samples)

    async def write_prepared(self, samples: Sequence[Sample], prepared: bytes) -> None:
        """Write a batch encoded by `prepare(samples)`. Raises StoreError."""
        await self.write_lines(prepared)
        self.points_written += len(samples)

    async def influxql(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the series of the first statement. Raises StoreError naming InfluxDB's error."""
        response = await self._request("GET", "/query", params={"db": self.database, "q": q, "epoch": "ms"})
        results = response.json().get("results", [])
        if not results:
            return []
        if "error" in results[0]:
            raise StoreError(f"influxdb: {results[0]['error']} in {q!r}", retryable=False)
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    async def query(self, *, kind: DeviceKind, device: str, fields: Sequence[str], start: datetime, end: datetime,
                    interval_s: float | None = None, aggregate: Aggregate = Aggregate.MEAN) -> list[Series]:
        """See controllers.telemetry.TelemetryQuery. Intervals are aligned on the epoch, like InfluxDB's."""
        if not fields:
            return []
        where = (f"{quote_ident(TAG_DEVICE)} = {quote_literal(device)} AND time >= {to_ms(start)}ms "
                 f"AND time < {to_ms(end)}ms")
        source = f"{quote_ident(self.database)}..{quote_ident(measurement(kind))}"
        if interval_s is None:
            select = ", ".join(quote_ident(f) for f in fields)
            q = f"SELECT {select} FROM {source} WHERE {where}"
        else:
            interval_ms = max(1, round(interval_s * 1000))
            select = ", ".join(f"{aggregate.value}({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
            q = f"SELECT {select} FROM {source} WHERE {where} GROUP BY time({interval_ms}ms) fill(null)"
        out = {f: Series(device=device, field=f) for f in fields}
        for s in await self.influxql(q):
            columns: list[str] = s["columns"]
            for row in s["values"]:
                ts = datetime.fromtimestamp(row[0] / 1000, tz=UTC)
                for i, name in enumerate(columns[1:], start=1):
                    if name in out and (interval_s is not None or row[i] is not None):
                        value = row[i]
                        out[name].points.append((ts, float(value) if value is not None else None))
        return [out[f] for f in fields]

    # --- controller events (controllers.events) -----------------------------------------------------------------
    async def write_events(self, events: Sequence[ControllerEvent]) -> None:
        """Write a batch of controller events (all or nothing). Raises StoreError."""
        await self.write_lines(encode_events(events))
        self.points_written += len(events)

    async def query_events(self, *, device: str, start: datetime, end: datetime, codes: Sequence[int] = (),
                           params: Sequence[int] = (), limit: int = 1000,
                           after: EventCursor | None = None) -> list[ControllerEvent]:
        """See controllers.events.EventStore."""
        limit = max(1, min(limit, MAX_PAGE))
        low = to_ms(start) if after is None else max(to_ms(start), after.ts_ms)
        where = [f"{quote_ident(TAG_DEVICE)} = {quote_literal(device)}", f"time >= {low}ms",
                 f"time < {to_ms(end)}ms"]
        for name, values in (("code", codes), ("param", params)):
            if values:
                where.append("(" + " OR ".join(f"{quote_ident(name)} = {int(v)}" for v in values) + ")")
        # A millisecond holds at most 256 events of a device (seq is 0..255): asking that many more than the page
        # covers those at the cursor's millisecond, which are dropped below.
        q = (f"SELECT \"code\", \"param\", \"seq\", \"site\" FROM {quote_ident(self.database)}.."
             f"{quote_ident(MEASUREMENT)} WHERE {' AND '.join(where)} ORDER BY time ASC LIMIT {limit + 256}")
        rows: list[tuple[int, int, int, int, str]] = []
        # InfluxDB 1.x does not isolate a read from a write in progress: a point being written can be seen with
        # one field and not yet the other (code without param). Such a point is not an event yet: the page ends
        # before its millisecond, so that a cursor taken from this page never passes it; the next read has it.
        partial_ms: int | None = None
        for s in await self.influxql(q):
            columns: list[str] = s["columns"]
            at = {name: i for i, name in enumerate(columns)}
            for row in s["values"]:
                fields = (row[at["seq"]], row[at["code"]], row[at["param"]], row[at["site"]])
                if None in fields:
                    partial_ms = int(row[0]) if partial_ms is None else min(partial_ms, int(row[0]))
                    continue
                rows.append((int(row[0]), int(fields[0]), int(fields[1]), int(fields[2]), str(fields[3])))
        if partial_ms is not None:
            log.info("events_partial_read device=%s at_ms=%s", device, partial_ms)
            rows = [r for r in rows if r[0] < partial_ms]
        rows.sort(key=lambda r: (r[0], r[1]))
        if after is not None:
            rows = [r for r in rows if (r[0], r[1]) > (after.ts_ms, after.seq)]
        return [ControllerEvent(site=r[4], device=device, ts=from_ms(r[0]), seq=r[1],
                                code=r[2], param=r[3]) for r in rows[:limit]]
