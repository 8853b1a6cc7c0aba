"""Plan previews as jobs: a bounded queue, worker processes, progress and answers kept as `preview_jobs` rows.

A job is run by one of `twin_workers` asyncio tasks (in the app's TaskGroup), each of which starts a fresh worker
**process** per job (`api.twin_worker`, spawn method) and waits on its pipe from a thread: SUMO never runs in the
API's process, let alone its event loop, and a stuck or crashed run is killed without harming the API.

Overflow policy: at most `twin_queue` jobs wait for a worker; one more is refused (`PreviewQueueFull`, the route's
503 with Retry-After) and nothing is stored. Progress is written to the row when it moved by ≥ 5 % and published on
the event stream (type `preview`). A job running longer than `twin_timeout_s` is killed and failed (`timeout`). On
shutdown the running processes are killed and their jobs marked `cancelled`; jobs a previous process left queued or
running (it stopped before they ended) are marked `failed` (`interrupted`) at startup: the request is in the row,
the engineer runs it again.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import multiprocessing
import shutil
import uuid
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.config import ApiSettings
from api.hub import EventHub
from api.models import PreviewJob
from api.twin_worker import work
from controllers.clock import Clock, to_rfc3339
from controllers.twin.model import PreviewRequest

log = logging.getLogger(__name__)

ENABLE_HINT = "pip install 'signalight[twin]'"
PROGRESS_WRITE_STEP = 0.05
RETRY_AFTER_S = 60
ACTIVE = ("queued", "running")


class PreviewQueueFull(Exception):
    """Every worker is busy and `twin_queue` jobs already wait."""


def unavailable_reason(runner_path: str) -> str | None:
    """Why previews cannot run here (None: they can): the runner module is missing, or SUMO is not installed."""
    module = runner_path.split(":", 1)[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return f"the twin runner {module} is not installed; enable previews with {ENABLE_HINT}"
    if module == "api.twin_runner" and importlib.util.find_spec("sumo") is None and shutil.which("sumo") is None:
        return f"SUMO is not installed; enable previews with {ENABLE_HINT}"
    return None


def job_json(row: PreviewJob) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "intersection_id": row.intersection_id, "version": row.version,
            "baseline": row.baseline, "baseline_version": row.baseline_version, "state": row.state,
            "progress": row.progress, "demand_sources": row.demand_sources, "result": row.result,
            "error": row.error, "message": row.message, "requested_by": row.requested_by,
            "created_at": to_rfc3339(row.created_at),
            "started_at": to_rfc3339(row.started_at) if row.started_at else None,
            "finished_at": to_rfc3339(row.finished_at) if row.finished_at else None,
            "request": row.request}


class PreviewJobs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: EventHub, clock: Clock,
                 settings: ApiSettings, site: str) -> None:
        self._sessions, self._hub, self._clock, self._settings, self._site = sessions, hub, clock, settings, site
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.twin_queue)
        self._procs: dict[str, BaseProcess] = {}
        self._reserved = 0  # places taken by submits still writing their row
        self._context = multiprocessing.get_context("spawn")

    def unavailable(self) -> str | None:
        return unavailable_reason(self._settings.twin_runner)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def recover(self) -> None:
        """Mark the jobs a previous process left unfinished as failed (`interrupted`)."""
        async with self._sessions() as session, session.begin():
            stale = list((await session.execute(select(PreviewJob.id).where(
                PreviewJob.state.in_(ACTIVE)))).scalars())
            await session.execute(update(PreviewJob).where(PreviewJob.id.in_(stale)).values(
                state="failed", error="interrupted", finished_at=self._clock.now(),
                message="the API stopped before this preview ended; run it again"))
        if stale:
            log.info("preview_jobs_interrupted count=%s", len(stale))

    async def submit(self, session: AsyncSession, request: PreviewRequest, *, kind: str, requested_by: str,
                     intersection_id: str | None, version: int | None, baseline: str | None,
                     baseline_version: int | None, demand_sources: dict[str, str]) -> PreviewJob:
        """Store a queued job and hand it to a worker. `PreviewQueueFull` (nothing stored) when the queue is full."""
        if self._queue.qsize() + self._reserved >= self._settings.twin_queue:
            raise PreviewQueueFull(f"{self._queue.qsize()} previews already wait for a worker")
        self._reserved += 1  # taken before the first await: two racing submits cannot both get the last place
        try:
            return await self._store(session, request, kind=kind, requested_by=requested_by,
                                     intersection_id=intersection_id, version=version, baseline=baseline,
                                     baseline_version=baseline_version, demand_sources=demand_sources)
        finally:
            self._reserved -= 1

    async def _store(self, session: AsyncSession, request: PreviewRequest, *, kind: str, requested_by: str,
                     intersection_id: str | None, version: int | None, baseline: str | None,
                     baseline_version: int | None, demand_sources: dict[str, str]) -> PreviewJob:
        row = PreviewJob(id=str(uuid.uuid4()), kind=kind, intersection_id=intersection_id, version=version,
                         baseline=baseline, baseline_version=baseline_version, state="queued", progress=0.0,
                         request=request.model_dump(mode="json"), demand_sources=demand_sources, result=None,
                         requested_by=requested_by, created_at=self._clock.now())
        session.add(row)
        await session.commit()
        self._queue.put_nowait(row.id)
        self._publish(row.id, intersection_id, "queued", 0.0)
        return row

    def _publish(self, job_id: str, intersection_id: str | None, state: str, progress: float) -> None:
        self._hub.publish("preview", self._site, intersection_id or "", {"id": job_id, "state": state,
                                                                       "progress": progress})

    async def _update(self, job_id: str, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(PreviewJob).where(PreviewJob.id == job_id).values(**values))

    async def run(self) -> None:
        """One worker: take the next job, run it in a fresh process, store its answer; forever."""
        while True:
            job_id = await self._queue.get()
            await self._run_one(job_id)

    async def _run_one(self, job_id: str) -> None:
        async with self._sessions() as session:
            row = await session.get(PreviewJob, job_id)
            if row is None or row.state != "queued":
                return
            request, intersection_id = row.request, row.intersection_id
        started = self._clock.now()
        await self._update(job_id, state="running", started_at=started)
        self._publish(job_id, intersection_id, "running", 0.0)
        log.info("preview_started job=%s intersection=%s", job_id, intersection_id)
        reader, writer = self._context.Pipe(duplex=False)
        proc = self._context.Process(target=work, args=(self._settings.twin_runner, request, writer), daemon=True,
                                     name=f"preview-{job_id[:8]}")
        self._procs[job_id] = proc
        outcome: dict[str, Any] = {"state": "failed", "error": "worker_died", "message": None}
        try:
            await asyncio.to_thread(proc.start)
            writer.close()  # the child holds its own end: EOF on ours once it exits
            async with asyncio.timeout(self._settings.twin_timeout_s):
                outcome = await self._follow(job_id, intersection_id, reader, proc)
        except TimeoutError:
            outcome = {"state": "failed", "error": "timeout",
                       "message": f"stopped after {self._settings.twin_timeout_s:g} s"}
        except asyncio.CancelledError:
            if proc.is_alive():
                proc.kill()
            await asyncio.shield(self._finish(job_id, intersection_id, {
                "state": "cancelled", "error": "shutdown", "message": "the API stopped while this preview ran"},
                started))
            raise
        finally:
            self._procs.pop(job_id, None)
            if proc.is_alive():
                proc.kill()
            reader.close()
        await self._finish(job_id, intersection_id, outcome, started)

    async def _finish(self, job_id: str, intersection_id: str | None, outcome: dict[str, Any],
                      started: datetime) -> None:
        now = self._clock.now()
        values = {"finished_at": now, **outcome}
        if outcome["state"] == "done":
            values["progress"] = 1.0
        await self._update(job_id, **values)
        self._publish(job_id, intersection_id, outcome["state"], 1.0 if outcome["state"] == "done" else 0.0)
        log.info("preview_finished job=%s intersection=%s state=%s error=%s wall_s=%.1f", job_id, intersection_id,
                 outcome["state"], outcome.get("error"), (now - started).total_seconds())

    async def _follow(self, job_id: str, intersection_id: str | None, reader: Connection,
                      proc: BaseProcess) -> dict[str, Any]:
        written = 0.0
        while True:
            message = await asyncio.to_thread(_receive, reader)
            if message is None:
                await asyncio.to_thread(proc.join, 5.0)
                return {"state": "failed", "error": "worker_died",
                        "message": f"the worker process ended without an answer (exit code {proc.exitcode})"}
            if message[0] == "progress":
                p = float(message[1])
                if p - written >= PROGRESS_WRITE_STEP:
                    written = p
                    await self._update(job_id, progress=p)
                    self._publish(job_id, intersection_id, "running", p)
            elif message[0] == "done":
                return {"state": "done", "result": message[1], "error": None}
            else:
                return {"state": "failed", "error": str(message[1])[:32], "message": str(message[2])}

    def kill_all(self) -> None:
        """Kill every running worker process (shutdown)."""
        for proc in list(self._procs.values()):
            if proc.is_alive():
                proc.kill()


def _receive(reader: Connection) -> tuple[Any, ...] | None:
    try:
        message = reader.recv()
    except (EOFError, OSError):
        return None
    return message if isinstance(message, tuple) and message else None
