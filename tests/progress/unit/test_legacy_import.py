"""Reading the old app's browser state and the import's merge rules, without I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironpath_common.errors import InvalidArgument
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet
from progress_svc.legacy_import import (
    CHECK_IN_REFUSED,
    FEEDBACK_REFUSED,
    MAX_ITEMS,
    MAX_STATE_BYTES,
    LegacySession,
    LegacySet,
    parse_state,
    performed_sets,
    refusal,
)

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def session(**fields) -> dict:
    return {"weekNumber": 1, "dayNumber": 1, "completedAt": "2024-03-05T18:42:10.512Z"} | fields


def parse(state: object, now: datetime = NOW):
    return parse_state(json.dumps(state), now)


def reasons(state: object) -> dict[str, str]:
    return {r.path: r.reason for r in parse(state).refused}


def invalid(raw: str) -> str:
    with pytest.raises(InvalidArgument) as raised:
        parse_state(raw, NOW)
    assert [v.field for v in raised.value.violations] == ["legacy_state_json"]
    return raised.value.violations[0].description


def test_a_well_formed_session_is_read_with_its_sets_rpe_and_notes():
    sets = [{"exercise": "back_squat", "set": 1, "reps": 5, "weightKg": 100, "rpe": 8}]
    state = parse({"version": 1, "completedSessions": [session(sets=sets, sessionRpe=8.5, notes="felt good")]})
    (item,) = state.sessions
    assert (item.path, item.week_number, item.day_number) == ("completedSessions[0]", 1, 1)
    assert item.completed_at == datetime(2024, 3, 5, 18, 42, 10, 512000, tzinfo=UTC)
    assert (item.session_rpe, item.notes) == (8.5, "felt good")
    assert item.sets[0].weight_kg == 100.0 and item.sets[0].rpe == 8
    assert state.refused == [] and state.paths == ["completedSessions[0]"]


def test_zustands_persist_envelope_is_unwrapped():
    state = parse({"state": {"completedSessions": [session()], "currentProgram": {"id": "x"}}, "version": 0})
    assert len(state.sessions) == 1


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("just text", "must be an object"),
        (session(weekNumber=0), "weekNumber must be a whole number from 1 to 52"),
        (session(dayNumber=8), "dayNumber must be a whole number from 1 to 7"),
        (session(weekNumber=True), "weekNumber must be a whole number from 1 to 52"),
        (session(weekNumber="1"), "weekNumber must be a whole number from 1 to 52"),
        (session(completedAt=None), "completedAt must be an ISO 8601 time, e.g. 2024-03-01T18:30:00.000Z"),
        (session(completedAt="last tuesday"), "completedAt is not an ISO 8601 time"),
        (session(completedAt="2024-03-05T18:42:10"), "completedAt must say its time zone (Z or an offset)"),
        (session(completedAt="2025-06-01T12:06:00Z"), "completedAt is in the future"),
        (session(completedAt="1999-12-31T23:59:59Z"), "completedAt is before 2000"),
        (session(sessionRpe=11), "sessionRpe must be a number from 1 to 10"),
        (session(notes=42), "notes must be text"),
        (session(notes="x" * 2001), "notes must be at most 2000 characters"),
        (session(sets="5x5"), "sets must be a list"),
        (
            session(sets=[{"exercise": "", "set": 1, "reps": 5, "weightKg": 1}]),
            "sets[0].exercise must be 1-64 characters",
        ),
        (
            session(sets=[{"exercise": "squat", "set": 1, "reps": 101, "weightKg": 1}]),
            "sets[0].reps must be a whole number from 0 to 100",
        ),
        (
            session(sets=[{"exercise": "squat", "set": 1, "reps": 5, "weightKg": -1}]),
            "sets[0].weightKg must be a number from 0 to 1000",
        ),
        (
            session(sets=[{"exercise": "squat", "set": 1, "reps": 5, "weightKg": 1, "rpe": 0}]),
            "sets[0].rpe must be a number from 1 to 10",
        ),
        (
            session(sets=[{"exercise": "squat", "set": 2, "reps": 5, "weightKg": 1}] * 2),
            "sets[1] repeats set 2 of squat",
        ),
    ],
)
def test_a_malformed_item_is_refused_with_its_reason_and_the_rest_are_taken(item, reason):
    state = parse({"completedSessions": [item, session(dayNumber=2)]})
    assert [r.reason for r in state.refused] == [reason]
    assert [s.path for s in state.sessions] == ["completedSessions[1]"]


def test_a_time_within_the_clock_skew_is_not_the_future():
    assert parse({"completedSessions": [session(completedAt="2025-06-01T12:04:00+00:00")]}).sessions


def test_feedback_and_check_ins_are_reported_as_refused_with_a_reason():
    state = parse({"completedSessions": [session()], "feedback": [{"weekNumber": 1}, {}], "checkIns": [{}]})
    assert reasons({"feedback": [{"weekNumber": 1}, {}], "checkIns": [{}]}) == {
        "feedback[0]": FEEDBACK_REFUSED,
        "feedback[1]": FEEDBACK_REFUSED,
        "checkIns[0]": CHECK_IN_REFUSED,
    }
    assert state.paths == ["completedSessions[0]", "feedback[0]", "feedback[1]", "checkIns[0]"]


def test_the_same_session_twice_keeps_the_earliest_completion():
    state = parse(
        {
            "completedSessions": [
                session(completedAt="2024-03-06T10:00:00Z"),
                session(completedAt="2024-03-05T10:00:00Z"),
                session(completedAt="2024-03-05T10:00:00Z"),
            ]
        }
    )
    assert [s.path for s in state.sessions] == ["completedSessions[1]"]
    assert {r.path for r in state.refused} == {"completedSessions[0]", "completedSessions[2]"}
    assert all("completedSessions[1]" in r.reason for r in state.refused)


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ("", "is required: the old app's saved state, as JSON"),
        ("{not json", "is not valid JSON"),
        ('{"completedSessions": [{"weekNumber": NaN}]}', "is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
        ("[]", "must be a JSON object holding completedSessions, feedback or checkIns"),
        ('{"currentProgram": {}}', "holds none of completedSessions, feedback or checkIns"),
        ('{"version": 2, "completedSessions": []}', "version 2 is not supported (expected 1)"),
        ('{"completedSessions": {"0": {}}}', "completedSessions must be a list"),
    ],
)
def test_a_request_that_cannot_be_an_import_names_legacy_state_json(raw, description):
    assert invalid(raw) == description


def test_more_than_the_item_limit_or_the_size_limit_is_refused_whole():
    items = {"completedSessions": [session()] * (MAX_ITEMS - 1), "checkIns": [{}, {}]}
    assert invalid(json.dumps(items)) == f"holds {MAX_ITEMS + 1} items; at most {MAX_ITEMS} per import"
    padded = json.dumps({"completedSessions": [session(notes="x")], "pad": "x" * MAX_STATE_BYTES})
    assert invalid(padded) == "is larger than 1 MiB"
    # Exactly at the limits is fine.
    assert len(parse({"completedSessions": [session(dayNumber=1 + i % 7) for i in range(MAX_ITEMS)]}).paths) == 1000


def legacy(completed_at: datetime, *sets) -> LegacySession:
    return LegacySession("completedSessions[0]", 2, 3, completed_at, tuple(sets), None, None)


def test_a_session_not_completed_on_the_server_is_taken_and_a_completed_one_keeps_the_servers_record():
    at = datetime(2024, 3, 5, 18, tzinfo=UTC)
    item = legacy(at)
    for status in ("planned", "scheduled", "skipped"):
        assert refusal(item, status, None) is None
    assert refusal(item, None, None) == "week 2 day 3 is not a session of this program"
    newer = refusal(item, "completed", at + timedelta(hours=1))
    assert newer == "the server has a newer completion of this session (2024-03-05T19:00:00Z); it is kept"
    assert refusal(item, "completed", at) == "already recorded: this completion was imported before"
    assert refusal(item, "completed", at - timedelta(days=1)) is not None


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_an_import_never_changes_a_completed_session(server_time, imported_time):
    assert refusal(legacy(imported_time), "completed", server_time) is not None


def test_sets_are_matched_to_the_prescription_by_id_or_name_and_carry_its_targets():
    prescription = PlannedSession(
        2,
        3,
        "Squat day",
        None,
        False,
        (
            PlannedExercise(
                "back_squat",
                "Back Squat",
                "squat",
                1,
                (PlannedSet(1, 5, 0.75, 100.0, 7.5), PlannedSet(2, 5, 0.75, 100.0, 8.0)),
            ),
        ),
    )
    item = legacy(
        datetime(2024, 3, 5, tzinfo=UTC),
        LegacySet("back_squat", 1, 5, 102.5, 8.0),
        LegacySet("BACK SQUAT", 2, 4, 102.5, None),
        LegacySet("Back Squat", 3, 3, 102.5, 9.5),
        LegacySet("curls", 1, 12, 15.0, None),
    )
    result = performed_sets(item, prescription)
    assert [(s.exercise_id, s.set_number, s.target_reps, s.target_load_kg, s.target_rpe) for s in result] == [
        ("back_squat", 1, 5, 100.0, 7.5),
        ("back_squat", 2, 5, 100.0, 8.0),
        ("back_squat", 3, 0, 0.0, 0.0),  # a set beyond the prescription has no targets
        ("curls", 1, 0, 0.0, 0.0),  # an exercise the session did not prescribe keeps its id
    ]
    assert [(s.actual_reps, s.actual_load_kg, s.actual_rpe) for s in result][:2] == [(5, 102.5, 8.0), (4, 102.5, None)]
    assert performed_sets(item, None)[1].exercise_id == "BACK SQUAT"
