"""Two instances of every service behind the real Envoy, laid out exactly as `make run REPLICAS=2`
lays them out (the supervisor's own ports, environments and gateway settings), but started here so
that one instance can be killed without the supervisor stopping the rest (it stops everything when
a child dies, which is right for a developer's terminal and wrong for this test).

- calls through Envoy spread over both instances of each service (counted by each instance's
  metrics), and so do the services' calls to each other;
- WatchProgress on one instance sees a completion written through the other;
- SIGKILL of one progress instance under a steady load of MarkSessionComplete through Envoy loses
  no acknowledged write, and clients see only OK or UNAVAILABLE, the latter for a few seconds at
  most (the measured window is printed and recorded).
"""

from __future__ import annotations

import asyncio
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from deploy.local.postgres import Databases, local_server_answers
from deploy.local.supervisor import Supervisor, envoy_healthy_hosts
from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.auth import mint_user_token
from ironpath_common.settings import AuthSettings
from tests.observability.support import scrape, value
from tests.support.ports import free_port
from tests.support.services import ADMIN_DSN, ServiceProcess, drop_databases, scratch_database_url

pytestmark = pytest.mark.slow

SERVICES = ("program", "progress", "feedback")
REPLICAS = 2
CALLS_PER_SERVICE = 40
# The load: writers through Envoy, each pacing its calls; the kill comes after KILL_AFTER seconds.
WRITERS = 4
PROGRAMS, WEEKS, DAYS = 5, 16, 6  # 480 sessions: more than the load writes
WRITE_INTERVAL_SECONDS = 0.075
LOAD_SECONDS = 8.0
KILL_AFTER_SECONDS = 3.0
# "A few seconds": the longest a client may see UNAVAILABLE after the kill.
MAX_FAILURE_WINDOW_SECONDS = 5.0
RETRY_PAUSE_SECONDS = 0.05


def _port_with_replicas() -> int:
    """A free port whose replica ports (+10, ...) are free as well (the supervisor's layout)."""
    for _ in range(50):
        port = free_port()
        if port + 10 * REPLICAS < 65536 and all(_is_free(port + 10 * i) for i in range(1, REPLICAS)):
            return port
    raise RuntimeError("no free port with free replica ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class ReplicaStack:
    supervisor: Supervisor
    instances: dict[str, list[ServiceProcess]]
    envoy: EnvoyProcess
    env: dict[str, str]
    databases: dict[str, str]

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.envoy.settings.port}"

    def metadata(self, user_id: str) -> list[tuple[str, str]]:
        token = mint_user_token(AuthSettings.from_env(self.env), user_id, f"{user_id[:8]}@example.com")
        return [("authorization", f"Bearer {token}")]

    def handled(self, service: str, method: str, **labels: str) -> list[float]:
        """grpc_server_handled_total for `method`, per instance."""
        return [
            value(scrape(instance.metrics_url), "grpc_server_handled_total", grpc_method=method, **labels)
            for instance in self.instances[service]
        ]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaStack]:
    if not local_server_answers():
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 (.ci/run starts it)")
    prefix = f"ironpath_replicas_{uuid.uuid4().hex[:8]}"
    databases = {name: f"{prefix}_{name}" for name in SERVICES}
    env = {
        "IRONPATH_ENV": "development",
        "IRONPATH_GRACE_SECONDS": "1",
        "IRONPATH_WATCH_KEEPALIVE_SECONDS": "1",
        # One test user writes far faster than a person: the per-user limit would answer for Envoy.
        "IRONPATH_RATE_LIMIT_PER_MINUTE": "0",
        "IRONPATH_GATEWAY_PORT": str(free_port()),
        "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
        "IRONPATH_ENVOY_METRICS_PORT": str(free_port()),
    }
    for name in SERVICES:
        env[f"IRONPATH_{name.upper()}_PORT"] = str(_port_with_replicas())
        env[f"IRONPATH_{name.upper()}_METRICS_PORT"] = str(_port_with_replicas())
    supervisor = Supervisor(replicas=REPLICAS, env=env)
    shared = supervisor._service_env(
        Databases(urls={name: scratch_database_url(db) for name, db in databases.items()}, source="test")
    )
    shared["PYTHONPATH"] = ":".join(sys.path)
    logs = tmp_path_factory.mktemp("replica-logs")
    instances = {
        name: [
            ServiceProcess(
                name,
                supervisor.ports[name][index - 1],
                supervisor.instance_env(shared, name, index),
                logs / f"{name}.{index}.log",
                metrics_port=supervisor.metrics_ports[name][index - 1],
            )
            for index in range(1, REPLICAS + 1)
        ]
        for name in SERVICES
    }
    everything = [instance for group in instances.values() for instance in group]
    drop_databases(list(databases.values()))
    envoy: EnvoyProcess | None = None
    try:
        for instance in everything:
            instance.start()
        for instance in everything:
            instance.wait_serving(timeout=60)
        settings = GatewaySettings.from_env(supervisor.gateway_env(shared))
        envoy = EnvoyProcess(settings, base_id=settings.port, log_dir=tmp_path_factory.mktemp("replica-envoy"))
        envoy.start()
        expected = {f"{name}::{instance.address}" for name, group in instances.items() for instance in group}
        deadline = time.monotonic() + 30
        while expected - envoy_healthy_hosts(envoy.admin_url):
            assert time.monotonic() < deadline, (
                f"not healthy in Envoy: {expected - envoy_healthy_hosts(envoy.admin_url)}"
            )
            time.sleep(0.1)
        yield ReplicaStack(supervisor, instances, envoy, shared, databases)
    finally:
        if envoy is not None:
            envoy.stop()
        for instance in everything:
            instance.stop()
        drop_databases(list(databases.values()))


