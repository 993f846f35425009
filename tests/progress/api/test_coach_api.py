"""A coach reads a lifter's program in the progress service through a grant made in the program
service (the real stack: GrantProgramAccess, AcceptProgramGrant, RevokeGrant). Reads of that
program serve the owner's logs; every write stays NOT_FOUND; a revoked or expired grant is
NOT_FOUND on the very next call, exactly as a missing program."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from tests.progress.api.conftest import performed
from tests.support.rpc import expect_error

NOT_FOUND = grpc.StatusCode.NOT_FOUND


class Person:
    def __init__(self, token_for) -> None:
        self.user_id = str(uuid.uuid4())
        self.email = f"{self.user_id[:8]}@example.com"  # what the test token carries
        self.md = token_for(self.user_id)


@pytest.fixture
def accounts(channels) -> program_pb2_grpc.AccountServiceStub:
    return program_pb2_grpc.AccountServiceStub(channels["program"])


@pytest.fixture
def progress(channels) -> pb_grpc.ProgressServiceStub:
    return pb_grpc.ProgressServiceStub(channels["progress"])


@pytest.fixture
def owner(channels, token_for, progress) -> tuple[Person, str]:
    """A lifter who trains in pounds, with a generated 2 x 3 program and week 1 day 1 done."""
    person = Person(token_for)
    programs = program_pb2_grpc.ProgramServiceStub(channels["program"])
    profile = program_pb2.LifterProfile(
        unit=t.WEIGHT_UNIT_LB,
        bodyweight_kg=80,
        experience_level=program_pb2.EXPERIENCE_LEVEL_INTERMEDIATE,
        one_rep_maxes=[program_pb2.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=140, tested=True)],
    )
    programs.UpsertProfile(
        program_pb2.UpsertProfileRequest(request_id=str(uuid.uuid4()), profile=profile), metadata=person.md, timeout=10
    )
    generate = program_pb2.GenerateProgramRequest(
        request_id=str(uuid.uuid4()), goal=program_pb2.TRAINING_GOAL_STRENGTH, weeks=2, days_per_week=3
    )
    program_id = programs.GenerateProgram(generate, metadata=person.md, timeout=30).program.program_id
    wait_for_logs(progress, program_id, person.md)
    complete = pb.MarkSessionCompleteRequest(
        request_id=str(uuid.uuid4()),
        session=t.SessionRef(program_id=program_id, week_number=1, day_number=1),
        performed_sets=performed(3, load=100, rpe=8.0),
    )
    progress.MarkSessionComplete(complete, metadata=person.md, timeout=10)
    return person, program_id


def wait_for_logs(progress, program_id: str, md, timeout: float = 10.0) -> None:
    """The program service's outbox delivers the logs, normally before GenerateProgram returns."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            progress.GetProgramProgress(pb.GetProgramProgressRequest(program_id=program_id), metadata=md, timeout=10)
            return
        except grpc.RpcError as error:
            if error.code() != NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def share(accounts, owner: Person, coach: Person, program_id: str, **fields) -> program_pb2.Grant:
    request = program_pb2.GrantProgramAccessRequest(
        request_id=str(uuid.uuid4()), program_id=program_id, grantee_email=coach.email, **fields
    )
    code = accounts.GrantProgramAccess(request, metadata=owner.md, timeout=10).grant.invite_code
    accept = program_pb2.AcceptProgramGrantRequest(request_id=str(uuid.uuid4()), invite_code=code)
    return accounts.AcceptProgramGrant(accept, metadata=coach.md, timeout=10).grant


def reads(progress, program_id: str, md):
    """Every read RPC that takes a program id."""
    return {
        "GetProgramProgress": lambda: progress.GetProgramProgress(
            pb.GetProgramProgressRequest(program_id=program_id, view=pb.PROGRESS_VIEW_FULL), metadata=md, timeout=10
        ),
        "GetWeekProgress": lambda: progress.GetWeekProgress(
            pb.GetWeekProgressRequest(program_id=program_id, week_number=1), metadata=md, timeout=10
        ),
        "ListSessionLogs": lambda: progress.ListSessionLogs(
            pb.ListSessionLogsRequest(program_id=program_id), metadata=md, timeout=10
        ),
        "GetTrainingAnalytics": lambda: progress.GetTrainingAnalytics(
            pb.GetTrainingAnalyticsRequest(program_id=program_id), metadata=md, timeout=10
        ),
        "WatchProgress": lambda: next(
            iter(progress.WatchProgress(pb.WatchProgressRequest(program_id=program_id), metadata=md, timeout=10))
        ),
    }


