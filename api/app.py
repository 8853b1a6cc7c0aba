"""The FastAPI application: `create_app(deps)` wires routes, errors, the status page and the lifespan.

The lifespan migrates the DB (when `auto_migrate`), opens the engine, loads active alarms, and runs every background
loop (the bus listener, the sweepers of commands and deploys, the control renewer, schedule compliance: the list
passed to the TaskGroup below is the one place that says which) under `supervise`, in one TaskGroup; on shutdown
they are cancelled and the engine is disposed. A loop that fails unexpectedly is logged, counted and restarted with
exponential backoff and jitter (the one supervised top), so one bad message or a DB hiccup never stops live updates.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import lighting_runtime, measures_schedule, plans_runtime, problems
from api.alarm_store import AlarmStore
from api.command_signing import CommandSigner
from api.config import tile_origin
from api.db import create_engine, migrate, session_factory
from api.dispatch import CommandDispatcher
from api.hub import EventHub
from api.limits import BodyLimitMiddleware, SlidingWindow
from api.listener import BusListener
from api.live import DeviceCache
from api.metrics import Metrics, MetricsMiddleware, StateCollector
from api.photos import is_photo_path
from api.routes import (
    alarms,
    audit,
    auth,
    commands,
    control,
    devices,
    docs,
    health,
    intersections,
    lighting,
    plans,
    pwa,
    registry,
    reports,
    stream,
    telemetry,
    tokens,
    users,
    work_orders,
)
from api.routes import events as event_routes
from api.routes import geometry as geometry_routes
from api.routes import lighting_lamps as lamp_routes
from api.routes import measures as measure_routes
from api.routes import previews as preview_routes
from api.routes import ui_config as ui_config_routes
from api.security_headers import SecurityHeadersMiddleware
from api.state import ApiDeps, ApiState
from api.twin_jobs import PreviewJobs
from controllers.clock import Clock

__all__ = ["ApiDeps", "create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0


async def supervise(name: str, loop: Callable[[], Awaitable[None]], clock: Clock) -> None:
    """Run `loop` forever; restart it after an unexpected error with backoff and jitter. Cancellation ends it."""
    delay = BACKOFF_MIN_S
    failures = 0
    while True:
        started = clock.monotonic()
        try:
            await loop()
            log.warning("task_ended task=%s", name)
        except Exception as exc:  # supervised top of a long-lived loop: log, count, back off, restart
            failures += 1
            log.exception("task_failed task=%s failures=%s error=%s", name, failures, type(exc).__name__)
        if clock.monotonic() - started > BACKOFF_MAX_S:
            delay = BACKOFF_MIN_S  # it ran a good while: a fresh failure, not a crash loop
        await clock.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, BACKOFF_MAX_S)


def command_signer(deps: ApiDeps) -> CommandSigner:
    """The signer the composition root gave, or outside production one made up for this process."""
    if deps.signer is not None:
        return deps.signer
    if deps.settings.environment == "production":
        raise RuntimeError("no command signing key: in production the API needs command_signing_key")
    signer = CommandSigner.generate()
    log.warning("command_signing_key_ephemeral kid=%s", signer.kid)
    return signer


def create_app(deps: ApiDeps) -> FastAPI:
    """The API application. Serve it with uvicorn, or drive `app.router.lifespan_context(app)` in tests."""
    settings = deps.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await migrate(settings.db_url)
        engine = create_engine(settings.db_url)
        sessions = session_factory(engine)
        hub = EventHub(buffer=settings.stream_buffer, client_queue=settings.stream_client_queue)
        cache = DeviceCache()
        dispatcher = CommandDispatcher(sessions, deps.bus, deps.clock, settings, signer=command_signer(deps))
        alarm_store = AlarmStore(sessions, hub)
        await alarm_store.load()
        listener = BusListener(deps.bus, cache, hub, sessions, dispatcher, alarm_store, deps.clock,
                               first_sight=deps.first_sight, offline_grace_s=settings.device_offline_grace_s)
        await listener.preload()
        app.state.api = ApiState(deps=deps, engine=engine, sessions=sessions, cache=cache, hub=hub,
                                 dispatcher=dispatcher, alarms=alarm_store, listener=listener,
                                 started_at=deps.clock.now(),
                                 login_limiter=SlidingWindow(settings.login_rate_per_min, 60.0))
        app.state.plans = runtime = plans_runtime.build(app.state.api)
        app.state.lighting = lighting_rt = lighting_runtime.build(app.state.api)
        app.state.measures = measures_scheduler = measures_schedule.start(app.state.api)
        app.state.previews = previews = PreviewJobs(sessions, hub, deps.clock, settings, settings.site)
        await previews.recover()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(supervise("bus_listener", listener.run, deps.clock)),
                         tg.create_task(supervise("command_sweeper", dispatcher.run_sweeper, deps.clock)),
                         tg.create_task(supervise("deploy_results", runtime.deploys.run, deps.clock)),
                         tg.create_task(supervise("deploy_sweeper", runtime.deploys.run_sweeper, deps.clock)),
                         tg.create_task(supervise("control_renewer", runtime.control.run, deps.clock)),
                         tg.create_task(supervise("schedule_compliance", runtime.compliance.run, deps.clock)),
                         tg.create_task(supervise("lighting_deploy_results", lighting_rt.deploys.run, deps.clock)),
                         tg.create_task(supervise("lighting_deploy_sweeper", lighting_rt.deploys.run_sweeper,
                                                  deps.clock)),
                         tg.create_task(supervise("lighting_override_reconcile", lighting_rt.overrides.run,
                                                  deps.clock))]
                tasks += [tg.create_task(supervise(f"preview_worker_{n}", previews.run, deps.clock))
                          for n in range(settings.twin_workers)]
                log.info("api_started environment=%s site=%s", settings.environment, settings.site)
                try:
                    yield
                finally:
                    for task in tasks:
                        task.cancel()
        finally:
            if measures_scheduler is not None:
                measures_scheduler.shutdown(wait=False)
            previews.kill_all()
            await engine.dispose()
            log.info("api_stopped")

    app = FastAPI(title="signalight control API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Traffic signals and street lighting: devices, commands, alarms, live stream.")
    problems.install(app)
    metrics = Metrics()
    metrics.registry.register(StateCollector(lambda: getattr(app.state, "api", None)))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_json_depth=settings.max_json_depth,
                       upload_path=is_photo_path, max_upload_bytes=settings.photo_max_bytes)
    app.add_middleware(SecurityHeadersMiddleware, img_origin=tile_origin(settings.map_tile_url))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    for module in (auth, devices, registry, telemetry, commands, alarms, stream, intersections, audit, users, tokens,
                   health, plans, control, lighting):
        app.include_router(module.router)
    app.include_router(docs.router)  # Swagger UI from the package, under the page's CSP
    app.include_router(event_routes.router)
    app.include_router(measure_routes.router)
    app.include_router(pwa.router)  # the phone app's service worker and manifest at the root
    app.include_router(ui_config_routes.router)
    app.include_router(work_orders.router)
    app.include_router(reports.router)  # public: the citizens' page and endpoints, no token
    app.include_router(lamp_routes.router)
    app.include_router(geometry_routes.router)
    app.include_router(preview_routes.router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app
