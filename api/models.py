"""The config database: SQLAlchemy 2 ORM models shared by the routes and the migrations.

Times are stored as timezone-aware UTC (`UtcDateTime` restores the zone that SQLite drops). Identifiers of sites and
devices follow `controllers.devices.ID_PATTERN`; commands use UUID strings, as the topic contract asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend. Refuses naive datetimes (ValueError) on write."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    #: Bumped when the account is disabled, its role changes or its password is reset: every token that carries an
    #: older version (access, refresh, and the API tokens this user created) is refused from then on.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class Device(Base):
    """A device seen on the bus or declared by an engineer. `status` is online | offline | unknown."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    transport: Mapped[str | None] = mapped_column(String(16), default=None)
    model: Mapped[str | None] = mapped_column(String(64), default=None)
    firmware: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(128), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    endpoint: Mapped[str | None] = mapped_column(String(256), default=None)
    profile: Mapped[str | None] = mapped_column(String(64), default=None)
    gateway_shard: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    birth: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Command(Base):
    """One command's whole life: pending → succeeded | failed | expired, persisted before it is published."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_status_expires", "status", "expires_at"),
                      Index("ux_commands_idempotency", "issued_by", "idempotency_key", unique=True))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    site: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The client's `Idempotency-Key`: a retry with the same key (by the same issuer) gets this command back.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)


class AuditEntry(Base):
    """Who did what, when, from where, and how it ended."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Alarm(Base):
    """One occurrence of an alarm condition on one device (`circuit` 0) or one circuit of a lighting cabinet;
    at most one active per (device, kind, circuit)."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ux_alarms_active", "device_id", "kind", "circuit", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean)
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_by: Mapped[str | None] = mapped_column(String(128), default=None)
    ack_note: Mapped[str | None] = mapped_column(String(500), default=None)
    detail: Mapped[str | None] = mapped_column(String(512), default=None)
    circuit: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: The work order made from this alarm (one at most); resolving it does not clear the alarm.
    work_order_id: Mapped[int | None] = mapped_column(Integer, default=None)


class Site(Base):
    """A city district or programme area; devices and intersections belong to one."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime]


