"""A real feedback process with OTEL_EXPORTER_OTLP_ENDPOINT set (same database and neighbours as
the stack's) exports the span of the RPC it handled and of the call it made to the program
service, in the caller's trace, to an OTLP/HTTP endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from tests.observability.test_traces import new_program, submission
from tests.support.otlp import Collector
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.services import ServiceProcess, ServiceStack

Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


@pytest.fixture(scope="module")
def exporting_feedback(
    stack: ServiceStack, collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    port = free_port()
    env = {**stack.env, "IRONPATH_FEEDBACK_PORT": str(port), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
    process = ServiceProcess("feedback", port, env, Path(tmp_path_factory.mktemp("otlp")) / "feedback.log")
    process.start()
    try:
        process.wait_serving()
        yield process
    finally:
        process.stop()


def test_the_rpc_and_its_outbound_calls_are_exported_as_spans_of_the_callers_trace(
    exporting_feedback: ServiceProcess,
    collector: Collector,
    channels: dict[str, grpc.Channel],
    token_for: Callable[[str], Metadata],
    user_id: str,
) -> None:
    md = token_for(user_id)
    program_id = new_program(channels["program"], md)
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with grpc.insecure_channel(exporting_feedback.address) as channel:
        pb_grpc.FeedbackServiceStub(channel).SubmitWorkoutFeedback(
            submission(program_id, 3, 1), metadata=[*md, ("traceparent", f"00-{trace_id}-{parent}-01")], timeout=15
        )

    def spans() -> list[dict[str, object]]:
        found = [span for span in collector.spans() if span["traceId"] == trace_id]
        return found if len(found) >= 3 else []

    exported = wait_for(spans, timeout=10, what="the exported spans")
    assert isinstance(exported, list)
    by_name = {str(span["name"]): span for span in exported}
    server = by_name["ironpath.feedback.v1.FeedbackService/SubmitWorkoutFeedback"]
    planned = by_name["ironpath.program.v1.ProgramInternalService/GetPlannedSession"]
    record = by_name["ironpath.progress.v1.ProgressInternalService/RecordSessionFeedback"]
    assert server["kind"] == 2 and server["parentSpanId"] == parent
    # The outbound calls (one direct, one the outbox delivery) are client spans under the RPC's span.
    for client in (planned, record):
        assert client["kind"] == 3 and client["parentSpanId"] == server["spanId"]
        assert client["status"] == {"code": 0}
    _, headers, body = collector.requests[-1]
    assert headers["content-type"] == "application/json"
    resource = body["resourceSpans"][0]["resource"]  # type: ignore[index]
    assert {"key": "service.name", "value": {"stringValue": "ironpath-feedback"}} in resource["attributes"]
