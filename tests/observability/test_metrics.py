"""Each real service process serves Prometheus metrics on its own port: the RPC counters and
latency histograms move with the calls made, the database pool is reported, the outbox gauges
are there on the two services with an outbox and show a backlog while its receiver is down; and
the gateway's Envoy serves its own statistics on a listener that exposes nothing else of the
admin interface."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import grpc
import pytest

from gateway.envoy import EnvoyProcess
from ironpath.feedback.v1 import feedback_pb2_grpc as fpb_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.observability.support import names, scrape, value
from tests.observability.test_traces import new_program, submission
from tests.support.polling import wait_for
from tests.support.services import ServiceStack

Metadata = list[tuple[str, str]]

OUTBOX_GAUGES = {"ironpath_outbox_pending_events", "ironpath_outbox_oldest_pending_age_seconds"}
POOL_GAUGES = {"ironpath_db_pool_size", "ironpath_db_pool_checked_out_connections"}
RECORD_FEEDBACK = "progress.RecordSessionFeedback"


def test_each_service_counts_its_rpcs_by_method_and_code_with_latencies_and_reports_its_pool(
    stack: ServiceStack, channels: dict[str, grpc.Channel], token_for: Callable[[str], Metadata], user_id: str
) -> None:
    md = token_for(user_id)
    before = {name: scrape(stack.services[name].metrics_url) for name in stack.names}

    program = program_pb2_grpc.ProgramServiceStub(channels["program"])
    for _ in range(3):
        program.GetMe(program_pb2.GetMeRequest(), metadata=md, timeout=10)
    with pytest.raises(grpc.RpcError) as missing:
        program.GetProgram(program_pb2.GetProgramRequest(program_id=str(uuid.uuid4())), metadata=md, timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    program_id = new_program(channels["program"], md)
    progress_pb2_grpc.ProgressServiceStub(channels["progress"]).GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program_id), metadata=md, timeout=10
    )
    fpb_grpc.FeedbackServiceStub(channels["feedback"]).SubmitWorkoutFeedback(
        submission(program_id), metadata=md, timeout=15
    )

    after = {name: scrape(stack.services[name].metrics_url) for name in stack.names}

    def moved(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    get_me = {"grpc_service": "ironpath.program.v1.ProgramService", "grpc_method": "GetMe", "grpc_type": "unary"}
    assert moved("program", "grpc_server_started_total", **get_me) == 3
    assert moved("program", "grpc_server_handled_total", **get_me, grpc_code="OK") == 3
    assert moved("program", "grpc_server_handling_seconds_count", **get_me) == 3
    assert moved("program", "grpc_server_handling_seconds_sum", **get_me) > 0
    # Every bucket up to 5 s is there, and +Inf counts everything.
    buckets = {
        dict(labels)["le"]
        for name, labels in after["program"]
        if name == "grpc_server_handling_seconds_bucket" and dict(labels)["grpc_method"] == "GetMe"
    }
    assert {"0.001", "0.005", "0.1", "1.0", "5.0", "+Inf"} <= buckets
    assert moved("program", "grpc_server_handled_total", grpc_method="GetProgram", grpc_code="NOT_FOUND") == 1
    # Internal calls count too: the feedback service asked the program service for the planned session.
    assert moved("program", "grpc_server_handled_total", grpc_method="GetPlannedSession", grpc_code="OK") == 1
    assert moved("progress", "grpc_server_handled_total", grpc_method="GetProgramProgress", grpc_code="OK") == 1
    assert moved("progress", "grpc_server_handled_total", grpc_method="InitializeProgramLogs", grpc_code="OK") == 1
    assert moved("progress", "grpc_server_handled_total", grpc_method="RecordSessionFeedback", grpc_code="OK") == 1
    assert moved("feedback", "grpc_server_handled_total", grpc_method="SubmitWorkoutFeedback", grpc_code="OK") == 1
    # The relays count what they delivered.
    assert moved("feedback", "ironpath_outbox_deliveries_total", destination=RECORD_FEEDBACK, result="delivered") == 1
    assert moved("program", "ironpath_outbox_deliveries_total", result="delivered") >= 1

    for name in stack.names:
        samples = after[name]
        assert names(samples) >= POOL_GAUGES, name
        size = value(samples, "ironpath_db_pool_size")
        assert size == 10  # IRONPATH_DB_POOL_SIZE's default
        assert 0 <= value(samples, "ironpath_db_pool_checked_out_connections") <= size
        assert "process_resident_memory_bytes" in names(samples)
    assert names(after["program"]) >= OUTBOX_GAUGES
    assert names(after["feedback"]) >= OUTBOX_GAUGES
    assert not OUTBOX_GAUGES & names(after["progress"]), "the progress service has no outbox"
    assert value(after["feedback"], "ironpath_outbox_pending_events", destination=RECORD_FEEDBACK) == 0


@pytest.mark.slow
def test_the_outbox_gauges_show_a_backlog_and_its_age_while_the_receiver_is_down(
    stack: ServiceStack, channels: dict[str, grpc.Channel], token_for: Callable[[str], Metadata], user_id: str
) -> None:
    md = token_for(user_id)
    program_id = new_program(channels["program"], md)
    feedback = stack.services["feedback"]
    progress = stack.services["progress"]
    progress.stop()
    try:
        stub = fpb_grpc.FeedbackServiceStub(channels["feedback"])
        for day in (1, 2):
            stub.SubmitWorkoutFeedback(submission(program_id, 1, day), metadata=md, timeout=15)
        time.sleep(1.2)
        samples = scrape(feedback.metrics_url)
        assert value(samples, "ironpath_outbox_pending_events", destination=RECORD_FEEDBACK) >= 2
        assert value(samples, "ironpath_outbox_oldest_pending_age_seconds", destination=RECORD_FEEDBACK) >= 1
        assert value(samples, "ironpath_outbox_deliveries_total", destination=RECORD_FEEDBACK, result="retry") >= 2
    finally:
        progress.start()
        progress.wait_serving()

    def drained() -> bool:
        samples = scrape(feedback.metrics_url)
        return value(samples, "ironpath_outbox_pending_events", destination=RECORD_FEEDBACK) == 0

    wait_for(drained, timeout=30, what="the backlog to drain")
    samples = scrape(feedback.metrics_url)
    assert value(samples, "ironpath_outbox_oldest_pending_age_seconds", destination=RECORD_FEEDBACK) == 0


def test_the_gateway_serves_envoys_statistics_and_nothing_else_of_its_admin_interface(
    envoy: EnvoyProcess, gateway_channel: grpc.Channel, token_for: Callable[[str], Metadata], user_id: str
) -> None:
    program_pb2_grpc.ProgramServiceStub(gateway_channel).GetMe(
        program_pb2.GetMeRequest(), metadata=token_for(user_id), timeout=10
    )
    base = f"http://127.0.0.1:{envoy.settings.metrics_port}"
    samples = scrape(f"{base}/stats/prometheus")
    # Upstream health and traffic per cluster, and the JWT filter's verdicts.
    assert value(samples, "envoy_cluster_membership_healthy", envoy_cluster_name="program") >= 1
    assert value(samples, "envoy_cluster_upstream_rq_total", envoy_cluster_name="program") >= 1
    assert any(name.startswith("envoy_http_jwt_authn") for name in names(samples)), sorted(names(samples))[:20]
    for path, method in (("/clusters", "GET"), ("/config_dump", "GET"), ("/quitquitquit", "POST"), ("/ready", "GET")):
        request = urllib.request.Request(f"{base}{path}", method=method, data=b"" if method == "POST" else None)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404, path
    # POST to the statistics path is not forwarded either (the admin would take it as a write).
    request = urllib.request.Request(f"{base}/stats/prometheus", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 404
    assert envoy.poll() is None, "Envoy still runs"
