"""GetTrainingAnalytics through the progress service's real port: worked numbers for a program
and for a date range over two programs, bad ranges, other users, the program service down, and
the figures every write stores beside its sets."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.progress.v1 import figures_pb2
from ironpath.progress.v1 import progress_pb2 as pb
from tests.progress.api.conftest import Lifter, performed, planned_sessions
from tests.support.rpc import expect_error, expect_invalid

E1RM_5_AT_8 = 0.811  # the RTS chart: 5 reps at RPE 8 is 81.1 % of 1RM
E1RM_5_AT_9 = 0.837


def at(year: int, month: int, day: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(year, month, day, 18, tzinfo=UTC))
    return stamp


def analytics(lifter: Lifter, metadata=None, **fields) -> pb.GetTrainingAnalyticsResponse:
    request = pb.GetTrainingAnalyticsRequest(**fields)
    return lifter.stub.GetTrainingAnalytics(request, metadata=metadata or lifter.metadata, timeout=10)


def skip(lifter: Lifter, week: int, day: int) -> None:
    request = pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=lifter.ref(week, day), skip_reason="ill")
    lifter.stub.SkipSession(request, metadata=lifter.metadata, timeout=10)


def test_a_programs_analytics_add_up_its_sessions_with_worked_numbers(new_lifter):
    lifter = new_lifter(weeks=2, days=3)
    # Three sets of 5 back squats each time, target 100 kg at RPE 7.5.
    lifter.complete(1, 1, complete_time=at(2026, 1, 5), performed_sets=performed(3, load=100, rpe=8.0))
    lifter.complete(1, 2, complete_time=at(2026, 1, 7), performed_sets=performed(3, load=105, rpe=8.0))
    skip(lifter, 1, 3)
    lifter.complete(2, 1, complete_time=at(2026, 1, 12), performed_sets=performed(3, load=110, rpe=9.0))

    reply = analytics(lifter, program_id=lifter.program_id)

    assert reply.display_unit == t.WEIGHT_UNIT_KG  # no profile: the default unit
    weeks = [
        (w.week_number, w.week_start_date, w.planned_sessions, w.completed_sessions, w.skipped_sessions, w.hard_sets)
        for w in reply.weeks
    ]
    assert weeks == [(1, "", 3, 2, 1, 6), (2, "", 3, 1, 0, 3)]
    assert [w.tonnage_kg for w in reply.weeks] == [1500 + 1575, 1650]
    assert [w.adherence_rate for w in reply.weeks] == pytest.approx([2 / 3, 1 / 3])
    assert (reply.totals.planned_sessions, reply.totals.completed_sessions, reply.totals.skipped_sessions) == (6, 3, 1)
    assert (reply.tonnage_kg, reply.hard_sets) == (4725, 9)

    (squat,) = reply.lifts
    assert (squat.main_lift, squat.tonnage_kg, squat.hard_sets) == (t.MAIN_LIFT_SQUAT, 4725, 9)
    assert [(p.date, p.e1rm_kg) for p in squat.e1rm_trend] == [
        ("2026-01-05", pytest.approx(100 / E1RM_5_AT_8)),  # 123.3 kg
        ("2026-01-07", pytest.approx(105 / E1RM_5_AT_8)),  # 129.5 kg
        ("2026-01-12", pytest.approx(110 / E1RM_5_AT_9)),  # 131.4 kg
    ]
    assert squat.e1rm_trend[0].e1rm_kg == pytest.approx(123.3, abs=0.05)
    best_set = squat.e1rm_trend[2].best_set
    assert (best_set.exercise_id, best_set.actual_load_kg, best_set.actual_reps, best_set.actual_rpe) == (
        "back_squat",
        110,
        5,
        9,
    )
    assert squat.best_e1rm_kg == pytest.approx(110 / E1RM_5_AT_9)
    assert squat.heaviest_load_kg == 110

    records = [(r.date, r.kind, round(r.value, 2)) for r in reply.personal_records]
    assert records == [
        ("2026-01-05", "e1rm", 123.3),
        ("2026-01-05", "load", 100),
        ("2026-01-07", "e1rm", 129.47),
        ("2026-01-07", "load", 105),
        ("2026-01-12", "e1rm", 131.42),
        ("2026-01-12", "load", 110),
    ]
    assert all(r.main_lift == t.MAIN_LIFT_SQUAT and r.exercise_id == "back_squat" for r in reply.personal_records)

    assert {(g.muscle_group, g.tonnage_kg, g.hard_sets) for g in reply.muscle_groups} == {
        ("quads", 4725, 9),
        ("glutes", 4725, 9),
    }
    # Reported 8, 8, 8, 8, 8, 8, 9, 9, 9 against targets of 7.5.
    assert reply.rpe_set_count == 9
    assert reply.average_reported_rpe == pytest.approx(75 / 9)
    assert reply.average_target_rpe == pytest.approx(7.5)
    assert reply.rpe_drift == pytest.approx(75 / 9 - 7.5)
    # The weeks of 5 and 12 January, long before today.
    assert (reply.longest_streak_weeks, reply.current_streak_weeks) == (2, 0)


def test_a_date_range_covers_every_program_of_the_caller_by_calendar_week(initialize, new_lifter):
    lifter = new_lifter(weeks=2, days=3)  # planned 1-3 January (week 1) and 8-10 January (week 2)
    second = str(uuid.uuid4())
    initialize(lifter.user_id, second, planned_sessions(1, 2))  # planned 1 and 2 January
    lifter.complete(1, 1, complete_time=at(2026, 1, 6), performed_sets=performed(3, load=100, rpe=8.0))
    lifter.complete(2, 1, complete_time=at(2026, 2, 2), performed_sets=performed(3, load=110, rpe=8.0))
    other_program = Lifter(lifter.user_id, second, lifter.metadata, lifter.stub)
    other_program.complete(1, 1, complete_time=at(2026, 1, 13), performed_sets=performed(2, load=120, rpe=8.0))
    stranger = new_lifter()
    stranger.complete(2, 1, complete_time=at(2026, 1, 6), performed_sets=performed(3))

    reply = analytics(lifter, start_date="2026-01-05", end_date="2026-01-18")

    # Week of 5 Jan: completed 6 Jan, and weeks 2 days 2-3 due 9-10 Jan (day 1 was completed in
    # February, so it falls there). Week of 12 Jan: the second program's session of 13 Jan.
    weeks = [(w.week_start_date, w.week_number, w.planned_sessions, w.completed_sessions) for w in reply.weeks]
    assert weeks == [("2026-01-05", 0, 3, 1), ("2026-01-12", 0, 1, 1)]
    assert [(w.tonnage_kg, w.hard_sets) for w in reply.weeks] == [(1500, 3), (1200, 2)]
    assert (reply.totals.planned_sessions, reply.totals.completed_sessions) == (4, 2)
    (squat,) = reply.lifts
    assert [p.date for p in squat.e1rm_trend] == ["2026-01-06", "2026-01-13"]
    assert squat.best_e1rm_kg == pytest.approx(120 / E1RM_5_AT_8)
    assert (reply.longest_streak_weeks, reply.current_streak_weeks) == (2, 2)  # up to the range's end

    empty = analytics(lifter, start_date="2025-01-01", end_date="2025-12-31")
    assert (list(empty.weeks), list(empty.lifts), empty.totals.planned_sessions) == ([], [], 0)


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("end_date", {"start_date": "2026-02-01", "end_date": "2026-01-31"}),
        ("end_date", {"start_date": "2020-01-01", "end_date": "2025-01-02"}),
        ("program_id", {}),
        ("program_id", {"program_id": "PROGRAM", "start_date": "2026-01-01", "end_date": "2026-01-31"}),
        ("end_date", {"start_date": "2026-01-01"}),
        ("start_date", {"end_date": "2026-01-01"}),
        ("start_date", {"start_date": "2026-13-01", "end_date": "2026-12-31"}),
        ("program_id", {"program_id": "not-a-uuid"}),
    ],
)
def test_bad_ranges_name_the_field(new_lifter, field, fields):
    lifter = new_lifter()
    if fields.get("program_id") == "PROGRAM":
        fields = fields | {"program_id": lifter.program_id}
    expect_invalid(field, lambda: analytics(lifter, **fields))


def test_a_range_of_exactly_five_years_is_accepted(new_lifter):
    lifter = new_lifter()
    assert analytics(lifter, start_date="2021-01-10", end_date="2026-01-10").totals.planned_sessions == 6


def test_another_users_program_is_not_found_like_a_missing_one(new_lifter, token_for):
    owner = new_lifter()
    owner.complete(1, 1, performed_sets=performed(3))
    stranger = token_for(str(uuid.uuid4()))
    error = expect_error(grpc.StatusCode.NOT_FOUND, lambda: analytics(owner, stranger, program_id=owner.program_id))
    missing = expect_error(grpc.StatusCode.NOT_FOUND, lambda: analytics(owner, stranger, program_id=str(uuid.uuid4())))
    assert error.details() == missing.details() == "program not found"
    # Nor does the stranger's own date range see the owner's sessions.
    assert analytics(owner, stranger, start_date="2000-01-01", end_date="2004-12-31").totals.planned_sessions == 0


def test_the_program_service_down_is_unavailable_but_a_lifters_own_logs_still_read(stack, new_lifter, token_for):
    lifter = new_lifter()
    lifter.complete(1, 1, performed_sets=performed(3))
    stranger = token_for(str(uuid.uuid4()))
    program = stack.services["program"]
    program.stop()
    try:
        # The display unit cannot be read: no figures in a unit that may be wrong.
        expect_error(grpc.StatusCode.UNAVAILABLE, lambda: analytics(lifter, program_id=lifter.program_id))
        # Whether a stranger holds a grant cannot be checked.
        progress = pb.GetProgramProgressRequest(program_id=lifter.program_id)
        expect_error(grpc.StatusCode.UNAVAILABLE, lambda: lifter.stub.GetProgramProgress(progress, metadata=stranger))
        # The lifter's own logs need no other service.
        assert lifter.progress().totals.completed_sessions == 1
    finally:
        program.start()
        program.wait_serving()
    # Back once the progress service's channel reconnects (gRPC's reconnect backoff).
    deadline = time.monotonic() + 20
    while True:
        try:
            assert analytics(lifter, program_id=lifter.program_id).totals.completed_sessions == 1
            break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# --- Figures stored at write time -----------------------------------------------------------


def stored_figures(stack, lifter: Lifter, week: int, day: int) -> figures_pb2.SessionFigures | None:
    async def read() -> bytes | None:
        conn = await asyncpg.connect(stack.database_dsn("progress"))
        try:
            return await conn.fetchval(
                "SELECT figures_pb FROM progress_logs "
                "WHERE user_id = $1 AND program_id = $2 AND week_number = $3 AND day_number = $4",
                lifter.user_id,
                uuid.UUID(lifter.program_id),
                week,
                day,
            )
        finally:
            await conn.close()

    stored = asyncio.run(read())
    return figures_pb2.SessionFigures.FromString(stored) if stored is not None else None


def test_figures_are_stored_when_sets_are_written_and_follow_merges(stack, new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    assert stored_figures(stack, lifter, 1, 1) is None

    lifter.complete(1, 1, performed_sets=performed(2, load=100, rpe=8.0))
    first = stored_figures(stack, lifter, 1, 1)
    assert first is not None
    assert (first.tonnage_kg, first.hard_sets, first.rules_version) == (1000, 2, 1)
    assert first.lifts[0].best_e1rm_kg == pytest.approx(100 / E1RM_5_AT_8)

    # A second device adds a third set: the merged sets' figures replace the first ones.
    heavier = performed(3, load=110, rpe=9.0)[2]
    lifter.complete(1, 1, performed_sets=[heavier])
    merged = stored_figures(stack, lifter, 1, 1)
    assert merged is not None
    assert (merged.tonnage_kg, merged.hard_sets) == (1550, 3)
    assert merged.lifts[0].best_e1rm_kg == pytest.approx(110 / E1RM_5_AT_9)
    assert merged.lifts[0].best_e1rm_set.set_number == 3

    # The feedback service completes a session with its sets through RecordSessionFeedback.
    request = pb.RecordSessionFeedbackRequest(
        event_id=str(uuid.uuid4()),
        user_id=lifter.user_id,
        session=lifter.ref(1, 2),
        feedback=pb.FeedbackSummary(feedback_id=str(uuid.uuid4()), session_rpe=8),
        performed_sets=performed(3, load=90, rpe=6.5),
    )
    internal_stub.RecordSessionFeedback(request, metadata=service_token("feedback"), timeout=10)
    from_feedback = stored_figures(stack, lifter, 1, 2)
    assert from_feedback is not None
    assert (from_feedback.tonnage_kg, from_feedback.hard_sets, from_feedback.rpe_set_count) == (1350, 0, 3)

    # A completion without sets has no figures; its analytics count it, with no volume.
    lifter.complete(1, 3)
    assert stored_figures(stack, lifter, 1, 3) is None
    week = analytics(lifter, program_id=lifter.program_id).weeks[0]
    assert (week.completed_sessions, week.tonnage_kg, week.hard_sets) == (3, 1550 + 1350, 3)
