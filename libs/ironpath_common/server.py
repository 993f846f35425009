"""The server factory every service starts through: grpc.aio with the interceptor, standard
health (SERVING only while the database answers), reflection, Prometheus metrics on their own
HTTP port, span export when an OTLP endpoint is configured, and a graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
import sqlalchemy.exc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.ext.asyncio import AsyncEngine

from ironpath_common.auth import ServiceTokenVerifier, UserTokenVerifier
from ironpath_common.db import create_engine, create_sessionmaker, ping, prepare_database
from ironpath_common.interceptors import Auth, ServerInterceptor
from ironpath_common.logging import configure_logging
from ironpath_common.metrics import OutboxCollector, PoolCollector, ServiceMetrics
from ironpath_common.otlp import OtlpExporter
from ironpath_common.outbox import OutboxRelay
from ironpath_common.ratelimit import RateLimiter
from ironpath_common.retention import PurgeRule, check_rules, purge_once
from ironpath_common.settings import ConfigError, ServiceSettings
from ironpath_common.tracing import set_sink

logger = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

HEALTH_PROBE_SECONDS = 2.0
LIVENESS = "liveness"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class GrpcService:
    """One gRPC service a process serves: its full name, servicer, registration and who may call it."""

    full_name: str
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    auth: Auth


@dataclass
class App:
    """What a service process serves: its gRPC services, how to tell its database answers,
    background work that lives as long as the server (relays, listeners), what to close, and
    what its metrics endpoint reports besides the RPCs (its pool, its outbox; an outbox's
    deliveries are also marked before it stops)."""

    services: Sequence[GrpcService]
    database_ready: Callable[[], Awaitable[bool]]
    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    engine: AsyncEngine | None = None
    outboxes: list[OutboxRelay] = field(default_factory=list)


def sqlalchemy_app(engine: AsyncEngine, services: Sequence[GrpcService]) -> App:
    """An App whose database is one SQLAlchemy engine, disposed on stop."""
    return App(services, lambda: ping(engine), on_stop=[engine.dispose], engine=engine)


def _start_metrics(settings: ServiceSettings, app: App) -> ServiceMetrics:
    metrics = ServiceMetrics()
    if app.engine is not None:
        metrics.add(PoolCollector(app.engine))
    for relay in app.outboxes:
        metrics.add(OutboxCollector(relay, asyncio.get_running_loop()))
    if settings.metrics_port:
        try:
            port = metrics.serve(settings.host, settings.metrics_port)
        except OSError as error:
            logger.error("metrics port %s:%s unavailable: %s", settings.host, settings.metrics_port, error)
            sys.exit(1)
        logger.info("metrics at http://%s:%s/metrics", settings.host, port)
    return metrics


async def serve(settings: ServiceSettings, app: App, stop: asyncio.Event | None = None) -> None:
    """Runs until SIGTERM/SIGINT (or `stop` is set), then drains and returns."""
    services = app.services
    policies = {s.full_name: s.auth for s in services}
    policies[health.SERVICE_NAME] = Auth.NONE
    policies[reflection.SERVICE_NAME] = Auth.NONE
    metrics = _start_metrics(settings, app)
    exporter = OtlpExporter(settings.otlp) if settings.otlp is not None else None
    set_sink(exporter)
    interceptor = ServerInterceptor(
        policies,
        UserTokenVerifier(settings.auth),
        ServiceTokenVerifier(settings.auth),
        RateLimiter(settings.rate_limit),
        metrics,
    )
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 * 1024 * 1024)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        service.add_to_server(service.servicer, server)
    reflection.enable_server_reflection(
        [s.full_name for s in services] + [health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    # The library starts "" as SERVING; nothing is SERVING until the database answers.
    names = ["", *(s.full_name for s in services)]
    for name in names:
        await health_servicer.set(name, NOT_SERVING)

    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    await server.start()
    # Liveness asks only "is this process answering": SERVING from start to stop, whatever the
    # database does, so an outage takes pods out of traffic (readiness) without restarting them.
    await health_servicer.set(LIVENESS, SERVING)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    monitor = asyncio.create_task(_monitor_database(app.database_ready, health_servicer, names))
    background = [asyncio.create_task(task()) for task in app.tasks]
    export = asyncio.create_task(exporter.run()) if exporter is not None else None
    if exporter is not None:
        logger.info("exporting spans to %s", exporter.settings.traces_url)
    # Objects made during start-up live for the whole process: keep them out of GC scans.
    gc.collect()
    gc.freeze()
    logger.info("listening", extra={"port": port})
    await stop.wait()

    logger.info("stopping", extra={"grace_seconds": settings.grace_seconds})
    monitor.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace_seconds)
    for task in background:
        task.cancel()
    for task in [monitor, *background]:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for relay in app.outboxes:  # the last deliveries' marks, before the engine goes
        await relay.flush()
    for hook in app.on_stop:
        await hook()
    if export is not None:  # last: the relay's final deliveries made spans too
        export.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await export
        set_sink(None)
    metrics.stop()
    logger.info("stopped")


async def _monitor_database(
    database_ready: Callable[[], Awaitable[bool]], health_servicer: health.aio.HealthServicer, names: list[str]
) -> None:
    serving: bool | None = None
    while True:
        ok = await database_ready()
        if ok != serving:
            serving = ok
            logger.log(logging.INFO if ok else logging.WARNING, "database %s", "reachable" if ok else "unreachable")
            for name in names:
                await health_servicer.set(name, SERVING if ok else NOT_SERVING)
        await asyncio.sleep(HEALTH_PROBE_SECONDS)


COMMANDS = ("migrate", "purge")


def main(
    load_settings: Callable[[], SettingsT],
    migrations: Path,
    build: Callable[[SettingsT], Awaitable[App]],
    argv: Sequence[str],
    purge_rules: Sequence[PurgeRule] = (),
) -> None:
    """A service process: settings, logging, its database created and migrated, then serve
    until stopped. `<service> migrate` stops after migrating (a deploy-time job);
    `<service> purge` then runs the retention job once (a cron job's alternative to the
    in-process schedule). A bad setting or an unreachable database stops the process with
    one line, not a traceback."""
    command = list(argv[1:])
    if command and (len(command) != 1 or command[0] not in COMMANDS):
        sys.exit(f"usage: {Path(argv[0]).parent.name or 'service'} [{' | '.join(COMMANDS)}]")
    try:
        settings = load_settings()
        check_rules(purge_rules, settings.retention)
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(settings.name, settings.log_level)
    try:
        prepare_database(settings.database_url, migrations, f"{settings.name}_alembic_version")
    except (OSError, asyncpg.PostgresError, sqlalchemy.exc.OperationalError) as error:
        logger.error("database unavailable at start: %s", error)
        sys.exit(1)
    if command == ["migrate"]:
        return
    if command == ["purge"]:
        asyncio.run(_purge(settings, purge_rules))
        return

    async def run() -> None:
        await serve(settings, await build(settings))

    asyncio.run(run())


async def _purge(settings: ServiceSettings, rules: Sequence[PurgeRule]) -> None:
    engine = create_engine(settings.database_url, pool_size=1, application_name=f"{settings.name}_purge")
    try:
        deleted = await purge_once(create_sessionmaker(engine), rules, settings.retention)
    finally:
        await engine.dispose()
    logger.info("purge finished", extra={"deleted": deleted})
