"""The retention job on the real services' databases: `python -m <service> purge` and the
background task delete old operational records and keep recent ones, and never touch training
data: progress logs (archived programs' too), programs, profiles."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.retention import PurgeRule, check_rules
from ironpath_common.settings import RETENTION_REQUEST_DAYS, ConfigError, RetentionSettings
from tests.program.api.test_program_api import generate, strong_profile, upsert
from tests.progress.api.conftest import Lifter, performed, planned_sessions
from tests.support.ports import free_port
from tests.support.services import REPO, ServiceProcess, ServiceStack


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def _execute(dsn: str, statements: list[tuple[str, tuple]]) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetch(query, *args) for query, args in statements]
    finally:
        await conn.close()


def sql(stack: ServiceStack, service: str, query: str, *args) -> list:
    return asyncio.run(_execute(stack.database_dsn(service), [(query, args)]))[0]


def purge(stack: ServiceStack, service: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"{service}_svc", "purge"],
        cwd=REPO,
        env={**stack.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def add_request(stack: ServiceStack, service: str, created_at: datetime) -> uuid.UUID:
    request_id = uuid.uuid4()
    sql(
        stack,
        service,
        "INSERT INTO processed_requests (user_id, request_id, method, request_hash, response, created_at)"
        " VALUES ($1, $2, 'RetentionTest', '\\x00', '\\x00', $3)",
        "retention-test-user",
        request_id,
        created_at,
    )
    return request_id


def request_exists(stack: ServiceStack, service: str, request_id: uuid.UUID) -> bool:
    return bool(sql(stack, service, "SELECT 1 FROM processed_requests WHERE request_id = $1", request_id))


@dataclass
class Outbox:
    delivered_old: uuid.UUID
    delivered_recent: uuid.UUID
    pending_old: uuid.UUID
    failed_old: uuid.UUID
    failed_recent: uuid.UUID


def add_outbox_events(stack: ServiceStack, service: str) -> Outbox:
    events = Outbox(*(uuid.uuid4() for _ in range(5)))
    rows = [
        # (event, created_at, sent_at, failed_at)
        (events.delivered_old, days_ago(9), days_ago(8), None),
        (events.delivered_recent, days_ago(7), days_ago(6), None),
        # Waiting for a receiver that has been away for two months: never purged. Its next
        # attempt is far off, so the service's own relay leaves it alone during the test.
        (events.pending_old, days_ago(60), None, None),
        (events.failed_old, days_ago(32), None, days_ago(31)),
        (events.failed_recent, days_ago(30), None, days_ago(29)),
    ]
    for event_id, created_at, sent_at, failed_at in rows:
        sql(
            stack,
            service,
            "INSERT INTO outbox (event_id, destination, payload, user_id, created_at, next_attempt_at, sent_at,"
            " failed_at) VALUES ($1, 'retention_test', '\\x00', 'retention-test-user', $2, $3, $4, $5)",
            event_id,
            created_at,
            datetime.now(UTC) + timedelta(days=365),
            sent_at,
            failed_at,
        )
    return events


def outbox_left(stack: ServiceStack, service: str, events: Outbox) -> set[uuid.UUID]:
    ids = list(vars(events).values())
    return {row["event_id"] for row in sql(stack, service, "SELECT event_id FROM outbox WHERE event_id = ANY($1)", ids)}


@pytest.mark.parametrize("service", ["program", "feedback"])
def test_purge_deletes_old_request_records_and_old_delivered_or_failed_events_only(stack, service):
    old, recent = add_request(stack, service, days_ago(31)), add_request(stack, service, days_ago(29))
    events = add_outbox_events(stack, service)

    result = purge(stack, service)
    assert result.returncode == 0, result.stderr

    assert not request_exists(stack, service, old)
    assert request_exists(stack, service, recent)
    # Delivered events go after 7 days, failed ones after 30; pending ones stay.
    assert outbox_left(stack, service, events) == {events.delivered_recent, events.pending_old, events.failed_recent}
    assert '"message": "retention purged"' in result.stderr


def test_each_period_comes_from_its_setting_and_zero_keeps_rows_for_ever(stack):
    old = add_request(stack, "program", days_ago(400))
    events = add_outbox_events(stack, "program")
    kept = purge(
        stack,
        "program",
        IRONPATH_RETENTION_REQUEST_DAYS="0",
        IRONPATH_RETENTION_OUTBOX_DAYS="10",
        IRONPATH_RETENTION_FAILED_OUTBOX_DAYS="0",
    )
    assert kept.returncode == 0, kept.stderr
    assert request_exists(stack, "program", old)
    assert outbox_left(stack, "program", events) == {
        events.delivered_recent,
        events.delivered_old,  # 8 days < 10
        events.pending_old,
        events.failed_old,
        events.failed_recent,
    }
    assert purge(stack, "program", IRONPATH_RETENTION_OUTBOX_DAYS="5").returncode == 0
    assert outbox_left(stack, "program", events) == {events.pending_old, events.failed_recent}


@pytest.fixture
def lifter(channels, initialize_logs, token_for) -> Lifter:
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    initialize_logs(user_id, program_id)
    return Lifter(user_id, program_id, token_for(user_id), progress_pb2_grpc.ProgressServiceStub(channels["progress"]))


@pytest.fixture
def initialize_logs(channels, service_token):
    internal = progress_pb2_grpc.ProgressInternalServiceStub(channels["progress"])

    def call(user_id: str, program_id: str) -> None:
        internal.InitializeProgramLogs(
            progress_pb2.InitializeProgramLogsRequest(
                event_id=str(uuid.uuid4()), user_id=user_id, program_id=program_id, sessions=planned_sessions(2, 3)
            ),
            metadata=service_token("program"),
            timeout=10,
        )

    return call


def test_progress_purge_deletes_old_request_and_event_records_and_keeps_every_log(stack, lifter: Lifter):
    # A session completed years ago, with its idempotency record and its logs aged to match.
    completed = Timestamp()
    completed.FromDatetime(datetime(2021, 3, 1, 18, tzinfo=UTC))
    lifter.complete(1, 1, complete_time=completed, performed_sets=performed(3))
    long_ago = datetime(2021, 3, 1, tzinfo=UTC)
    sql(
        stack,
        "progress",
        "UPDATE progress_logs SET created_at = $2, updated_at = $2 WHERE user_id = $1",
        lifter.user_id,
        long_ago,
    )
    sql(stack, "progress", "UPDATE processed_requests SET created_at = $2 WHERE user_id = $1", lifter.user_id, long_ago)
    old_event, recent_event = uuid.uuid4(), uuid.uuid4()
    for event_id, applied_at in ((old_event, days_ago(31)), (recent_event, days_ago(1))):
        sql(
            stack,
            "progress",
            "INSERT INTO applied_events (event_id, kind, applied_at) VALUES ($1, 'retention_test', $2)",
            event_id,
            applied_at,
        )
    recent = add_request(stack, "progress", days_ago(1))

    result = purge(stack, "progress")
    assert result.returncode == 0, result.stderr

    assert not sql(stack, "progress", "SELECT 1 FROM processed_requests WHERE user_id = $1", lifter.user_id)
    assert request_exists(stack, "progress", recent)
    events = sql(
        stack, "progress", "SELECT event_id FROM applied_events WHERE event_id = ANY($1)", [old_event, recent_event]
    )
    assert {row["event_id"] for row in events} == {recent_event}
    progress = lifter.progress(full=True)
    assert (progress.totals.planned_sessions, progress.totals.completed_sessions) == (6, 1)
    assert progress.logs[0].complete_time.ToDatetime(tzinfo=UTC) == datetime(2021, 3, 1, 18, tzinfo=UTC)
    assert len(progress.logs[0].performed_sets) == 3


def test_an_archived_programs_logs_and_the_program_itself_outlive_every_purge(stack, channels, token_for, user_id):
    me = token_for(user_id)
    programs = program_pb2_grpc.ProgramServiceStub(channels["program"])
    progress = progress_pb2_grpc.ProgressServiceStub(channels["progress"])
    upsert(programs, me, strong_profile())
    program = generate(programs, me)  # 4 weeks of 4 days
    archived = programs.ArchiveProgram(
        program_pb2.ArchiveProgramRequest(request_id=str(uuid.uuid4()), program_id=program.program_id),
        metadata=me,
        timeout=10,
    ).program
    assert archived.state == program_pb2.PROGRAM_STATE_ARCHIVED
    # Age everything this lifter has, as if the program had been archived years ago.
    long_ago = datetime(2020, 6, 1, tzinfo=UTC)
    sql(
        stack,
        "progress",
        "UPDATE progress_logs SET created_at = $2, updated_at = $2 WHERE user_id = $1",
        user_id,
        long_ago,
    )
    for service in ("program", "progress"):
        sql(stack, service, "UPDATE processed_requests SET created_at = $2 WHERE user_id = $1", user_id, long_ago)
    sql(
        stack,
        "program",
        "UPDATE outbox SET created_at = $2, sent_at = $2 WHERE user_id = $1 AND sent_at IS NOT NULL",
        user_id,
        long_ago,
    )

    for service in ("program", "progress", "feedback"):
        result = purge(stack, service)
        assert result.returncode == 0, result.stderr

    for service in ("program", "progress"):
        assert not sql(stack, service, "SELECT 1 FROM processed_requests WHERE user_id = $1", user_id)
    assert not sql(stack, "program", "SELECT 1 FROM outbox WHERE user_id = $1", user_id)
    kept = progress.GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=me, timeout=10
    )
    assert kept.totals.planned_sessions == 16
    again = programs.GetProgram(program_pb2.GetProgramRequest(program_id=program.program_id), metadata=me, timeout=10)
    assert again.program.state == program_pb2.PROGRAM_STATE_ARCHIVED
    assert sum(len(week.sessions) for week in again.program.program_weeks) == 16


def test_every_service_runs_the_job_in_the_background_on_its_interval(stack, tmp_path: Path):
    port = free_port()
    env = {
        **stack.env,
        "IRONPATH_PROGRESS_PORT": str(port),
        "IRONPATH_RETENTION_INTERVAL_SECONDS": "1",
        "IRONPATH_RETENTION_REQUEST_DAYS": "2",
    }
    process = ServiceProcess("progress", port, env, tmp_path / "progress.log")
    process.start()
    try:
        process.wait_serving()
        # Added after the first pass at start: only a later pass can delete it.
        old, recent = add_request(stack, "progress", days_ago(3)), add_request(stack, "progress", days_ago(1))
        deadline = time.monotonic() + 15
        while request_exists(stack, "progress", old) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not request_exists(stack, "progress", old), process.log_tail()
        assert request_exists(stack, "progress", recent)
    finally:
        assert process.stop() == 0


def test_a_bad_retention_setting_or_an_unknown_command_stops_the_process_with_one_line(stack):
    bad = purge(stack, "feedback", IRONPATH_RETENTION_OUTBOX_DAYS="-3")
    assert bad.returncode != 0
    assert bad.stderr.strip() == "configuration error: IRONPATH_RETENTION_OUTBOX_DAYS must be at least 0, got -3"
    unknown = subprocess.run(
        [sys.executable, "-m", "feedback_svc", "purge-everything"],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode != 0 and unknown.stderr.strip() == "usage: feedback_svc [migrate | purge]"


def test_a_rule_naming_an_unknown_setting_or_column_is_refused_at_start():
    from progress_svc.models import processed_requests

    settings = RetentionSettings.from_env({})
    assert settings.days[RETENTION_REQUEST_DAYS] == 30 and settings.interval_seconds == 3600
    with pytest.raises(ConfigError):
        check_rules([PurgeRule("x", processed_requests, "created_at", "IRONPATH_RETENTION_SOMETHING_DAYS")], settings)
    with pytest.raises(ConfigError):
        check_rules([PurgeRule("x", processed_requests, "deleted_at", RETENTION_REQUEST_DAYS)], settings)
