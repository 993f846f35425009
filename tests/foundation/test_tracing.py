"""The W3C trace context rules, the JSON log fields they feed, and the OTLP export's settings and
wire format (against a local HTTP endpoint standing in for a collector)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from ironpath_common.logging import JsonFormatter
from ironpath_common.otlp import OtlpExporter
from ironpath_common.settings import ConfigError, OtlpSettings
from ironpath_common.tracing import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    FinishedSpan,
    SpanContext,
    continuing,
    current_span,
    parse_traceparent,
    server_span,
    set_current,
)
from tests.support.otlp import Collector

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


def test_a_valid_traceparent_names_its_trace_span_and_flags() -> None:
    assert parse_traceparent(VALID) == SpanContext(TRACE, SPAN, "01")
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-00") == SpanContext(TRACE, SPAN, "00")
    # A later version may add fields; what version 00 defines is still read.
    assert parse_traceparent(f"01-{TRACE}-{SPAN}-01-whatever") == SpanContext(TRACE, SPAN, "01")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"00-{TRACE.upper()}-{SPAN}-01",  # uppercase hex
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01",  # the forbidden version
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 is exactly 55 characters
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-1",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str) -> None:
    assert parse_traceparent(value) is None


def test_a_handled_rpc_is_a_new_child_span_of_the_callers() -> None:
    span = server_span(VALID)
    assert span.trace_id == TRACE and span.parent_span_id == SPAN and span.flags == "01"
    assert span.span_id != SPAN and len(span.span_id) == 16
    child = span.child()
    assert child.trace_id == TRACE and child.parent_span_id == span.span_id
    assert child.traceparent == f"00-{TRACE}-{child.span_id}-01"


def test_a_trace_started_here_takes_a_uuid_request_id_as_its_trace_id() -> None:
    span = server_span(None, "6F2A0C1E-8B7D-4C3B-9A51-0123456789AB")
    assert span.trace_id == "6f2a0c1e8b7d4c3b9a510123456789ab" and span.parent_span_id == ""
    other = server_span("not-a-traceparent", "req-logged-1")
    assert len(other.trace_id) == 32 and other.trace_id != server_span(None, "req-logged-1").trace_id
    assert other.flags == "01"


def test_a_stored_trace_is_current_only_inside_its_block() -> None:
    token = set_current(None)
    try:
        with continuing(VALID) as span:
            assert span == current_span() == SpanContext(TRACE, SPAN, "01")
        assert current_span() is None
        with continuing(None):
            assert current_span() is None
    finally:
        set_current(None)
        del token


def test_every_log_line_in_a_span_names_its_trace_and_span() -> None:
    formatter = JsonFormatter("feedback")
    record = logging.LogRecord("ironpath.rpc", logging.INFO, __file__, 1, "rpc", (), None)
    assert "trace_id" not in json.loads(formatter.format(record))
    with continuing(VALID):
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == TRACE and line["span_id"] == SPAN


# --- OTLP -----------------------------------------------------------------------------------


def test_export_is_off_unless_an_endpoint_is_configured() -> None:
    assert OtlpSettings.from_env("progress", {}) is None
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert OtlpSettings.from_env("progress", {**env, "OTEL_SDK_DISABLED": "true"}) is None
    settings = OtlpSettings.from_env("progress", env)
    assert settings is not None
    assert settings.traces_url == "http://collector:4318/v1/traces"
    assert settings.service_name == "ironpath-progress"
    explicit = OtlpSettings.from_env(
        "progress",
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example/custom",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D,x-tenant=ironpath",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_SERVICE_NAME": "progress-eu",
        },
    )
    assert explicit == OtlpSettings(
        "https://otel.example/custom", {"api-key": "abc=", "x-tenant": "ironpath"}, 2.5, "progress-eu"
    )


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
    ],
)
def test_an_export_setting_it_cannot_honour_stops_the_service(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        OtlpSettings.from_env("progress", env)


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


def test_spans_are_posted_as_otlp_json_with_the_ids_the_logs_show(collector: Collector) -> None:
    settings = OtlpSettings.from_env(
        "feedback",
        {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Basic x"},
    )
    assert settings is not None
    server = server_span(VALID)
    client = server.child()
    method = "/ironpath.program.v1.ProgramInternalService/GetPlannedSession"

    async def export() -> OtlpExporter:
        exporter = OtlpExporter(settings)
        exporter.add(
            FinishedSpan(server, "/ironpath.feedback.v1.FeedbackService/SubmitWorkoutFeedback", 2, 10, 30, "OK")
        )
        exporter.add(FinishedSpan(client, method, SPAN_KIND_CLIENT, 12, 20, "UNAVAILABLE"))
        await exporter.flush()
        return exporter

    exporter = asyncio.run(export())
    assert exporter.exported == 2 and exporter.dropped == 0
    ((path, headers, body),) = collector.requests
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/json" and headers["authorization"] == "Basic x"
    resource = body["resourceSpans"][0]["resource"]  # type: ignore[index]
    assert resource == {"attributes": [{"key": "service.name", "value": {"stringValue": "ironpath-feedback"}}]}
    first, second = collector.spans()
    assert first["traceId"] == TRACE and first["spanId"] == server.span_id and first["parentSpanId"] == SPAN
    assert (
        first["kind"] == SPAN_KIND_SERVER
        and first["name"] == "ironpath.feedback.v1.FeedbackService/SubmitWorkoutFeedback"
    )
    assert first["startTimeUnixNano"] == "10" and first["endTimeUnixNano"] == "30"
    assert first["status"] == {"code": 0}
    assert second["parentSpanId"] == server.span_id and second["kind"] == SPAN_KIND_CLIENT
    assert second["status"] == {"code": 2, "message": "UNAVAILABLE"}
    attributes = {a["key"]: a["value"] for a in second["attributes"]}  # type: ignore[index,union-attr]
    assert attributes == {
        "rpc.system": {"stringValue": "grpc"},
        "rpc.service": {"stringValue": "ironpath.program.v1.ProgramInternalService"},
        "rpc.method": {"stringValue": "GetPlannedSession"},
        "rpc.grpc.status_code": {"intValue": "14"},
    }


def test_an_unreachable_endpoint_drops_spans_and_never_raises() -> None:
    settings = OtlpSettings("http://127.0.0.1:9/v1/traces", {}, 0.5, "ironpath-test")

    async def export() -> OtlpExporter:
        exporter = OtlpExporter(settings)
        exporter.add(FinishedSpan(server_span(None), "/a.B/C", SPAN_KIND_SERVER, 1, 2, "OK"))
        await exporter.flush()
        return exporter

    exporter = asyncio.run(export())
    assert exporter.exported == 0 and exporter.dropped == 1
