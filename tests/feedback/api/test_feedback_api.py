"""The feedback service on real ports with the real program and progress services behind it."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2 as pb
from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.support.polling import wait_for
from tests.support.rpc import expect_error, expect_invalid
from tests.support.services import ServiceStack

START = date(2026, 11, 2)  # a Monday


@dataclass
class Lifter:
    user_id: str
    md: list[tuple[str, str]]
    program_id: str
    feedback: pb_grpc.FeedbackServiceStub
    progress: progress_pb2_grpc.ProgressServiceStub

    def ref(self, week: int, day: int, program_id: str | None = None) -> t.SessionRef:
        return t.SessionRef(program_id=program_id or self.program_id, week_number=week, day_number=day)

    def submit(self, week: int, day: int, request_id: str | None = None, **fields) -> pb.SubmitWorkoutFeedbackResponse:
        fields.setdefault("categories", [t.FEEDBACK_CATEGORY_TOO_HARD])
        request = pb.SubmitWorkoutFeedbackRequest(
            request_id=request_id or str(uuid.uuid4()), session=self.ref(week, day), **fields
        )
        return self.feedback.SubmitWorkoutFeedback(request, metadata=self.md, timeout=15)

    def full_progress(self, program_id: str | None = None) -> progress_pb2.GetProgramProgressResponse:
        return self.progress.GetProgramProgress(
            progress_pb2.GetProgramProgressRequest(
                program_id=program_id or self.program_id, view=progress_pb2.PROGRESS_VIEW_FULL
            ),
            metadata=self.md,
            timeout=10,
        )

    def check_in(self, start: date, end: date, program_id: str | None = None) -> pb.CheckIn:
        request = pb.PerformCheckInRequest(
            request_id=str(uuid.uuid4()),
            program_id=program_id or self.program_id,
            period_start_date=start.isoformat(),
            period_end_date=end.isoformat(),
        )
        return self.feedback.PerformCheckIn(request, metadata=self.md, timeout=15).check_in


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def new_program(channels, md, weeks: int = 4, days: int = 4, start: date | None = START) -> str:
    stub = program_pb2_grpc.ProgramServiceStub(channels["program"])
    request = program_pb2.GenerateProgramRequest(
        request_id=str(uuid.uuid4()),
        goal=program_pb2.TRAINING_GOAL_STRENGTH,
        weeks=weeks,
        days_per_week=days,
        methodology_id="wendler_531",
        start_date=start.isoformat() if start else "",
    )
    return stub.GenerateProgram(request, metadata=md, timeout=30).program.program_id


@pytest.fixture
def lifter(channels, token_for, user_id) -> Lifter:
    md = token_for(user_id)
    program_pb2_grpc.ProgramServiceStub(channels["program"]).UpsertProfile(
        program_pb2.UpsertProfileRequest(
            request_id=str(uuid.uuid4()),
            profile=program_pb2.LifterProfile(
                unit=t.WEIGHT_UNIT_KG,
                bodyweight_kg=80,
                experience_level=program_pb2.EXPERIENCE_LEVEL_INTERMEDIATE,
                one_rep_maxes=[
                    program_pb2.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=140, tested=True),
                    program_pb2.OneRepMax(lift=t.MAIN_LIFT_BENCH_PRESS, weight_kg=100, tested=True),
                    program_pb2.OneRepMax(lift=t.MAIN_LIFT_DEADLIFT, weight_kg=180, tested=True),
                    program_pb2.OneRepMax(lift=t.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=60, tested=True),
                ],
            ),
        ),
        metadata=md,
    )
    return Lifter(
        user_id,
        md,
        new_program(channels, md),
        pb_grpc.FeedbackServiceStub(channels["feedback"]),
        progress_pb2_grpc.ProgressServiceStub(channels["progress"]),
    )


def squat_sets(rpe: float) -> list[t.PerformedSet]:
    return [
        t.PerformedSet(
            exercise_id="back_squat",
            set_number=n,
            target_reps=5,
            target_load_kg=105,
            actual_reps=5,
            actual_load_kg=105,
            actual_rpe=rpe,
        )
        for n in (1, 2, 3)
    ]


def test_the_whole_journey_feedback_lands_on_the_logs_and_the_check_in_reads_them(lifter: Lifter):
    # Week 1 day 4 is squat day in the 4-day 5/3/1 split; move it to Friday.
    log = lifter.full_progress().logs[3]
    lifter.progress.ScheduleWorkout(
        progress_pb2.ScheduleWorkoutRequest(
            request_id=str(uuid.uuid4()), session=lifter.ref(1, 4), scheduled_date="2026-11-06", etag=log.etag
        ),
        metadata=lifter.md,
    )
    reply = lifter.submit(
        1,
        4,
        categories=[t.FEEDBACK_CATEGORY_TOO_HARD],
        session_rpe=9.5,
        notes="grindy last set",
        performed_sets=squat_sets(9.5),
        complete_time=ts(datetime(2026, 11, 6, 18, tzinfo=UTC)),
    )
    assert reply.feedback.feedback_id and "too hard" in reply.feedback.adjustment_reason
    # The next squat session (week 2 day 4) is 7.5 % lighter: its first set, planned at 87.5 kg
    # (70 % of a 126 kg training max), becomes 80.9 kg, rounded toward the plan: 82.5 kg.
    [adjusted] = [s for s in reply.adjusted_sessions if (s.week_number, s.day_number) == (2, 4)]
    assert adjusted.exercises[0].sets[0].load_kg == 82.5
    # No need to wait: the progress log is complete the moment the call returned.
    progress = lifter.full_progress()
    done = progress.logs[3]
    assert done.status == progress_pb2.SESSION_STATUS_COMPLETED
    assert done.feedback.feedback_id == reply.feedback.feedback_id and done.session_rpe == 9.5
    assert len(done.performed_sets) == 3
    target = progress.logs[7]
    assert target.prescription_adjusted and target.prescription.exercises[0].sets[0].load_kg == 82.5

    lifter.submit(
        1,
        1,
        categories=[t.FEEDBACK_CATEGORY_FELT_GREAT],
        session_rpe=7,
        complete_time=ts(datetime(2026, 11, 2, 18, tzinfo=UTC)),
    )
    check_in = lifter.check_in(date(2026, 11, 2), date(2026, 11, 8))
    # Due that week: days 1-3 as planned (Mon, Tue, Thu) and day 4 as scheduled (Fri); two done.
    assert (check_in.sessions_planned, check_in.sessions_completed) == (4, 2)
    assert check_in.adherence_rate == pytest.approx(0.5)
    assert check_in.average_rpe == pytest.approx(8.25)  # (9.5 + 7) / 2: reported session RPEs
    assert check_in.recommendation == pb.CHECK_IN_RECOMMENDATION_HOLD and "2 of 4" in check_in.reason
    listed = lifter.feedback.ListCheckIns(pb.ListCheckInsRequest(program_id=lifter.program_id), metadata=lifter.md)
    assert [c.check_in_id for c in listed.check_ins] == [check_in.check_in_id]


def test_a_replayed_submission_returns_the_first_response_and_stores_once(lifter: Lifter, stack: ServiceStack):
    request_id = str(uuid.uuid4())
    first = lifter.submit(1, 1, request_id=request_id, session_rpe=8)
    again = lifter.submit(1, 1, request_id=request_id, session_rpe=8)
    assert first == again
    assert rows(stack, "feedback", "SELECT count(*) FROM workout_feedback WHERE user_id = $1", lifter.user_id) == 1
    query = "SELECT jsonb_typeof(adjustments) FROM workout_feedback WHERE user_id = $1"
    assert rows(stack, "feedback", query, lifter.user_id) == "array"  # stored as JSON, not a JSON string
    assert lifter.full_progress().logs[0].etag == "2"  # one effect on the log


def test_a_request_id_reused_for_other_feedback_is_invalid_and_changes_nothing(lifter: Lifter, stack: ServiceStack):
    request_id = str(uuid.uuid4())
    lifter.submit(1, 1, request_id=request_id, session_rpe=8)
    expect_invalid("request_id", lambda: lifter.submit(1, 2, request_id=request_id, session_rpe=8))
    # Also when the other request names a session outside the program.
    expect_invalid("request_id", lambda: lifter.submit(13, 1, request_id=request_id, session_rpe=8))
    assert rows(stack, "feedback", "SELECT count(*) FROM workout_feedback WHERE user_id = $1", lifter.user_id) == 1
    assert rows(stack, "feedback", "SELECT count(*) FROM outbox WHERE user_id = $1", lifter.user_id) == 1
    assert lifter.full_progress().logs[1].status == progress_pb2.SESSION_STATUS_PLANNED


def test_a_retry_with_the_program_service_down_returns_the_first_response(lifter: Lifter, stack: ServiceStack):
    request_id = str(uuid.uuid4())
    first = lifter.submit(1, 1, request_id=request_id, session_rpe=8)
    program = stack.services["program"]
    program.stop()
    try:
        assert lifter.submit(1, 1, request_id=request_id, session_rpe=8) == first
        expect_error(grpc.StatusCode.UNAVAILABLE, lambda: lifter.submit(1, 2, session_rpe=8))
    finally:
        program.start()
        program.wait_serving()
    assert rows(stack, "feedback", "SELECT count(*) FROM workout_feedback WHERE user_id = $1", lifter.user_id) == 1


def test_another_users_session_is_not_found_and_nothing_is_stored(lifter: Lifter, token_for, stack: ServiceStack):
    intruder = token_for(str(uuid.uuid4()))
    request = pb.SubmitWorkoutFeedbackRequest(
        request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), categories=[t.FEEDBACK_CATEGORY_TOO_EASY]
    )
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: lifter.feedback.SubmitWorkoutFeedback(request, metadata=intruder))
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: lifter.feedback.PerformCheckIn(
            pb.PerformCheckInRequest(request_id=str(uuid.uuid4()), program_id=lifter.program_id), metadata=intruder
        ),
    )
    assert (
        rows(
            stack,
            "feedback",
            "SELECT count(*) FROM workout_feedback WHERE program_id = $1",
            uuid.UUID(lifter.program_id),
        )
        == 0
    )
    assert lifter.full_progress().logs[0].status == progress_pb2.SESSION_STATUS_PLANNED


@pytest.mark.parametrize(
    ("field", "fields", "week"),
    [
        ("categories", {"categories": []}, 1),
        ("categories[0]", {"categories": [t.FEEDBACK_CATEGORY_UNSPECIFIED]}, 1),
        ("categories", {"categories": [t.FEEDBACK_CATEGORY_TOO_EASY, t.FEEDBACK_CATEGORY_TOO_EASY]}, 1),
        ("pain_area", {"categories": [t.FEEDBACK_CATEGORY_JOINT_PAIN]}, 1),
        ("notes", {"notes": "x" * 2001}, 1),
        ("session_rpe", {"session_rpe": 14}, 1),
        (
            "performed_sets[0].actual_rpe",
            {"performed_sets": [t.PerformedSet(exercise_id="x", set_number=1, actual_rpe=14)]},
            1,
        ),
        ("session", {}, 13),
        ("request_id", {"request_id": "not-a-uuid"}, 1),
    ],
)
def test_bad_feedback_names_the_field_and_stores_nothing(lifter: Lifter, stack: ServiceStack, field, fields, week):
    expect_invalid(field, lambda: lifter.submit(week, 1, **fields))
    assert rows(stack, "feedback", "SELECT count(*) FROM workout_feedback WHERE user_id = $1", lifter.user_id) == 0


def test_joint_pain_swaps_exercises_in_the_coming_week(lifter: Lifter):
    reply = lifter.submit(1, 1, categories=[t.FEEDBACK_CATEGORY_JOINT_PAIN], pain_area=t.BODY_AREA_SHOULDER)
    swapped = {
        e.substituted_for_exercise_id: e.exercise_id
        for s in reply.adjusted_sessions
        for e in s.exercises
        if e.substituted_for_exercise_id
    }
    assert swapped.get("bench_press") == "floor_press"
    assert any(a.kind == "substitution" for a in reply.feedback.adjustments)


def test_check_in_on_an_empty_period_and_with_skipped_sessions(lifter: Lifter):
    empty = lifter.check_in(date(2025, 1, 1), date(2025, 1, 7))
    assert (empty.sessions_planned, empty.adherence_rate, empty.average_rpe) == (0, 0, 0)
    assert empty.recommendation == pb.CHECK_IN_RECOMMENDATION_HOLD
    for day in (1, 2):
        lifter.progress.SkipSession(
            progress_pb2.SkipSessionRequest(
                request_id=str(uuid.uuid4()), session=lifter.ref(1, day), skip_reason="work"
            ),
            metadata=lifter.md,
        )
    lifter.progress.MarkSessionComplete(
        progress_pb2.MarkSessionCompleteRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 3)),
        metadata=lifter.md,
    )
    week = lifter.check_in(START, START + timedelta(days=6))
    assert (week.sessions_planned, week.sessions_completed, week.sessions_skipped) == (4, 1, 2)
    # Nothing reported: the average falls back to the session's target RPEs.
    assert 6 <= week.average_rpe <= 10


def test_a_check_in_counts_only_its_own_program(lifter: Lifter, channels):
    other = new_program(channels, lifter.md)
    lifter.submit(1, 1, session_rpe=8, complete_time=ts(datetime(2026, 11, 2, 18, tzinfo=UTC)))
    lifter.feedback.SubmitWorkoutFeedback(
        pb.SubmitWorkoutFeedbackRequest(
            request_id=str(uuid.uuid4()),
            session=lifter.ref(1, 1, other),
            categories=[t.FEEDBACK_CATEGORY_TOO_EASY],
            session_rpe=6,
            complete_time=ts(datetime(2026, 11, 2, 19, tzinfo=UTC)),
        ),
        metadata=lifter.md,
    )
    mine = lifter.check_in(START, START + timedelta(days=6))
    theirs = lifter.check_in(START, START + timedelta(days=6), program_id=other)
    assert (mine.sessions_completed, mine.average_rpe) == (1, 8)
    assert (theirs.sessions_completed, theirs.average_rpe) == (1, 6)


def test_a_program_without_dates_counts_sessions_completed_in_the_period(lifter: Lifter, channels):
    undated = new_program(channels, lifter.md, start=None)
    when = datetime.now(UTC) - timedelta(days=1)
    lifter.feedback.SubmitWorkoutFeedback(
        pb.SubmitWorkoutFeedbackRequest(
            request_id=str(uuid.uuid4()),
            session=lifter.ref(1, 1, undated),
            categories=[t.FEEDBACK_CATEGORY_FELT_GREAT],
            session_rpe=7,
            complete_time=ts(when),
        ),
        metadata=lifter.md,
    )
    check_in = lifter.feedback.PerformCheckIn(
        pb.PerformCheckInRequest(request_id=str(uuid.uuid4()), program_id=undated), metadata=lifter.md
    ).check_in  # default period: the last 7 days
    assert (check_in.sessions_planned, check_in.sessions_completed, check_in.average_rpe) == (1, 1, 7)


def test_readiness_scores_lightens_the_named_session_and_lists_by_period(lifter: Lifter):
    request = pb.SubmitReadinessCheckRequest(
        request_id=str(uuid.uuid4()),
        date="2026-11-06",
        sleep_hours=6,
        sleep_quality=3,
        stress=3,
        soreness=3,
        energy=3,
        motivation=3,
        session=lifter.ref(1, 4),
    )
    check = lifter.feedback.SubmitReadinessCheck(request, metadata=lifter.md).readiness_check
    assert (check.score, check.recommendation, check.load_reduction_percent) == (
        50,
        pb.READINESS_RECOMMENDATION_LIGHTER,
        10,
    )
    planned = lifter.full_progress().logs[3].prescription.exercises[0].sets[0].load_kg
    assert check.adjusted_session.exercises[0].sets[0].load_kg < planned
    listed = lifter.feedback.ListReadinessChecks(
        pb.ListReadinessChecksRequest(start_date="2026-11-01", end_date="2026-11-07"), metadata=lifter.md
    ).readiness_checks
    assert [c.readiness_check_id for c in listed] == [check.readiness_check_id]
    outside = lifter.feedback.ListReadinessChecks(
        pb.ListReadinessChecksRequest(start_date="2026-12-01"), metadata=lifter.md
    )
    assert list(outside.readiness_checks) == []
    bad = pb.SubmitReadinessCheckRequest(
        request_id=str(uuid.uuid4()), sleep_hours=7, sleep_quality=9, stress=1, soreness=1, energy=1, motivation=1
    )
    expect_invalid("sleep_quality", lambda: lifter.feedback.SubmitReadinessCheck(bad, metadata=lifter.md))


@pytest.fixture
def long_lifter(channels, token_for, user_id) -> Lifter:
    """A lifter with a 13-week × 4-day program: room for 50 submissions."""
    md = token_for(user_id)
    program_id = new_program(channels, md, weeks=13, days=4)
    return Lifter(
        user_id,
        md,
        program_id,
        pb_grpc.FeedbackServiceStub(channels["feedback"]),
        progress_pb2_grpc.ProgressServiceStub(channels["progress"]),
    )


def test_with_the_progress_service_down_50_submissions_succeed_and_land_once_it_is_back(
    long_lifter: Lifter, stack: ServiceStack
):
    lifter, user_id = long_lifter, long_lifter.user_id
    positions = [(w, d) for w in range(1, 14) for d in range(1, 5)][:50]
    progress = stack.services["progress"]
    progress.stop()
    try:
        for week, day in positions:
            lifter.submit(week, day, categories=[t.FEEDBACK_CATEGORY_FELT_GREAT], session_rpe=7)
    finally:
        progress.start()
        progress.wait_serving()
    completed = wait_for_completed(lifter, 50, timeout=30)
    assert completed == 50
    time.sleep(1.5)  # further relay passes change nothing
    logs = lifter.full_progress().logs
    assert sum(log.status == progress_pb2.SESSION_STATUS_COMPLETED for log in logs) == 50
    assert all(
        log.etag == "2"
        for log in logs
        if log.status == progress_pb2.SESSION_STATUS_COMPLETED and not log.prescription_adjusted
    )
    assert rows(stack, "feedback", "SELECT count(*) FROM outbox WHERE user_id = $1 AND sent_at IS NULL", user_id) == 0


def test_50_events_delivered_but_never_marked_sent_are_redelivered_without_a_second_effect(
    long_lifter: Lifter, stack: ServiceStack
):
    lifter, user_id = long_lifter, long_lifter.user_id
    for week, day in [(w, d) for w in range(1, 14) for d in range(1, 5)][:50]:
        lifter.submit(week, day, categories=[t.FEEDBACK_CATEGORY_FELT_GREAT], session_rpe=8)
    before = lifter.full_progress().logs
    assert sum(log.status == progress_pb2.SESSION_STATUS_COMPLETED for log in before) == 50
    pending = "SELECT count(*) FROM outbox WHERE user_id = $1 AND sent_at IS NULL"
    wait_for(lambda: rows(stack, "feedback", pending, user_id) == 0, timeout=5, what="the delivered events' marks")
    # As if the service died between the progress service's acknowledgements and marking them sent.
    rows(
        stack,
        "feedback",
        "UPDATE outbox SET sent_at = NULL, next_attempt_at = now() WHERE user_id = $1",
        user_id,
        fetch=False,
    )
    wait_for(lambda: rows(stack, "feedback", pending, user_id) == 0, timeout=10, what="the relay's redelivery")
    after = lifter.full_progress().logs
    assert [(log.etag, log.feedback, log.performed_sets) for log in after] == [
        (log.etag, log.feedback, log.performed_sets) for log in before
    ]


def test_a_check_in_with_the_progress_service_down_is_unavailable(lifter: Lifter, stack: ServiceStack):
    progress = stack.services["progress"]
    progress.stop()
    try:
        expect_error(grpc.StatusCode.UNAVAILABLE, lambda: lifter.check_in(START, START + timedelta(days=6)))
    finally:
        progress.start()
        progress.wait_serving()


def wait_for_completed(lifter: Lifter, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    completed = 0
    while time.monotonic() < deadline:
        try:
            logs = lifter.full_progress().logs
            completed = sum(log.status == progress_pb2.SESSION_STATUS_COMPLETED for log in logs)
            if completed >= expected:
                return completed
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        time.sleep(0.3)
    return completed


def rows(stack: ServiceStack, service: str, query: str, *args, fetch: bool = True):
    async def run():
        conn = await asyncpg.connect(stack.database_dsn(service))
        try:
            return await conn.fetchval(query, *args) if fetch else await conn.execute(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())
