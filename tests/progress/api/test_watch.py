"""WatchProgress: a change made anywhere (another connection, another replica, through Envoy
or gRPC-Web) reaches a watcher within a second, and idle streams are kept alive."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest

from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from tests.progress.api.conftest import Lifter
from tests.progress.api.test_progress_api import record_feedback
from tests.support import grpcweb
from tests.support.ports import free_port
from tests.support.services import ServiceProcess, ServiceStack

Event = tuple[float, pb.WatchProgressResponse]


class Watcher:
    """Reads a WatchProgress stream on a thread, timestamping every message."""

    def __init__(self, messages: Iterator[pb.WatchProgressResponse], cancel=None) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self._messages = messages
        self._cancel = cancel
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self._messages:
                self.events.put((time.monotonic(), message))
        except grpc.RpcError:
            pass

    def next_event(self, timeout: float) -> Event:
        return self.events.get(timeout=timeout)

    def wait_for_change(self, week: int, day: int, timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            at, message = self.next_event(max(0.01, deadline - time.monotonic()))
            if message.HasField("log_changed") and (
                message.log_changed.week_number,
                message.log_changed.day_number,
            ) == (week, day):
                return at, message

    def close(self) -> None:
        if self._cancel is not None:
            self._cancel()


def watch(stub: pb_grpc.ProgressServiceStub, lifter: Lifter) -> Watcher:
    call = stub.WatchProgress(pb.WatchProgressRequest(program_id=lifter.program_id), metadata=lifter.metadata)
    watcher = Watcher(call, call.cancel)
    first = watcher.next_event(timeout=5)[1]
    assert first.HasField("keep_alive"), "the stream opens with a keep-alive"
    return watcher


def completion_seen_within(watcher: Watcher, lifter: Lifter, writer: pb_grpc.ProgressServiceStub) -> float:
    request = pb.MarkSessionCompleteRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 2))
    writer.MarkSessionComplete(request, metadata=lifter.metadata, timeout=10)
    returned = time.monotonic()
    at, message = watcher.wait_for_change(1, 2, timeout=5)
    assert message.log_changed.status == pb.SESSION_STATUS_COMPLETED
    return at - returned


def test_a_watcher_sees_a_completion_made_on_another_connection_within_a_second(new_lifter, stack: ServiceStack):
    lifter = new_lifter()
    with grpc.insecure_channel(stack.address("progress")) as other:
        watcher = watch(lifter.stub, lifter)
        try:
            assert completion_seen_within(watcher, lifter, pb_grpc.ProgressServiceStub(other)) < 1.0
        finally:
            watcher.close()


def test_a_watcher_sees_the_session_a_feedback_event_completes_and_the_one_it_adjusts(
    new_lifter, internal_stub, service_token
):
    lifter = new_lifter()
    watcher = watch(lifter.stub, lifter)
    try:
        record_feedback(internal_stub, service_token, lifter, str(uuid.uuid4()))
        changed: dict[tuple[int, int], pb.SessionStatus.ValueType] = {}
        deadline = time.monotonic() + 5
        while len(changed) < 2:
            message = watcher.next_event(max(0.01, deadline - time.monotonic()))[1]
            if message.HasField("log_changed"):
                log = message.log_changed
                changed[log.week_number, log.day_number] = log.status
        assert changed == {(1, 1): pb.SESSION_STATUS_COMPLETED, (1, 3): pb.SESSION_STATUS_PLANNED}
    finally:
        watcher.close()


def test_a_watcher_sees_a_change_made_through_a_second_service_process(new_lifter, stack: ServiceStack, tmp_path):
    lifter = new_lifter()
    port = free_port()
    env = {**stack.env, "IRONPATH_PROGRESS_PORT": str(port)}
    replica = ServiceProcess("progress", port, env, tmp_path / "replica.log")
    replica.start()
    try:
        replica.wait_serving()
        watcher = watch(lifter.stub, lifter)
        try:
            with grpc.insecure_channel(replica.address) as channel:
                assert completion_seen_within(watcher, lifter, pb_grpc.ProgressServiceStub(channel)) < 1.0
        finally:
            watcher.close()
    finally:
        assert replica.stop() == 0


def test_a_watcher_through_envoy_sees_a_change_within_a_second(new_lifter, gateway_channel):
    lifter = new_lifter()
    watcher = watch(pb_grpc.ProgressServiceStub(gateway_channel), lifter)
    try:
        assert completion_seen_within(watcher, lifter, lifter.stub) < 1.0
    finally:
        watcher.close()


def test_an_idle_watch_is_kept_alive(new_lifter):
    lifter = new_lifter()
    watcher = watch(lifter.stub, lifter)
    try:
        # The test stack sends keep-alives after 1 s of silence.
        kinds = [watcher.next_event(timeout=3)[1].WhichOneof("event") for _ in range(2)]
        assert kinds == ["keep_alive", "keep_alive"]
    finally:
        watcher.close()


def test_a_grpc_web_watcher_through_envoy_receives_changes_as_they_happen(new_lifter, envoy, auth):
    lifter = new_lifter()
    token = lifter.metadata[0][1].removeprefix("Bearer ")
    stream = grpcweb.Stream(
        "127.0.0.1",
        envoy.settings.port,
        "/ironpath.progress.v1.ProgressService/WatchProgress",
        pb.WatchProgressRequest(program_id=lifter.program_id).SerializeToString(),
        token=token,
    )
    assert stream.response.status == 200
    messages = (
        pb.WatchProgressResponse.FromString(payload) for flag, payload in stream.frames() if flag == grpcweb.DATA_FLAG
    )
    watcher = Watcher(messages, stream.close)
    try:
        assert watcher.next_event(timeout=5)[1].HasField("keep_alive")
        assert completion_seen_within(watcher, lifter, lifter.stub) < 1.0
    finally:
        watcher.close()


def test_watching_a_missing_program_is_not_found(progress_stub, token_for):
    call = progress_stub.WatchProgress(
        pb.WatchProgressRequest(program_id=str(uuid.uuid4())), metadata=token_for(str(uuid.uuid4()))
    )
    with pytest.raises(grpc.RpcError) as raised:
        next(iter(call))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
