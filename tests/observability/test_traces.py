"""One W3C trace through every service a feedback submission touches, read back from the real
processes' JSON logs: feedback (the RPC), program (GetPlannedSession, an internal call) and
progress (RecordSessionFeedback, delivered through the feedback service's outbox) — right away,
and late, after the progress service was down."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable

import asyncpg
import grpc
import pytest

from gateway.envoy import EnvoyProcess
from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2 as pb
from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from tests.observability.support import json_lines
from tests.support.polling import wait_for
from tests.support.services import ServiceStack

Metadata = list[tuple[str, str]]

SUBMIT = "/ironpath.feedback.v1.FeedbackService/SubmitWorkoutFeedback"
PLANNED = "/ironpath.program.v1.ProgramInternalService/GetPlannedSession"
RECORD = "/ironpath.progress.v1.ProgressInternalService/RecordSessionFeedback"


def new_program(channel: grpc.Channel, md: Metadata) -> str:
    request = program_pb2.GenerateProgramRequest(
        request_id=str(uuid.uuid4()),
        goal=program_pb2.TRAINING_GOAL_STRENGTH,
        weeks=4,
        days_per_week=3,
        methodology_id="linear_progression",
    )
    reply = program_pb2_grpc.ProgramServiceStub(channel).GenerateProgram(request, metadata=md, timeout=30)
    return str(reply.program.program_id)


def submission(program_id: str, week: int = 1, day: int = 1) -> pb.SubmitWorkoutFeedbackRequest:
    return pb.SubmitWorkoutFeedbackRequest(
        request_id=str(uuid.uuid4()),
        session=t.SessionRef(program_id=program_id, week_number=week, day_number=day),
        categories=[t.FEEDBACK_CATEGORY_TOO_HARD],
        session_rpe=9,
    )


def rpc_lines(stack: ServiceStack, service: str, method: str, trace_id: str) -> list[dict[str, object]]:
    """The service's log lines for `method` in that trace (the RPC's own line and any other)."""
    return [
        entry
        for entry in json_lines(stack.services[service].log_path)
        if entry.get("trace_id") == trace_id and entry.get("method") == method
    ]


def rpc_line(stack: ServiceStack, service: str, method: str, trace_id: str) -> dict[str, object] | None:
    lines = [e for e in rpc_lines(stack, service, method, trace_id) if e.get("message") == "rpc"]
    return lines[-1] if lines else None


def new_traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent}-01", trace_id, parent


def test_a_traceparent_sent_through_envoy_reaches_every_service_a_feedback_submission_touches(
    stack: ServiceStack,
    envoy: EnvoyProcess,
    gateway_channel: grpc.Channel,
    channels: dict[str, grpc.Channel],
    token_for: Callable[[str], Metadata],
    user_id: str,
) -> None:
    md = token_for(user_id)
    program_id = new_program(channels["program"], md)
    traceparent, trace_id, parent = new_traceparent()

    pb_grpc.FeedbackServiceStub(gateway_channel).SubmitWorkoutFeedback(
        submission(program_id), metadata=[*md, ("traceparent", traceparent)], timeout=15
    )

    # The outbox delivery happens right after the commit, before the call returns.
    found = {
        "feedback": rpc_line(stack, "feedback", SUBMIT, trace_id),
        "program": rpc_line(stack, "program", PLANNED, trace_id),
        "progress": rpc_line(stack, "progress", RECORD, trace_id),
    }
    assert all(found.values()), {name: line is not None for name, line in found.items()}
    assert all(line and line["status"] == "OK" for line in found.values())
    # Each hop is its own span, none of them the caller's.
    span_ids = {str(line["span_id"]) for line in found.values() if line}
    assert len(span_ids) == 3 and parent not in span_ids
    # Every line the feedback service wrote for the RPC carries the trace, not only the last one.
    assert all(entry["trace_id"] == trace_id for entry in rpc_lines(stack, "feedback", SUBMIT, trace_id))

    # Envoy's access log shows the caller's traceparent next to its request id.
    assert envoy.access_log_path is not None
    access_log = envoy.access_log_path

    def gateway_line() -> dict[str, object] | None:
        lines = [e for e in json_lines(access_log) if e.get("traceparent") == traceparent]
        return lines[-1] if lines else None

    line = wait_for(gateway_line, timeout=5, what="the gateway's access log line")
    assert isinstance(line, dict) and line["path"] == SUBMIT
    assert found["feedback"] is not None and found["feedback"]["request_id"] == line["request_id"]


def test_without_a_traceparent_the_trace_id_is_the_gateways_request_id(
    stack: ServiceStack,
    gateway_channel: grpc.Channel,
    channels: dict[str, grpc.Channel],
    token_for: Callable[[str], Metadata],
    user_id: str,
) -> None:
    md = token_for(user_id)
    program_id = new_program(channels["program"], md)
    request_id = str(uuid.uuid4())
    pb_grpc.FeedbackServiceStub(gateway_channel).SubmitWorkoutFeedback(
        submission(program_id), metadata=[*md, ("x-request-id", request_id)], timeout=15
    )
    trace_id = request_id.replace("-", "")
    feedback = rpc_line(stack, "feedback", SUBMIT, trace_id)
    assert feedback is not None and feedback["request_id"] == request_id
    assert rpc_line(stack, "program", PLANNED, trace_id) is not None
    assert rpc_line(stack, "progress", RECORD, trace_id) is not None


@pytest.mark.slow
def test_an_outbox_event_delivered_late_carries_the_trace_of_the_call_that_wrote_it(
    stack: ServiceStack,
    channels: dict[str, grpc.Channel],
    token_for: Callable[[str], Metadata],
    user_id: str,
) -> None:
    md = token_for(user_id)
    program_id = new_program(channels["program"], md)
    traceparent, trace_id, _ = new_traceparent()
    progress = stack.services["progress"]
    progress.stop()
    try:
        pb_grpc.FeedbackServiceStub(channels["feedback"]).SubmitWorkoutFeedback(
            submission(program_id, 2, 1), metadata=[*md, ("traceparent", traceparent)], timeout=15
        )
        stored = asyncio.run(_stored_traceparents(stack, user_id))
        assert len(stored) == 1 and stored[0] is not None and stored[0].split("-")[1] == trace_id
        assert rpc_line(stack, "progress", RECORD, trace_id) is None
    finally:
        progress.start()
        progress.wait_serving()

    # The relay retries with backoff; its delivery continues the stored trace.
    line = wait_for(lambda: rpc_line(stack, "progress", RECORD, trace_id), timeout=30, what="the late delivery")
    assert isinstance(line, dict) and line["status"] == "OK"
    assert asyncio.run(_stored_traceparents(stack, user_id, pending=True)) == []


async def _stored_traceparents(stack: ServiceStack, user_id: str, pending: bool = False) -> list[str | None]:
    conn = await asyncpg.connect(stack.database_dsn("feedback"))
    try:
        query = "SELECT traceparent FROM outbox WHERE user_id = $1"
        if pending:
            query += " AND sent_at IS NULL"
        return [row["traceparent"] for row in await conn.fetch(query, user_id)]
    finally:
        await conn.close()
