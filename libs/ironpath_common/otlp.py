"""OpenTelemetry export of the services' spans, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Deliberately small and dependency-free (no opentelemetry-sdk): it exports exactly two kinds of
span, over OTLP/HTTP with the JSON encoding (`POST <endpoint>/v1/traces`, which the OpenTelemetry
Collector, Jaeger, Tempo and most vendors accept):

- a SERVER span for every RPC a service handles (health checks and reflection excepted), a child
  of the caller's `traceparent`;
- a CLIENT span for every call a service makes to another (`ServiceChannel`), including the
  outbox relay's deliveries, which are children of the span of the RPC that wrote the event.

Each span has the trace, span and parent ids the logs show, the full method as its name, the
start and end times, `rpc.system`/`rpc.service`/`rpc.method`/`rpc.grpc.status_code` attributes,
and an error status for failures. There are no span events, links, baggage, metrics or logs,
and no sampling beyond the caller's flag (every span is exported). Spans are sent in batches
every couple of seconds; a batch the endpoint does not take is dropped with a warning (tracing
never slows or fails an RPC), and at most `MAX_QUEUED` spans wait in memory.

The standard variables it reads: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as the full URL), `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_EXPORTER_OTLP_TIMEOUT` (ms), `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`, and the protocol
variables, which must be unset or `http/json` (the only encoding implemented).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import urllib.request
from typing import Any

from google.rpc import code_pb2

from ironpath_common.settings import OtlpSettings
from ironpath_common.tracing import SPAN_KIND_SERVER, FinishedSpan

logger = logging.getLogger(__name__)

MAX_QUEUED = 4096
BATCH_SIZE = 512
FLUSH_SECONDS = 2.0
# gRPC codes a server span reports as an error (OpenTelemetry's semantic conventions); on a client
# span every code but OK is one.
SERVER_ERROR_CODES = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
STATUS_UNSET, STATUS_ERROR = 0, 2


class OtlpExporter:
    """Queues finished spans (`add`, from any coroutine) and posts them in batches (`run`)."""

    def __init__(self, settings: OtlpSettings) -> None:
        self.settings = settings
        self._queue: collections.deque[FinishedSpan] = collections.deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self.dropped = 0
        self.exported = 0
        self._failing = False

    def add(self, span: FinishedSpan) -> None:
        if len(self._queue) == MAX_QUEUED:
            self.dropped += 1
        self._queue.append(span)
        if len(self._queue) >= BATCH_SIZE:
            self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=FLUSH_SECONDS)
                self._wake.clear()
                await self.flush()
        finally:
            # Stopping: what is queued still goes out, briefly.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.flush()), timeout=self.settings.timeout_seconds)

    async def flush(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH_SIZE, len(self._queue)))]
            body = json.dumps(self.payload(batch), separators=(",", ":")).encode()
            try:
                await asyncio.to_thread(self._post, body)
            except Exception as error:  # the endpoint is away: drop the batch, keep serving
                if not self._failing:
                    logger.warning("trace export failed, dropping spans until it works: %s", error)
                self._failing = True
                self.dropped += len(batch)
                return
            if self._failing:
                logger.info("trace export works again")
            self._failing = False
            self.exported += len(batch)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked at start
            self.settings.traces_url,
            data=body,
            method="POST",
            headers={**self.settings.headers, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as response:  # noqa: S310
            response.read()

    def payload(self, spans: list[FinishedSpan]) -> dict[str, Any]:
        """The OTLP/JSON ExportTraceServiceRequest for these spans (ids as hex, times as strings)."""
        return {
            "resourceSpans": [
                {
                    "resource": {"attributes": [_attribute("service.name", self.settings.service_name)]},
                    "scopeSpans": [{"scope": {"name": "ironpath"}, "spans": [_span(span) for span in spans]}],
                }
            ]
        }


def _attribute(key: str, value: str | int) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _span(span: FinishedSpan) -> dict[str, Any]:
    service, _, method = span.name.strip("/").partition("/")
    errors = SERVER_ERROR_CODES if span.kind == SPAN_KIND_SERVER else None
    failed = span.grpc_code != "OK" and (errors is None or span.grpc_code in errors)
    encoded: dict[str, Any] = {
        "traceId": span.context.trace_id,
        "spanId": span.context.span_id,
        "name": f"{service}/{method}",
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": [
            _attribute("rpc.system", "grpc"),
            _attribute("rpc.service", service),
            _attribute("rpc.method", method),
            _attribute("rpc.grpc.status_code", _code_number(span.grpc_code)),
        ],
        "status": {"code": STATUS_ERROR, "message": span.grpc_code} if failed else {"code": STATUS_UNSET},
    }
    if span.context.parent_span_id:
        encoded["parentSpanId"] = span.context.parent_span_id
    return encoded


def _code_number(name: str) -> int:
    try:
        return int(code_pb2.Code.Value(name))
    except ValueError:
        return int(code_pb2.UNKNOWN)