def _generate(channel: grpc.Channel, md: list[tuple[str, str]], weeks: int = 4, days: int = 3) -> str:
    request = program_pb2.GenerateProgramRequest(
        request_id=str(uuid.uuid4()),
        goal=program_pb2.TRAINING_GOAL_STRENGTH,
        weeks=weeks,
        days_per_week=days,
        methodology_id="linear_progression",
    )
    reply = program_pb2_grpc.ProgramServiceStub(channel).GenerateProgram(request, metadata=md, timeout=30)
    return str(reply.program.program_id)


def test_calls_through_envoy_and_between_services_spread_over_both_instances(replicas: ReplicaStack) -> None:
    md = replicas.metadata(str(uuid.uuid4()))
    with grpc.insecure_channel(replicas.gateway) as channel:
        program_id = _generate(channel, md)
        before = {
            "program": replicas.handled("program", "GetMe"),
            "progress": replicas.handled("progress", "GetProgramProgress"),
            "feedback": replicas.handled("feedback", "ListCheckIns"),
            "internal": replicas.handled("progress", "InitializeProgramLogs"),
        }
        program = program_pb2_grpc.ProgramServiceStub(channel)
        progress = progress_pb2_grpc.ProgressServiceStub(channel)
        feedback = feedback_pb2_grpc.FeedbackServiceStub(channel)
        for _ in range(CALLS_PER_SERVICE):
            program.GetMe(program_pb2.GetMeRequest(), metadata=md, timeout=10)
            progress.GetProgramProgress(
                progress_pb2.GetProgramProgressRequest(program_id=program_id), metadata=md, timeout=10
            )
            feedback.ListCheckIns(feedback_pb2.ListCheckInsRequest(), metadata=md, timeout=10)
        # Each program instance delivers InitializeProgramLogs over its own round-robin channel
        # to the progress instances.
        for _ in range(10):
            _generate(channel, md, weeks=1, days=2)
    after = {
        "program": replicas.handled("program", "GetMe"),
        "progress": replicas.handled("progress", "GetProgramProgress"),
        "feedback": replicas.handled("feedback", "ListCheckIns"),
        "internal": replicas.handled("progress", "InitializeProgramLogs"),
    }
    for what in ("program", "progress", "feedback"):
        per_instance = [a - b for a, b in zip(after[what], before[what], strict=True)]
        assert sum(per_instance) == CALLS_PER_SERVICE, (what, per_instance)
        # Round robin: about half each; a quarter at least leaves room for Envoy's two workers.
        assert min(per_instance) >= CALLS_PER_SERVICE // 4, (what, per_instance)
    internal = [a - b for a, b in zip(after["internal"], before["internal"], strict=True)]
    assert sum(internal) == 10 and min(internal) >= 1, internal


def test_a_watcher_on_one_instance_sees_a_completion_written_through_the_other(replicas: ReplicaStack) -> None:
    md = replicas.metadata(str(uuid.uuid4()))
    with grpc.insecure_channel(replicas.gateway) as gateway:
        program_id = _generate(gateway, md)
    first, second = replicas.instances["progress"]
    events: queue.Queue[tuple[float, progress_pb2.WatchProgressResponse]] = queue.Queue()
    with grpc.insecure_channel(first.address) as reader, grpc.insecure_channel(second.address) as writer:
        call = progress_pb2_grpc.ProgressServiceStub(reader).WatchProgress(
            progress_pb2.WatchProgressRequest(program_id=program_id), metadata=md
        )

        def read() -> None:
            try:
                for message in call:
                    events.put((time.monotonic(), message))
            except grpc.RpcError:
                pass

        threading.Thread(target=read, daemon=True).start()
        try:
            assert events.get(timeout=5)[1].HasField("keep_alive"), "the stream opens with a keep-alive"
            progress_pb2_grpc.ProgressServiceStub(writer).MarkSessionComplete(
                progress_pb2.MarkSessionCompleteRequest(
                    request_id=str(uuid.uuid4()),
                    session=t.SessionRef(program_id=program_id, week_number=2, day_number=3),
                ),
                metadata=md,
                timeout=10,
            )
            written = time.monotonic()
            deadline = written + 5
            while True:
                at, message = events.get(timeout=max(0.01, deadline - time.monotonic()))
                changed = message.log_changed
                if message.HasField("log_changed") and (changed.week_number, changed.day_number) == (2, 3):
                    break
            assert changed.status == progress_pb2.SESSION_STATUS_COMPLETED
            assert at - written < 2.0
        finally:
            call.cancel()


