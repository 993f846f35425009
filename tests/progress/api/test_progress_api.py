"""The progress service through its real port: every RPC's behaviour, bad input, other users,
retries and concurrent edits."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.progress.v1 import progress_pb2 as pb
from tests.progress.api.conftest import Lifter, performed, planned_sessions
from tests.support.rpc import expect_error, expect_invalid


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_initialize_program_logs_three_times_leaves_one_log_per_session(initialize, new_lifter):
    lifter = new_lifter(weeks=2, days=3)
    for _ in range(2):
        reply = initialize(lifter.user_id, lifter.program_id, planned_sessions(2, 3))
        assert (reply.created_count, reply.total_count) == (0, 6)
    assert lifter.progress().totals.planned_sessions == 6


def test_initialize_with_part_of_the_sessions_already_there_completes_the_set(initialize, progress_stub, token_for):
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    sessions = planned_sessions(4, 3)
    assert initialize(user_id, program_id, sessions[:5]).created_count == 5
    reply = initialize(user_id, program_id, sessions)
    assert (reply.created_count, reply.total_count) == (7, 12)


def test_progress_lists_every_log_in_week_day_order_with_totals(new_lifter):
    lifter = new_lifter(weeks=3, days=2)
    lifter.complete(2, 1)
    progress = lifter.progress()
    assert [(log.week_number, log.day_number) for log in progress.logs] == [(w, d) for w in (1, 2, 3) for d in (1, 2)]
    assert (progress.totals.planned_sessions, progress.totals.completed_sessions) == (6, 1)
    assert progress.totals.completion_rate == pytest.approx(1 / 6)
    assert progress.logs[2].status == pb.SESSION_STATUS_COMPLETED
    assert progress.logs[0].status == pb.SESSION_STATUS_PLANNED
    assert progress.logs[0].planned_date == "2026-01-01"


def test_summary_view_leaves_out_prescriptions_and_sets_and_full_view_has_them(new_lifter):
    lifter = new_lifter()
    lifter.complete(1, 1, performed_sets=performed(3))
    summary, full = lifter.progress(full=False), lifter.progress(full=True)
    assert not summary.logs[0].HasField("prescription") and not summary.logs[0].performed_sets
    assert summary.logs[0].etag and summary.logs[0].HasField("complete_time")
    assert full.logs[0].prescription.exercises[0].exercise_id == "back_squat"
    assert len(full.logs[0].performed_sets) == 3
    assert full.logs[0].performed_sets[0].actual_rpe == 8.0
    assert not full.logs[0].prescription_adjusted


def test_mark_complete_records_the_clients_time_and_the_sets_beside_the_plan(new_lifter):
    lifter = new_lifter()
    when = datetime(2026, 1, 3, 18, 30, tzinfo=UTC)
    reply = lifter.complete(1, 2, complete_time=ts(when), performed_sets=performed(2, load=102.5), session_rpe=8.5)
    assert reply.log.status == pb.SESSION_STATUS_COMPLETED
    assert reply.log.complete_time.ToDatetime(tzinfo=UTC) == when
    assert reply.log.session_rpe == 8.5
    sets = reply.log.performed_sets
    assert [(s.target_load_kg, s.actual_load_kg) for s in sets] == [(100, 102.5), (100, 102.5)]


def test_a_set_without_rpe_keeps_rpe_absent(new_lifter):
    reply = new_lifter().complete(1, 1, performed_sets=performed(1, rpe=None))
    assert not reply.log.performed_sets[0].HasField("actual_rpe")


def test_replaying_mark_complete_with_the_same_request_id_returns_the_first_response(new_lifter):
    lifter = new_lifter()
    request_id = str(uuid.uuid4())
    first = lifter.complete(1, 1, request_id=request_id, performed_sets=performed(2))
    again = lifter.complete(1, 1, request_id=request_id, performed_sets=performed(2))
    assert again == first
    assert lifter.progress().logs[0].etag == first.log.etag  # no second effect


def test_the_same_request_id_with_different_content_is_invalid(new_lifter):
    lifter = new_lifter()
    request_id = str(uuid.uuid4())
    lifter.complete(1, 1, request_id=request_id)
    expect_invalid("request_id", lambda: lifter.complete(1, 2, request_id=request_id))
    assert lifter.progress().logs[1].status == pb.SESSION_STATUS_PLANNED


def test_completing_twice_from_two_devices_merges_into_one_completed_log(new_lifter):
    lifter = new_lifter()
    early, late = datetime(2026, 1, 2, 9, tzinfo=UTC), datetime(2026, 1, 2, 10, tzinfo=UTC)
    lifter.complete(1, 1, complete_time=ts(late), performed_sets=performed(2))
    extra = t.PerformedSet(exercise_id="back_squat", set_number=3, actual_reps=4, actual_load_kg=100)
    lifter.complete(1, 1, complete_time=ts(early), performed_sets=[extra])
    progress = lifter.progress(full=True)
    assert progress.totals.completed_sessions == 1 and progress.totals.planned_sessions == 6
    log = progress.logs[0]
    assert log.complete_time.ToDatetime(tzinfo=UTC) == early
    assert sorted(s.set_number for s in log.performed_sets) == [1, 2, 3]


def test_skip_records_the_reason_and_completion_wins_over_a_late_skip(new_lifter):
    lifter = new_lifter()
    skipped = lifter.stub.SkipSession(
        pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 2), skip_reason="travel"),
        metadata=lifter.metadata,
    )
    assert skipped.log.status == pb.SESSION_STATUS_SKIPPED and skipped.log.skip_reason == "travel"
    lifter.complete(1, 1)
    late_skip = lifter.stub.SkipSession(
        pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), skip_reason="late replay"),
        metadata=lifter.metadata,
    )
    assert late_skip.log.status == pb.SESSION_STATUS_COMPLETED
    totals = lifter.progress().totals
    assert (totals.completed_sessions, totals.skipped_sessions) == (1, 1)


def test_week_progress_totals_one_week(new_lifter):
    lifter = new_lifter(weeks=2, days=3)
    lifter.complete(2, 3)
    week = lifter.stub.GetWeekProgress(
        pb.GetWeekProgressRequest(program_id=lifter.program_id, week_number=2), metadata=lifter.metadata
    )
    assert [log.day_number for log in week.logs] == [1, 2, 3]
    assert (week.totals.planned_sessions, week.totals.completed_sessions) == (3, 1)


def test_schedule_sets_and_moves_the_date_with_the_etag(new_lifter):
    lifter = new_lifter()
    etag = lifter.progress().logs[0].etag

    def schedule(date: str, tag: str) -> pb.ScheduleWorkoutResponse:
        request = pb.ScheduleWorkoutRequest(
            request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), scheduled_date=date, etag=tag
        )
        return lifter.stub.ScheduleWorkout(request, metadata=lifter.metadata)

    first = schedule("2026-02-01", etag)
    assert first.log.status == pb.SESSION_STATUS_SCHEDULED and first.log.scheduled_date == "2026-02-01"
    moved = schedule("2026-02-03", first.log.etag)
    assert moved.log.scheduled_date == "2026-02-03"
    expect_error(grpc.StatusCode.ABORTED, lambda: schedule("2026-02-05", etag))
    assert lifter.progress().logs[0].scheduled_date == "2026-02-03"


def test_two_clients_with_the_same_etag_one_wins_the_other_is_aborted(new_lifter, channels, token_for):
    lifter = new_lifter()
    etag = lifter.progress().logs[0].etag
    outcomes: list[str] = []

    def schedule(date: str) -> None:
        request = pb.ScheduleWorkoutRequest(
            request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), scheduled_date=date, etag=etag
        )
        try:
            lifter.stub.ScheduleWorkout(request, metadata=lifter.metadata)
            outcomes.append(date)
        except grpc.RpcError as error:
            outcomes.append(error.code().name)

    threads = [threading.Thread(target=schedule, args=(d,)) for d in ("2026-03-01", "2026-03-02")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ABORTED") == 1 and len(outcomes) == 2, outcomes
    winner = next(o for o in outcomes if o != "ABORTED")
    log = lifter.progress().logs[0]
    assert log.scheduled_date == winner
    assert int(log.etag) == int(etag) + 1  # exactly one change landed


def test_list_session_logs_filters_by_completion_window_and_pages_without_duplicates(new_lifter):
    lifter = new_lifter(weeks=3, days=3)
    base = datetime(2026, 1, 10, 12, tzinfo=UTC)
    for i, (week, day) in enumerate([(1, 1), (1, 2), (2, 1), (3, 3)]):
        lifter.complete(week, day, complete_time=ts(base + timedelta(days=i)))
    window = pb.ListSessionLogsRequest(
        program_id=lifter.program_id,
        time_field=pb.LOG_TIME_FIELD_COMPLETED,
        start_time=ts(base + timedelta(days=1)),
        end_time=ts(base + timedelta(days=3)),
    )
    in_window = lifter.stub.ListSessionLogs(window, metadata=lifter.metadata)
    assert [(log.week_number, log.day_number) for log in in_window.logs] == [(1, 2), (2, 1)]

    seen, token = [], ""
    while True:
        page = lifter.stub.ListSessionLogs(
            pb.ListSessionLogsRequest(program_id=lifter.program_id, page_size=4, page_token=token),
            metadata=lifter.metadata,
        )
        seen += [(log.week_number, log.day_number) for log in page.logs]
        token = page.next_page_token
        if not token:
            break
    assert seen == [(w, d) for w in (1, 2, 3) for d in (1, 2, 3)]


def test_list_session_logs_sees_only_the_callers_logs(new_lifter):
    mine, theirs = new_lifter(), new_lifter()
    theirs.complete(1, 1)
    listed = mine.stub.ListSessionLogs(pb.ListSessionLogsRequest(), metadata=mine.metadata)
    assert {log.program_id for log in listed.logs} == {mine.program_id}
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: mine.stub.GetProgramProgress(
            pb.GetProgramProgressRequest(program_id=theirs.program_id), metadata=mine.metadata
        ),
    )
    # Another lifter's program is NOT_FOUND, exactly as a missing one, not an empty list.
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: mine.stub.ListSessionLogs(
            pb.ListSessionLogsRequest(program_id=theirs.program_id), metadata=mine.metadata
        ),
    )


def test_another_user_gets_not_found_for_every_rpc_and_changes_nothing(new_lifter, token_for):
    owner = new_lifter()
    intruder = token_for(str(uuid.uuid4()))
    stub, ref = owner.stub, owner.ref(1, 1)
    calls = {
        "GetProgramProgress": lambda: stub.GetProgramProgress(
            pb.GetProgramProgressRequest(program_id=owner.program_id), metadata=intruder
        ),
        "GetWeekProgress": lambda: stub.GetWeekProgress(
            pb.GetWeekProgressRequest(program_id=owner.program_id, week_number=1), metadata=intruder
        ),
        "MarkSessionComplete": lambda: stub.MarkSessionComplete(
            pb.MarkSessionCompleteRequest(request_id=str(uuid.uuid4()), session=ref), metadata=intruder
        ),
        "SkipSession": lambda: stub.SkipSession(
            pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=ref), metadata=intruder
        ),
        "ScheduleWorkout": lambda: stub.ScheduleWorkout(
            pb.ScheduleWorkoutRequest(request_id=str(uuid.uuid4()), session=ref, scheduled_date="2026-05-01"),
            metadata=intruder,
        ),
        "WatchProgress": lambda: next(
            iter(stub.WatchProgress(pb.WatchProgressRequest(program_id=owner.program_id), metadata=intruder))
        ),
    }
    missing = str(uuid.uuid4())
    for name, call in calls.items():
        error = expect_error(grpc.StatusCode.NOT_FOUND, call)
        # Exactly what a program that does not exist answers.
        alike = expect_error(
            grpc.StatusCode.NOT_FOUND,
            lambda: stub.GetProgramProgress(pb.GetProgramProgressRequest(program_id=missing), metadata=intruder),
        )
        assert error.details() == alike.details(), name
    progress = owner.progress()
    assert progress.totals.completed_sessions == 0 and progress.totals.skipped_sessions == 0
    assert all(not log.scheduled_date for log in progress.logs)
    assert all(log.etag == "1" for log in progress.logs)


@pytest.mark.parametrize(
    ("field", "request_fields"),
    [
        ("session.week_number", {"session": t.SessionRef(week_number=0, day_number=1)}),
        ("session.day_number", {"session": t.SessionRef(week_number=1, day_number=0)}),
        ("session.week_number", {"session": t.SessionRef(week_number=-3, day_number=1)}),
        ("session", {"session": t.SessionRef(week_number=13, day_number=1)}),
        ("session.program_id", {"session": t.SessionRef(program_id="not-a-uuid", week_number=1, day_number=1)}),
        ("session_rpe", {"session_rpe": 14}),
        (
            "performed_sets[0].actual_rpe",
            {"performed_sets": [t.PerformedSet(exercise_id="x", set_number=1, actual_rpe=14)]},
        ),
        (
            "performed_sets[0].actual_load_kg",
            {"performed_sets": [t.PerformedSet(exercise_id="x", set_number=1, actual_load_kg=-20)]},
        ),
        (
            "performed_sets[0].actual_reps",
            {"performed_sets": [t.PerformedSet(exercise_id="x", set_number=1, actual_reps=-1)]},
        ),
        (
            "performed_sets",
            {"performed_sets": [t.PerformedSet(exercise_id="x", set_number=n % 20 + 1) for n in range(500)]},
        ),
        ("complete_time", {"complete_time": ts(datetime.now(UTC) + timedelta(days=2))}),
        ("request_id", {"request_id": "not-a-uuid"}),
    ],
)
def test_bad_completion_input_names_the_field_and_writes_nothing(new_lifter, field, request_fields):
    lifter = new_lifter()
    request = pb.MarkSessionCompleteRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 1))
    for name, value in request_fields.items():
        if name == "session":
            value = t.SessionRef(
                program_id=value.program_id or lifter.program_id,
                week_number=value.week_number,
                day_number=value.day_number,
            )
        if isinstance(value, list):
            getattr(request, name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    expect_invalid(field, lambda: lifter.stub.MarkSessionComplete(request, metadata=lifter.metadata))
    progress = lifter.progress()
    assert progress.totals.completed_sessions == 0
    assert all(log.etag == "1" for log in progress.logs)


def test_other_bad_input_is_invalid_argument(new_lifter):
    lifter = new_lifter()
    stub, md = lifter.stub, lifter.metadata
    expect_invalid(
        "skip_reason",
        lambda: stub.SkipSession(
            pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), skip_reason="x" * 501),
            metadata=md,
        ),
    )
    expect_invalid(
        "scheduled_date",
        lambda: stub.ScheduleWorkout(
            pb.ScheduleWorkoutRequest(
                request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), scheduled_date="2026-13-01"
            ),
            metadata=md,
        ),
    )
    expect_invalid(
        "etag",
        lambda: stub.ScheduleWorkout(
            pb.ScheduleWorkoutRequest(
                request_id=str(uuid.uuid4()), session=lifter.ref(1, 1), scheduled_date="2026-02-01", etag="garbage"
            ),
            metadata=md,
        ),
    )
    expect_invalid(
        "week_number",
        lambda: stub.GetWeekProgress(
            pb.GetWeekProgressRequest(program_id=lifter.program_id, week_number=9), metadata=md
        ),
    )
    expect_invalid(
        "program_id", lambda: stub.GetProgramProgress(pb.GetProgramProgressRequest(program_id=""), metadata=md)
    )
    expect_invalid("page_token", lambda: stub.ListSessionLogs(pb.ListSessionLogsRequest(page_token="%%%"), metadata=md))
    expect_invalid("page_size", lambda: stub.ListSessionLogs(pb.ListSessionLogsRequest(page_size=-1), metadata=md))
    expect_invalid(
        "end_time",
        lambda: stub.ListSessionLogs(
            pb.ListSessionLogsRequest(
                time_field=pb.LOG_TIME_FIELD_COMPLETED,
                start_time=ts(datetime(2026, 2, 1, tzinfo=UTC)),
                end_time=ts(datetime(2026, 1, 1, tzinfo=UTC)),
            ),
            metadata=md,
        ),
    )


def test_initialize_rejects_bad_sessions_and_writes_nothing(initialize, new_lifter, progress_stub, token_for):
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    sessions = [*planned_sessions(1, 2), t.PlannedSession(week_number=0, day_number=1, title="bad")]
    expect_invalid("sessions[2].week_number", lambda: initialize(user_id, program_id, sessions))
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: progress_stub.GetProgramProgress(
            pb.GetProgramProgressRequest(program_id=program_id), metadata=token_for(user_id)
        ),
    )


def record_feedback(internal_stub, service_token, lifter: Lifter, event_id: str, adjusted_day: int = 3) -> None:
    """The feedback service's event for week 1 day 1, adjusting week 1 `adjusted_day`."""
    adjusted = planned_sessions(1, 3)[adjusted_day - 1]
    adjusted.exercises[0].sets[0].load_kg = 95
    request = pb.RecordSessionFeedbackRequest(
        event_id=event_id,
        user_id=lifter.user_id,
        session=lifter.ref(1, 1),
        complete_time=ts(datetime(2026, 1, 1, 19, tzinfo=UTC)),
        feedback=pb.FeedbackSummary(
            feedback_id=str(uuid.uuid4()),
            categories=[t.FEEDBACK_CATEGORY_TOO_HARD],
            session_rpe=9.5,
            adjustment_reason="Loads lowered 5 % after a session that felt too hard.",
        ),
        performed_sets=performed(2, rpe=9.5),
        adjusted_sessions=[adjusted],
    )
    internal_stub.RecordSessionFeedback(request, metadata=service_token("feedback"), timeout=10)