def writes(progress, program_id: str, md):
    ref = t.SessionRef(program_id=program_id, week_number=1, day_number=2)
    return {
        "MarkSessionComplete": lambda: progress.MarkSessionComplete(
            pb.MarkSessionCompleteRequest(request_id=str(uuid.uuid4()), session=ref), metadata=md, timeout=10
        ),
        "SkipSession": lambda: progress.SkipSession(
            pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=ref), metadata=md, timeout=10
        ),
        "ScheduleWorkout": lambda: progress.ScheduleWorkout(
            pb.ScheduleWorkoutRequest(request_id=str(uuid.uuid4()), session=ref, scheduled_date="2026-05-01"),
            metadata=md,
            timeout=10,
        ),
    }


def missing_program_message(progress, md) -> str:
    request = pb.GetProgramProgressRequest(program_id=str(uuid.uuid4()))
    return expect_error(NOT_FOUND, lambda: progress.GetProgramProgress(request, metadata=md, timeout=10)).details()


def expect_no_access(progress, program_id: str, md) -> None:
    missing = missing_program_message(progress, md)
    for name, call in {**reads(progress, program_id, md), **writes(progress, program_id, md)}.items():
        assert expect_error(NOT_FOUND, call).details() == missing, name


def test_a_coach_reads_the_owners_program_and_its_analytics(accounts, progress, owner, token_for):
    lifter, program_id = owner
    coach = Person(token_for)
    expect_no_access(progress, program_id, coach.md)
    share(accounts, lifter, coach, program_id)

    calls = reads(progress, program_id, coach.md)
    mine = progress.GetProgramProgress(
        pb.GetProgramProgressRequest(program_id=program_id, view=pb.PROGRESS_VIEW_FULL), metadata=lifter.md
    )
    assert calls["GetProgramProgress"]() == mine
    assert calls["GetWeekProgress"]().totals.completed_sessions == 1
    assert len(calls["ListSessionLogs"]().logs) == 6
    assert calls["WatchProgress"]().HasField("keep_alive")
    seen = calls["GetTrainingAnalytics"]()
    assert seen.display_unit == t.WEIGHT_UNIT_LB  # the lifter's unit, not the coach's
    assert (seen.totals.planned_sessions, seen.totals.completed_sessions, seen.tonnage_kg) == (6, 1, 1500)
    assert seen.lifts[0].best_e1rm_kg == pytest.approx(100 / 0.811)
    # The coach's own date range holds only the coach's own sessions.
    own = progress.GetTrainingAnalytics(
        pb.GetTrainingAnalyticsRequest(start_date="2020-01-01", end_date="2024-12-31"), metadata=coach.md
    )
    assert own.totals.planned_sessions == 0


def test_a_coach_never_writes(accounts, progress, owner, token_for):
    lifter, program_id = owner
    coach = Person(token_for)
    share(accounts, lifter, coach, program_id)
    missing = missing_program_message(progress, coach.md)
    for name, call in writes(progress, program_id, coach.md).items():
        assert expect_error(NOT_FOUND, call).details() == missing, name
    week = progress.GetWeekProgress(pb.GetWeekProgressRequest(program_id=program_id, week_number=1), metadata=lifter.md)
    assert [(log.status, log.etag) for log in week.logs[1:]] == [(pb.SESSION_STATUS_PLANNED, "1")] * 2


def test_revoking_a_grant_takes_effect_on_the_next_call_and_ends_a_watch(accounts, progress, owner, token_for):
    lifter, program_id = owner
    coach = Person(token_for)
    grant = share(accounts, lifter, coach, program_id)
    stream = progress.WatchProgress(pb.WatchProgressRequest(program_id=program_id), metadata=coach.md, timeout=20)
    assert next(stream).HasField("keep_alive")
    assert reads(progress, program_id, coach.md)["GetTrainingAnalytics"]().totals.completed_sessions == 1

    revoke = program_pb2.RevokeGrantRequest(request_id=str(uuid.uuid4()), grant_id=grant.grant_id)
    accounts.RevokeGrant(revoke, metadata=lifter.md, timeout=10)
    expect_no_access(progress, program_id, coach.md)

    # The open stream learns of it at the next change.
    complete = pb.MarkSessionCompleteRequest(
        request_id=str(uuid.uuid4()), session=t.SessionRef(program_id=program_id, week_number=1, day_number=2)
    )
    progress.MarkSessionComplete(complete, metadata=lifter.md, timeout=10)
    with pytest.raises(grpc.RpcError) as ended:
        for message in stream:
            assert message.HasField("keep_alive"), "a revoked coach saw a change"
    assert ended.value.code() == NOT_FOUND


def test_an_expired_grant_gives_no_access(accounts, progress, owner, token_for):
    lifter, program_id = owner
    coach = Person(token_for)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    expire_time = Timestamp()
    expire_time.FromDatetime(soon)
    share(accounts, lifter, coach, program_id, expire_time=expire_time)
    assert reads(progress, program_id, coach.md)["GetProgramProgress"]().totals.completed_sessions == 1
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.3)
    expect_no_access(progress, program_id, coach.md)
