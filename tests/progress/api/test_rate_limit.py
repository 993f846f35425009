"""Per-user rate limits, on a second progress process with a tiny limit (same database as the
stack's): a user past the limit is refused, another user at the same moment is not, and reads
and service calls are never limited."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from tests.progress.api.conftest import Lifter, planned_sessions
from tests.support.ports import free_port
from tests.support.services import ServiceProcess

BURST = 3


@pytest.fixture(scope="module")
def limited(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    port = free_port()
    env = {
        **stack.env,
        "IRONPATH_PROGRESS_PORT": str(port),
        # One token a minute after the burst: nothing refills while a test runs.
        "IRONPATH_RATE_LIMIT_PER_MINUTE": "1",
        "IRONPATH_RATE_LIMIT_BURST": str(BURST),
    }
    process = ServiceProcess("progress", port, env, Path(tmp_path_factory.mktemp("limited")) / "progress.log")
    process.start()
    try:
        process.wait_serving()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def limited_channel(limited: ServiceProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(limited.address) as channel:
        yield channel


@pytest.fixture
def limited_lifter(new_lifter, limited_channel):
    """Lifters whose calls go to the limited process, all over one channel (one client address)."""
    return lambda: new_lifter(stub=pb_grpc.ProgressServiceStub(limited_channel))


def complete_all(lifter: Lifter, sessions: list[tuple[int, int]], codes: list[grpc.StatusCode], start) -> None:
    start.wait()
    for week, day in sessions:
        try:
            lifter.complete(week, day)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert retry_delay_seconds(error) > 0


def retry_delay_seconds(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToTimedelta().total_seconds()
    raise AssertionError("no RetryInfo in the RESOURCE_EXHAUSTED status")


def test_a_user_past_the_limit_is_refused_while_another_user_at_the_same_time_is_not(limited_lifter):
    alice, bob = limited_lifter(), limited_lifter()
    start = threading.Barrier(2)
    alice_codes: list[grpc.StatusCode] = []
    bob_codes: list[grpc.StatusCode] = []
    sessions = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    threads = [
        threading.Thread(target=complete_all, args=(alice, sessions, alice_codes, start)),
        threading.Thread(target=complete_all, args=(bob, sessions[:BURST], bob_codes, start)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert alice_codes == [grpc.StatusCode.OK] * BURST + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
    assert bob_codes == [grpc.StatusCode.OK] * BURST
    # A refused call wrote nothing: only the first three of Alice's sessions are completed.
    statuses = [log.status for log in alice.progress().logs]
    assert statuses == [pb.SESSION_STATUS_COMPLETED] * 3 + [pb.SESSION_STATUS_PLANNED] * 3


def test_reads_are_never_limited(limited_lifter):
    lifter = limited_lifter()
    for week, day in [(1, 1), (1, 2), (1, 3)]:
        lifter.complete(week, day)
    with pytest.raises(grpc.RpcError) as refused:
        lifter.complete(2, 1)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for _ in range(4 * BURST):
        assert lifter.progress().totals.completed_sessions == 3
        lifter.stub.ListSessionLogs(pb.ListSessionLogsRequest(), metadata=lifter.metadata, timeout=10)


def test_service_to_service_calls_are_never_limited(limited_channel, service_token):
    internal = pb_grpc.ProgressInternalServiceStub(limited_channel)
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(4 * BURST):
        internal.InitializeProgramLogs(
            pb.InitializeProgramLogsRequest(
                event_id=str(uuid.uuid4()), user_id=user_id, program_id=program_id, sessions=planned_sessions(1, 2)
            ),
            metadata=service_token("program"),
            timeout=10,
        )