def test_the_same_feedback_event_applied_three_times_has_one_effect(new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    event_id = str(uuid.uuid4())
    for _ in range(3):
        record_feedback(internal_stub, service_token, lifter, event_id)
    progress = lifter.progress(full=True)
    done, target = progress.logs[0], progress.logs[2]
    assert done.status == pb.SESSION_STATUS_COMPLETED and done.etag == "2"
    assert done.feedback.categories == [t.FEEDBACK_CATEGORY_TOO_HARD]
    assert "too hard" in done.feedback.adjustment_reason
    assert done.session_rpe == 9.5 and len(done.performed_sets) == 2
    assert target.prescription_adjusted and target.etag == "2"
    assert target.prescription.exercises[0].sets[0].load_kg == 95
    assert not progress.logs[1].prescription_adjusted


def test_concurrent_deliveries_of_one_feedback_event_have_one_effect(new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    event_id = str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        for done in [pool.submit(record_feedback, internal_stub, service_token, lifter, event_id) for _ in range(8)]:
            done.result()  # every delivery is acknowledged
    progress = lifter.progress(full=True)
    done, target = progress.logs[0], progress.logs[2]
    assert done.status == pb.SESSION_STATUS_COMPLETED and done.etag == "2" and len(done.performed_sets) == 2
    assert target.prescription_adjusted and target.etag == "2"


def test_feedback_on_a_session_completed_before_merges_into_its_log(new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    lifter.complete(1, 1, complete_time=ts(datetime(2026, 1, 1, 18, tzinfo=UTC)), performed_sets=performed(3, load=90))
    record_feedback(internal_stub, service_token, lifter, str(uuid.uuid4()))
    progress = lifter.progress(full=True)
    done, target = progress.logs[0], progress.logs[2]
    assert done.etag == "3" and done.feedback.categories == [t.FEEDBACK_CATEGORY_TOO_HARD]
    assert done.complete_time.ToDatetime(UTC) == datetime(2026, 1, 1, 18, tzinfo=UTC)  # the earlier stays
    # Sets 1 and 2 as the feedback reported them, set 3 as completed before.
    assert [(s.set_number, s.actual_load_kg) for s in done.performed_sets] == [(1, 100), (2, 100), (3, 90)]
    assert target.prescription_adjusted and target.prescription.exercises[0].sets[0].load_kg == 95


def test_feedback_adjusting_the_session_it_completes_stores_both(new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    record_feedback(internal_stub, service_token, lifter, str(uuid.uuid4()), adjusted_day=1)
    done = lifter.progress(full=True).logs[0]
    assert done.status == pb.SESSION_STATUS_COMPLETED and len(done.performed_sets) == 2
    assert done.prescription_adjusted and done.prescription.exercises[0].sets[0].load_kg == 95


def test_internal_rpcs_refuse_a_user_token(new_lifter, internal_stub):
    lifter = new_lifter()
    expect_error(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: internal_stub.ListUserSessionLogs(
            pb.ListUserSessionLogsRequest(user_id=lifter.user_id), metadata=lifter.metadata
        ),
    )


def test_list_user_session_logs_reads_one_users_window_for_check_ins(new_lifter, internal_stub, service_token):
    lifter = new_lifter()
    lifter.complete(1, 1, complete_time=ts(datetime(2026, 1, 5, tzinfo=UTC)), session_rpe=7)
    reply = internal_stub.ListUserSessionLogs(
        pb.ListUserSessionLogsRequest(
            user_id=lifter.user_id,
            program_id=lifter.program_id,
            time_field=pb.LOG_TIME_FIELD_COMPLETED,
            start_time=ts(datetime(2026, 1, 1, tzinfo=UTC)),
            end_time=ts(datetime(2026, 1, 8, tzinfo=UTC)),
        ),
        metadata=service_token("feedback"),
    )
    assert [(log.week_number, log.day_number, log.session_rpe) for log in reply.logs] == [(1, 1, 7.0)]
