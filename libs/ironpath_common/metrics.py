"""Prometheus metrics of one service process, served over plain HTTP on its own port.

- `grpc_server_started_total`, `grpc_server_handled_total` (by `grpc_code`) and the
  `grpc_server_handling_seconds` histogram (unary RPCs; a stream's lifetime says nothing about
  latency), labelled `grpc_type`, `grpc_service`, `grpc_method` — the names go-grpc-prometheus and
  the grpc-ecosystem dashboards use, so existing dashboards and alerts work unchanged.
- `ironpath_db_pool_size` and `ironpath_db_pool_checked_out_connections`: the SQLAlchemy pool.
- Services with an outbox: `ironpath_outbox_pending_events` and
  `ironpath_outbox_oldest_pending_age_seconds` by destination (read from the outbox table on each
  scrape: one grouped query over the pending-events partial index), and
  `ironpath_outbox_deliveries_total` by destination and result (`delivered`, `retry`, `refused`)
  counted by this process's relay.
- The client library's own `process_*` and `python_*` metrics.

Every replica shares its service's database, so the outbox gauges read the same from each:
aggregate them with max(), not sum().
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ironpath_common.db import transaction
from ironpath_common.outbox import OutboxRelay

logger = logging.getLogger(__name__)

# 1 ms to 5 s: a cached read answers in a few ms, GenerateProgram with the built-in engine in tens
# of ms, anything near the 5 s dependency deadline is already a failure in the making.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OUTBOX_QUERY_SECONDS = 2.0
UNARY, SERVER_STREAM = "unary", "server_stream"


class ServiceMetrics:
    """The registry a process serves, and the RPC metrics the interceptor feeds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started", "RPCs started on the server.", labels, registry=self.registry)
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by gRPC status code.",
            [*labels, "grpc_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of a unary RPC to its status, in seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def rpc_started(self, grpc_type: str, method: str) -> None:
        service, name = split_method(method)
        self.started.labels(grpc_type, service, name).inc()

    def rpc_handled(self, grpc_type: str, method: str, code: str, seconds: float) -> None:
        service, name = split_method(method)
        self.handled.labels(grpc_type, service, name, code).inc()
        if grpc_type == UNARY:
            self.latency.labels(grpc_type, service, name).observe(seconds)

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def serve(self, host: str, port: int) -> int:
        """Starts the HTTP endpoint in a daemon thread; returns the port it listens on."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def split_method(method: str) -> tuple[str, str]:
    """`/pkg.Service/Method` as (`pkg.Service`, `Method`)."""
    service, _, name = method.strip("/").partition("/")
    return service, name


class PoolCollector(Collector):
    """The SQLAlchemy pool's size and the connections checked out of it, read on each scrape."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._pool = engine.sync_engine.pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = getattr(self._pool, "size", None)
        checked_out = getattr(self._pool, "checkedout", None)
        if size is None or checked_out is None:  # a pool without counts (NullPool)
            return
        yield GaugeMetricFamily("ironpath_db_pool_size", "Connections the database pool may hold.", size())
        yield GaugeMetricFamily(
            "ironpath_db_pool_checked_out_connections",
            "Database connections in use by RPCs and background work right now.",
            checked_out(),
        )


class OutboxCollector(Collector):
    """Pending events and the age of the oldest, by destination, read from the outbox table on each
    scrape; and the relay's delivery results. The scrape runs in the metrics thread, the query on
    the service's event loop."""

    def __init__(self, relay: OutboxRelay, loop: asyncio.AbstractEventLoop) -> None:
        self._relay = relay
        self._loop = loop

    async def _pending(self) -> dict[str, tuple[int, float]]:
        t = self._relay.table
        async with transaction(self._relay.sessions) as session:
            rows = (
                await session.execute(
                    select(
                        t.c.destination,
                        func.count(),
                        func.extract("epoch", func.now() - func.min(t.c.created_at)),
                    )
                    .where(t.c.sent_at.is_(None), t.c.failed_at.is_(None))
                    .group_by(t.c.destination)
                )
            ).all()
        return {row[0]: (int(row[1]), max(float(row[2] or 0), 0.0)) for row in rows}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self._pending(), self._loop)
        try:
            pending: dict[str, tuple[int, float]] | None = future.result(timeout=OUTBOX_QUERY_SECONDS)
        except Exception as error:  # the database is away (or slow): leave the gauges out of this scrape
            future.cancel()
            logger.warning("outbox metrics unavailable: %s", type(error).__name__)
            pending = None
        if pending is not None:
            count = GaugeMetricFamily(
                "ironpath_outbox_pending_events",
                "Outbox events not yet delivered (and not refused for good), by destination.",
                labels=["destination"],
            )
            age = GaugeMetricFamily(
                "ironpath_outbox_oldest_pending_age_seconds",
                "Age of the oldest undelivered outbox event, by destination (0 when none).",
                labels=["destination"],
            )
            for destination in sorted({*self._relay.destinations, *pending}):
                events, seconds = pending.get(destination, (0, 0.0))
                count.add_metric([destination], events)
                age.add_metric([destination], seconds if events else 0.0)
            yield count
            yield age
            logger.debug("outbox metrics read in %.3f s", time.monotonic() - started)
        deliveries = CounterMetricFamily(
            "ironpath_outbox_deliveries",
            "Delivery attempts by this process's relay, by destination and result.",
            labels=["destination", "result"],
        )
        for (destination, result), value in sorted(self._relay.outcomes.items()):
            deliveries.add_metric([destination, result], value)
        yield deliveries