class Intersection(Base):
    """A signalised intersection: where it is, which controller runs it, its approaches (list of objects with
    `name`, `bearing_deg`, `speed_kph`, `lanes`, `grade_pct`). `controller_id` may name a device not yet seen."""

    __tablename__ = "intersections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128))
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    controller_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    approaches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: The twin's geometry (`controllers.twin.model.IntersectionGeometry`): legs, lanes, movements, the NEMA phase
    #: of each movement and the detector placements; None until an engineer stores one.
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ApiToken(Base):
    """A token for machines (rigs, scripts), with a role. Only a SHA-256 of the token is stored: tokens are 256
    random bits, so a fast hash is safe and lets every request check one without argon2's cost."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The creator's `token_version` when the token was made: the token dies with a change to its creator.
    creator_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class RefreshToken(Base):
    """One issued refresh token (by its jti). Each is used once: refreshing rotates it; presenting a used one again
    means it was copied, and its whole family (every token descended from that login) is revoked."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class PlanVersion(Base):
    """One stored version of an intersection's timing plan. Only plans the validator accepted are
    stored, so every row is deployable; `crc32` is of the plan's transfer encoding (controllers.plans)."""

    __tablename__ = "plan_versions"
    __table_args__ = (Index("ux_plan_versions_intersection_version", "intersection_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intersection_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    crc32: Mapped[int] = mapped_column(BigInteger)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    comment: Mapped[str | None] = mapped_column(String(512), default=None)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Deployment(Base):
    """One deploy of a plan version to an intersection's controller: pending → transferring → verifying →
    activating → active, or failed / rolled_back with the controller's reason."""

    __tablename__ = "deployments"
    #: One deploy in flight per intersection (the controller takes one transfer at a time): a second insert while
    #: one is unfinished fails in the database, so two racing requests cannot both start one.
    __table_args__ = (Index("ux_deployments_in_flight", "intersection_id", unique=True,
                            sqlite_where=text("finished_at IS NULL"), postgresql_where=text("finished_at IS NULL")),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    intersection_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str] = mapped_column(String(64))
    crc32: Mapped[int] = mapped_column(BigInteger)
    command_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ControlSession(Base):
    """Manual control of an intersection (hold_pattern / flash / free) until the operator's `until`, sent to the
    controller as short backup timers (`backup_s`) renewed by the center. status: active | ended | released |
    superseded."""

    __tablename__ = "control_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    intersection_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[int | None] = mapped_column(Integer, default=None)
    until: Mapped[datetime]
    backup_s: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    next_renew_at: Mapped[datetime]
    last_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class LightingVersion(Base):
    """One stored version of a lighting document (contracts/lighting, format v1): programs, calendars and the
    circuit assignment. Only documents the validator accepted are stored; `crc32` is of the transfer encoding."""

    __tablename__ = "lighting_versions"
    __table_args__ = (Index("ux_lighting_versions_document_version", "document_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(48), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    crc32: Mapped[int] = mapped_column(BigInteger)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    comment: Mapped[str | None] = mapped_column(String(512), default=None)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class LightingDeployment(Base):
    """One deploy of a lighting version to one cabinet, part of a batch (one request to a cabinet, a list or a
    site): pending → transferring → verifying → activating → active, failed / rolled_back, or refused (the
    document fails the validator at this cabinet's coordinates: never sent)."""

    __tablename__ = "lighting_deployments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str] = mapped_column(String(48), index=True)
    version: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    crc32: Mapped[int] = mapped_column(BigInteger)
    command_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class CircuitOverride(Base):
    """A circuit held on, off or dimmed by a person until `until`, then back to its program: who, why, until.
    status: active | released | expired | failed (the cabinet refused the switch)."""

    __tablename__ = "circuit_overrides"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    circuit: Mapped[int] = mapped_column(Integer)
    level_pct: Mapped[float] = mapped_column(Float)
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(256))
    set_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    set_at: Mapped[datetime]
    command_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class SchedulerLease(Base):
    """Who runs the scheduled jobs now: one holder at a time, renewed before `expires_at`, so several API
    replicas or `signalight scheduler` processes run each job once."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class LoginFailures(Base):
    """Consecutive failed logins of one account name from one client address, and until when that pair must wait.

    Keyed by the name as typed (known or not), so the answers are the same for existing and unknown users; a
    success from the pair deletes its row. Counters are incremented in the database (upsert), never read-modified-
    written in Python, so parallel attempts are all counted."""

    __tablename__ = "login_failures"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)
class DetectorConfig(Base):
    """One detector channel of an intersection's controller, as the ATSPM measures need it: the phase it calls, the
    lane, its setback from the stop bar in metres, and its type (`api.measures.DETECTOR_TYPES`)."""

    __tablename__ = "detectors"

    intersection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    phase: Mapped[int] = mapped_column(Integer)
    lane: Mapped[str | None] = mapped_column(String(32), default=None)
    setback_m: Mapped[float] = mapped_column(Float, default=0.0)


class MeasureBin(Base):
    """One row of an ATSPM measure (atspm's output table `measure`) for one intersection and bin: `phase` and
    `detector` when the measure has them, the rest of atspm's columns in `values`. `run_start` is the start of the
    computation window that produced it (a recomputation of that window replaces its rows)."""

    __tablename__ = "measure_bins"
    __table_args__ = (Index("ix_measure_bins_lookup", "intersection_id", "measure", "bin_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intersection_id: Mapped[str] = mapped_column(String(64))
    measure: Mapped[str] = mapped_column(String(32))
    bin_start: Mapped[datetime]
    phase: Mapped[int | None] = mapped_column(Integer, default=None)
    detector: Mapped[int | None] = mapped_column(Integer, default=None)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_start: Mapped[datetime]


class MeasureCarry(Base):
    """atspm's unmatched-event carry-over of an intersection after the window that ended at `until` (Parquet bytes
    of its `unmatched_events` and `sf_unmatched` tables): the next window starting there resumes from it."""

    __tablename__ = "measure_carry"

    intersection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime]
    unmatched: Mapped[bytes | None] = mapped_column(default=None)
    sf_unmatched: Mapped[bytes | None] = mapped_column(default=None)


class WorkOrder(Base):
    """A job for a lighting crew (`controllers.work_orders`): from an alarm, a dispatcher, or a citizen's report
    (`source` citizen, `reference` given to the citizen, the report's place, category and text). `reporter_key` is
    a keyed hash of the reporting address (rate limits, never shown); `area_cell` the ~500 m cell of the report."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    site: Mapped[str | None] = mapped_column(String(64), default=None)
    circuit: Mapped[int | None] = mapped_column(Integer, default=None)
    alarm_id: Mapped[int | None] = mapped_column(Integer, default=None, unique=True)
    reference: Mapped[str | None] = mapped_column(String(16), default=None, unique=True)
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    description: Mapped[str | None] = mapped_column(String(1000), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    distance_m: Mapped[float | None] = mapped_column(Float, default=None)
    crew: Mapped[str | None] = mapped_column(String(64), default=None)
    assignee: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    reporter_key: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    area_cell: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    photo_until: Mapped[datetime | None] = mapped_column(default=None)


class WorkOrderEvent(Base):
    """One step of a work order's history: who did what, when, from which state to which, with the note."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(1000), default=None)


class WorkOrderPhoto(Base):
    """A photo of a work order (JPEG, PNG or WebP by its magic bytes), kept in the DB so every replica serves it."""

    __tablename__ = "work_order_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes]
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime]


class PreviewJob(Base):
    """One plan preview on the twin (`api.twin_jobs`): queued → running → done | failed | cancelled, with its
    progress (0..1), the `controllers.twin.model.PreviewRequest` it runs and, when done, the `PreviewResult`.
    `kind` is intersection | corridor; `baseline` says what the candidate is compared with (deployed | previous |
    none) and `baseline_version` which version that is."""

    __tablename__ = "preview_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    intersection_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline_version: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    demand_sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class CabinetBirthClaim(Base):
    """One API replica judges a cabinet's birth (override reconcile): the first to insert (device, birth) does it,
    the others find the key taken and leave it, so several replicas send and audit one reconcile per birth."""

    __tablename__ = "cabinet_birth_claims"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    birth: Mapped[str] = mapped_column(String(96), primary_key=True, doc="bd_seq@birth ts")
    holder: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(index=True)


class CircuitRelamping(Base):
    """A circuit's luminaires replaced: its lamp life counts from here (the cabinet's burning-hours counter then,
    `burning_h`, is subtracted from later readings). Who, when, why."""

    __tablename__ = "circuit_relampings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    circuit: Mapped[int] = mapped_column(Integer)
    relamped_on: Mapped[datetime]
    burning_h: Mapped[float | None] = mapped_column(Float, default=None)
    reason: Mapped[str] = mapped_column(String(256))
    done_by: Mapped[str] = mapped_column(String(128))
    source_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    recorded_at: Mapped[datetime]
