"""W3C trace context (`traceparent`) through every hop, without a tracing SDK.

Each RPC a service handles is a span: the interceptor reads the caller's `traceparent` and starts
a child of it, or starts a new trace when none arrives. The current span lives in a contextvar,
so every JSON log line names its trace and span (`ironpath_common.logging`), every outbound call
sends a child span's `traceparent` (`ironpath_common.clients`), and every outbox event stores the
`traceparent` of the RPC that wrote it, so the relay's later delivery continues the same trace.

A trace that starts here takes the request id as its trace id when that id is a UUID (Envoy
makes one for every request), so the gateway's access log and the services' logs share one id.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans are also exported (`ironpath_common.otlp`);
without it nothing here does any I/O.
"""

from __future__ import annotations

import contextvars
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

TRACEPARENT = "traceparent"
_VERSION = "00"
_SAMPLED = "01"
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
# version-traceid-parentid-flags; a later version may append fields after another dash.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_UUID_HEX = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class SpanContext:
    """One span of a trace: ids as lowercase hex, and the span it is a child of (if any)."""

    trace_id: str
    span_id: str
    flags: str = _SAMPLED
    parent_span_id: str = ""

    @property
    def traceparent(self) -> str:
        return f"{_VERSION}-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> SpanContext:
        return SpanContext(self.trace_id, new_span_id(), self.flags, self.span_id)


_current: contextvars.ContextVar[SpanContext | None] = contextvars.ContextVar("span", default=None)


def new_span_id() -> str:
    while (span_id := secrets.token_hex(8)) == _INVALID_SPAN_ID:
        pass
    return span_id


def new_trace_id() -> str:
    while (trace_id := secrets.token_hex(16)) == _INVALID_TRACE_ID:
        pass
    return trace_id


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The span a `traceparent` header names, or None when the header is absent or invalid (the
    W3C rule: an invalid header is ignored and a new trace starts)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == _VERSION and rest) or trace_id == _INVALID_TRACE_ID:
        return None
    if span_id == _INVALID_SPAN_ID:
        return None
    return SpanContext(trace_id, span_id, flags)


def server_span(incoming: str | None, request_id: str = "") -> SpanContext:
    """The span of an RPC being handled: a child of the caller's span, or the root of a new
    trace (trace id = the request id when it is a UUID, else random; sampled)."""
    parent = parse_traceparent(incoming)
    if parent is not None:
        return parent.child()
    candidate = request_id.replace("-", "").lower()
    trace_id = candidate if _UUID_HEX.match(candidate) and candidate != _INVALID_TRACE_ID else new_trace_id()
    return SpanContext(trace_id, new_span_id())


def current_span() -> SpanContext | None:
    return _current.get()


def current_traceparent() -> str | None:
    span = _current.get()
    return span.traceparent if span is not None else None


def set_current(span: SpanContext | None) -> contextvars.Token[SpanContext | None]:
    return _current.set(span)


@contextmanager
def continuing(traceparent: str | None) -> Iterator[SpanContext | None]:
    """Runs a block as part of a stored trace (an outbox event's): its log lines and outbound
    calls carry that trace. A missing or bad value runs the block outside any trace."""
    token = _current.set(parse_traceparent(traceparent))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# ---------------------------------------------------------------------------------------------
# Export: a sink for finished spans, set once at start when an OTLP endpoint is configured.

SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3


@dataclass(frozen=True)
class FinishedSpan:
    context: SpanContext
    name: str
    kind: int
    start_ns: int
    end_ns: int
    # The gRPC status code name ("OK", "UNAVAILABLE", ...).
    grpc_code: str


class SpanSink(Protocol):
    def add(self, span: FinishedSpan) -> None: ...


_sink: SpanSink | None = None


def set_sink(sink: SpanSink | None) -> None:
    global _sink
    _sink = sink


def exporting() -> bool:
    return _sink is not None


def record(context: SpanContext, name: str, kind: int, start_ns: int, grpc_code: str) -> None:
    """Hands a finished span to the exporter, if one is configured (a no-op otherwise)."""
    sink = _sink
    if sink is not None:
        sink.add(FinishedSpan(context, name, kind, start_ns, time.time_ns(), grpc_code))