@dataclass
class Write:
    """One MarkSessionComplete a client wants acknowledged, with every attempt it took."""

    request_id: str
    program_id: str
    week: int
    day: int
    complete_time: datetime
    attempts: list[tuple[float, str]] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return bool(self.attempts) and self.attempts[-1][1] == "OK"


def _writer(gateway: str, md: list[tuple[str, str]], work: queue.Queue[Write], done: list[Write], stop: float) -> None:
    with grpc.insecure_channel(gateway) as channel:
        stub = progress_pb2_grpc.ProgressServiceStub(channel)
        while time.monotonic() < stop:
            try:
                write = work.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            stamp = Timestamp()
            stamp.FromDatetime(write.complete_time)
            request = progress_pb2.MarkSessionCompleteRequest(
                request_id=write.request_id,
                session=t.SessionRef(program_id=write.program_id, week_number=write.week, day_number=write.day),
                complete_time=stamp,
            )
            # A client's retry loop: the same request id until OK, for a bounded time.
            give_up = started + 3 * MAX_FAILURE_WINDOW_SECONDS
            while True:
                try:
                    stub.MarkSessionComplete(request, metadata=md, timeout=5)
                    write.attempts.append((time.monotonic(), "OK"))
                    break
                except grpc.RpcError as error:
                    write.attempts.append((time.monotonic(), error.code().name))
                    if time.monotonic() > give_up:
                        break
                    time.sleep(RETRY_PAUSE_SECONDS)
            done.append(write)
            time.sleep(max(0.0, WRITE_INTERVAL_SECONDS - (time.monotonic() - started)))


async def _completed(dsn: str, user_id: str) -> tuple[dict[tuple[str, int, int], datetime], set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        logs = await conn.fetch(
            "SELECT program_id, week_number, day_number, completed_at FROM progress_logs"
            " WHERE user_id = $1 AND status = 'completed'",
            user_id,
        )
        requests = await conn.fetch("SELECT request_id FROM processed_requests WHERE user_id = $1", user_id)
    finally:
        await conn.close()
    return (
        {(str(r["program_id"]), r["week_number"], r["day_number"]): r["completed_at"] for r in logs},
        {str(r["request_id"]) for r in requests},
    )


def test_killing_one_instance_under_load_loses_no_acknowledged_write(
    replicas: ReplicaStack, capsys: pytest.CaptureFixture[str], record_property
) -> None:
    user_id = str(uuid.uuid4())
    md = replicas.metadata(user_id)
    with grpc.insecure_channel(replicas.gateway) as gateway:
        programs = [_generate(gateway, md, weeks=WEEKS, days=DAYS) for _ in range(PROGRAMS)]
    work: queue.Queue[Write] = queue.Queue()
    base = datetime.now(UTC).replace(microsecond=0)
    for n, (program_id, week, day) in enumerate(
        (p, w, d) for p in programs for w in range(1, WEEKS + 1) for d in range(1, DAYS + 1)
    ):
        work.put(Write(str(uuid.uuid4()), program_id, week, day, base - timedelta(seconds=n)))
    done: list[Write] = []
    start = time.monotonic()
    stop = start + LOAD_SECONDS
    threads = [
        threading.Thread(target=_writer, args=(replicas.gateway, md, work, done, stop), daemon=True)
        for _ in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER_SECONDS)
    victim = replicas.instances["progress"][1]
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 4 * MAX_FAILURE_WINDOW_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    victim.stop()

    failures = [(at, code) for write in done for at, code in write.attempts if code != "OK"]
    codes = {code for _, code in failures}
    window = max((at for at, _ in failures), default=killed) - killed
    acknowledged = [write for write in done if write.acknowledged]
    with capsys.disabled():
        print(
            f"\n[replicas] {len(done)} writes in {LOAD_SECONDS:.0f} s, {len(acknowledged)} acknowledged; "
            f"{len(failures)} failed attempts ({', '.join(sorted(codes)) or 'none'}), "
            f"the last {window:.2f} s after the SIGKILL"
        )
    record_property("writes", len(done))
    record_property("failed_attempts", len(failures))
    record_property("failure_window_seconds", round(window, 3))

    assert len(done) >= 100, "the load ran"
    last = max(at for write in done for at, _ in write.attempts)
    assert last > killed + MAX_FAILURE_WINDOW_SECONDS - 1, "the load went on well after the kill"
    assert not work.empty(), "the load was steady to the end (it never ran out of sessions)"
    assert codes <= {"UNAVAILABLE"}, failures
    assert all(at >= killed - 0.5 for at, _ in failures), "nothing failed before the kill"
    assert window <= MAX_FAILURE_WINDOW_SECONDS, failures
    assert len(acknowledged) == len(done), "a client that retried got its OK"

    logs, request_ids = asyncio.run(
        _completed(ADMIN_DSN.rsplit("/", 1)[0] + "/" + replicas.databases["progress"], user_id)
    )
    for write in acknowledged:
        assert write.request_id in request_ids, write
        assert logs.get((write.program_id, write.week, write.day)) == write.complete_time, write
    # Nothing was written that no client asked for.
    assert len(logs) == len(done)
