"""ImportLegacyProgress through the progress service's real port (and once through Envoy): what
it takes, what it refuses and why, replays, the server's newer data kept, a coach kept out, and
bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.program.v1 import program_pb2_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from progress_svc.legacy_import import CHECK_IN_REFUSED, FEEDBACK_REFUSED
from tests.program.api.test_program_api import generate
from tests.program.api.test_sharing_api import Person, shared
from tests.progress.api.conftest import Lifter, performed
from tests.support.rpc import expect_error, expect_invalid

T = datetime(2025, 3, 5, 18, 42, 10, 512000, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def squat_sets(load: float = 102.5) -> list[dict]:
    return [{"exercise": "Back Squat", "set": n, "reps": 5, "weightKg": load, "rpe": 8} for n in (1, 2, 3)]


def import_state(lifter: Lifter, state: object, request_id: str | None = None, program_id: str | None = None):
    request = pb.ImportLegacyProgressRequest(
        request_id=request_id or str(uuid.uuid4()),
        program_id=program_id or lifter.program_id,
        legacy_state_json=state if isinstance(state, str) else json.dumps(state),
    )
    return lifter.stub.ImportLegacyProgress(request, metadata=lifter.metadata, timeout=10)


def results(reply: pb.ImportLegacyProgressResponse) -> list[tuple[str, bool, str]]:
    return [(item.path, item.accepted, item.reason) for item in reply.items]


def etags(lifter: Lifter) -> list[str]:
    return [log.etag for log in lifter.progress().logs]


def test_import_completes_the_sessions_it_can_and_reports_every_item_with_a_reason(new_lifter):
    lifter = new_lifter(weeks=2, days=3)
    state = {
        "version": 1,
        "completedSessions": [
            {
                "weekNumber": 1,
                "dayNumber": 1,
                "completedAt": iso(T),
                "sets": squat_sets(),
                "sessionRpe": 8.5,
                "notes": "Belt on the last set.",
            },
            {"weekNumber": 1, "dayNumber": 2, "completedAt": iso(T + timedelta(days=2))},
            {"weekNumber": 3, "dayNumber": 1, "completedAt": iso(T + timedelta(days=14))},
            {"weekNumber": 1, "dayNumber": 3, "completedAt": iso(datetime.now(UTC) + timedelta(days=1))},
        ],
        "feedback": [{"weekNumber": 1, "dayNumber": 1, "categories": ["too_easy"], "feedbackText": "easy"}],
        "checkIns": [{"date": "2025-03-09", "adherenceRate": 1.0}],
    }
    reply = import_state(lifter, state)

    assert (reply.accepted_count, reply.refused_count) == (2, 4)
    assert results(reply) == [
        ("completedSessions[0]", True, "completed week 1 day 1"),
        ("completedSessions[1]", True, "completed week 1 day 2"),
        ("completedSessions[2]", False, "week 3 day 1 is not a session of this program"),
        ("completedSessions[3]", False, "completedAt is in the future"),
        ("feedback[0]", False, FEEDBACK_REFUSED),
        ("checkIns[0]", False, CHECK_IN_REFUSED),
    ]
    progress = lifter.progress(full=True)
    assert [log.status for log in progress.logs][:3] == [
        pb.SESSION_STATUS_COMPLETED,
        pb.SESSION_STATUS_COMPLETED,
        pb.SESSION_STATUS_PLANNED,
    ]
    first = progress.logs[0]
    assert first.complete_time.ToDatetime(tzinfo=UTC) == T
    assert (first.session_rpe, first.notes) == (8.5, "Belt on the last set.")
    # Sets land beside the prescription: the old app's exercise name becomes the planned id.
    assert [
        (s.exercise_id, s.set_number, s.target_reps, s.target_load_kg, s.target_rpe, s.actual_reps, s.actual_load_kg)
        for s in first.performed_sets
    ] == [("back_squat", n, 5, 100.0, 7.5, 5, 102.5) for n in (1, 2, 3)]
    assert all(s.actual_rpe == 8 for s in first.performed_sets)
    assert progress.logs[1].complete_time.ToDatetime(tzinfo=UTC) == T + timedelta(days=2)
    assert not progress.logs[1].performed_sets and not progress.logs[1].notes


def test_import_replayed_twice_has_one_effect(new_lifter):
    lifter = new_lifter()
    state = {
        "completedSessions": [
            {"weekNumber": 1, "dayNumber": d, "completedAt": iso(T + timedelta(days=d)), "sets": squat_sets()}
            for d in (1, 2, 3)
        ]
    }
    request_id = str(uuid.uuid4())
    first = import_state(lifter, state, request_id)
    assert first.accepted_count == 3
    after_first = etags(lifter)

    # A retry of the same request answers the first response.
    assert import_state(lifter, state, request_id) == first
    # The same state sent again as a new request: the merge itself changes nothing.
    again = import_state(lifter, state)
    assert (again.accepted_count, again.refused_count) == (0, 3)
    assert {item.reason for item in again.items} == {"already recorded: this completion was imported before"}
    assert etags(lifter) == after_first
    assert lifter.progress().totals.completed_sessions == 3
    assert len(lifter.progress(full=True).logs[0].performed_sets) == 3


def test_a_newer_completion_on_the_server_is_kept_and_the_import_says_why(new_lifter):
    lifter = new_lifter()
    server_time = T + timedelta(hours=3)
    lifter.complete(1, 1, complete_time=ts(server_time), performed_sets=performed(2, load=110), session_rpe=9)
    lifter.complete(1, 2, complete_time=ts(T - timedelta(days=1)))
    before = lifter.progress(full=True)
    state = {
        "completedSessions": [
            {"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T), "sets": squat_sets(90), "notes": "old"},
            {"weekNumber": 1, "dayNumber": 2, "completedAt": iso(T)},
        ]
    }
    reply = import_state(lifter, state)

    assert results(reply) == [
        (
            "completedSessions[0]",
            False,
            "the server has a newer completion of this session (2025-03-05T21:42:10.512000Z); it is kept",
        ),
        (
            "completedSessions[1]",
            False,
            "the server already has this session completed (2025-03-04T18:42:10.512000Z); it is kept",
        ),
    ]
    after = lifter.progress(full=True)
    assert after == before  # times, sets, RPE, etags: all the server's
    assert after.logs[0].complete_time.ToDatetime(tzinfo=UTC) == server_time
    assert [s.actual_load_kg for s in after.logs[0].performed_sets] == [110, 110]


def test_a_skipped_session_is_completed_by_the_import(new_lifter):
    lifter = new_lifter()
    lifter.stub.SkipSession(
        pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=lifter.ref(2, 1), skip_reason="travel"),
        metadata=lifter.metadata,
        timeout=10,
    )
    reply = import_state(lifter, {"completedSessions": [{"weekNumber": 2, "dayNumber": 1, "completedAt": iso(T)}]})
    assert reply.accepted_count == 1
    log = lifter.progress().logs[3]
    assert (log.status, log.skip_reason) == (pb.SESSION_STATUS_COMPLETED, "")


@pytest.mark.parametrize(
    "state",
    [
        "x" * (1024 * 1024 + 1),
        json.dumps({"completedSessions": [{"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T)}] * 1001}),
        "{not json",
        json.dumps([{"weekNumber": 1}]),
        json.dumps({"completedSessions": "all of them"}),
        "",
    ],
    ids=["over-1-MiB", "over-1000-items", "not-json", "not-an-object", "not-a-list", "empty"],
)
def test_an_unusable_state_is_invalid_naming_the_field_and_writes_nothing(new_lifter, state):
    lifter = new_lifter()
    request_id = str(uuid.uuid4())
    before = etags(lifter)
    expect_invalid("legacy_state_json", lambda: import_state(lifter, state, request_id))
    assert etags(lifter) == before
    # Not even the request id was kept: it still works for a good request.
    good = {"completedSessions": [{"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T)}]}
    assert import_state(lifter, good, request_id).accepted_count == 1


def test_someone_elses_program_is_not_found_like_a_missing_one_and_nothing_is_written(new_lifter):
    owner, intruder = new_lifter(), new_lifter()
    state = {"completedSessions": [{"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T)}]}
    before = etags(owner)
    theirs = expect_error(grpc.StatusCode.NOT_FOUND, lambda: import_state(intruder, state, program_id=owner.program_id))
    missing = expect_error(
        grpc.StatusCode.NOT_FOUND, lambda: import_state(intruder, state, program_id=str(uuid.uuid4()))
    )
    assert theirs.details() == missing.details()
    assert etags(owner) == before
    expect_invalid("program_id", lambda: import_state(intruder, state, program_id="not-a-uuid"))
    expect_invalid("request_id", lambda: import_state(intruder, state, request_id="1"))


def test_the_same_request_id_with_another_state_is_invalid(new_lifter):
    lifter = new_lifter()
    request_id = str(uuid.uuid4())
    import_state(lifter, {"completedSessions": [{"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T)}]}, request_id)
    other = {"completedSessions": [{"weekNumber": 1, "dayNumber": 2, "completedAt": iso(T)}]}
    expect_invalid("request_id", lambda: import_state(lifter, other, request_id))
    assert lifter.progress().logs[1].status == pb.SESSION_STATUS_PLANNED


def test_a_state_near_the_size_limit_goes_through_envoy(new_lifter, gateway_channel):
    lifter = new_lifter(stub=pb_grpc.ProgressServiceStub(gateway_channel))
    sessions = [
        {
            "weekNumber": 1 + i // 3,
            "dayNumber": 1 + i % 3,
            "completedAt": iso(T + timedelta(days=i)),
            "sets": squat_sets(),
        }
        for i in range(6)
    ]
    # The old store held more than progress; unknown fields are ignored.
    state = {"state": {"completedSessions": sessions, "cachedProgram": "x" * 1_000_000}, "version": 0}
    assert len(json.dumps(state)) < 1024 * 1024
    reply = import_state(lifter, state)
    assert (reply.accepted_count, reply.refused_count) == (6, 0)
    assert lifter.progress().totals.completed_sessions == 6


def test_a_coach_with_a_live_grant_reads_the_program_but_cannot_import_into_it(channels, token_for):
    programs = program_pb2_grpc.ProgramServiceStub(channels["program"])
    accounts = program_pb2_grpc.AccountServiceStub(channels["program"])
    owner, coach = Person(token_for), Person(token_for)
    program = generate(programs, owner.md, weeks=2, days_per_week=3)
    shared(accounts, owner, coach, program.program_id)
    as_coach = Lifter(coach.user_id, program.program_id, coach.md, pb_grpc.ProgressServiceStub(channels["progress"]))
    assert as_coach.progress().totals.planned_sessions == 6

    state = {"completedSessions": [{"weekNumber": 1, "dayNumber": 1, "completedAt": iso(T)}]}
    refused = expect_error(grpc.StatusCode.NOT_FOUND, lambda: import_state(as_coach, state))
    missing = expect_error(
        grpc.StatusCode.NOT_FOUND, lambda: import_state(as_coach, state, program_id=str(uuid.uuid4()))
    )
    assert refused.details() == missing.details()
    assert as_coach.progress().totals.completed_sessions == 0
