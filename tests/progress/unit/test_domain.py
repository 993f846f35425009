"""Pure rules of the progress service, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironpath_common.errors import InvalidArgument
from ironpath_training.sets import MAX_SETS_PER_EXERCISE, check_completion_time, check_performed_sets
from progress_svc.domain import (
    PerformedSet,
    check_position,
    earliest,
    merge_performed_sets,
    totals,
)


def a_set(exercise: str = "back_squat", number: int = 1, reps: int = 5, load: float = 100.0, rpe=8.0) -> PerformedSet:
    return PerformedSet(exercise, number, 5, 100.0, 8.0, reps, load, rpe)


def test_totals_count_completed_and_skipped_and_the_rate():
    result = totals(["completed", "planned", "skipped", "completed", "scheduled"])
    assert (result.planned_sessions, result.completed_sessions, result.skipped_sessions) == (5, 2, 1)
    assert result.completion_rate == pytest.approx(0.4)
    assert totals([]).completion_rate == 0.0


@pytest.mark.parametrize(
    ("week", "day", "field"),
    [
        (0, 1, "s.week_number"),
        (1, 0, "s.day_number"),
        (53, 1, "s.week_number"),
        (1, 8, "s.day_number"),
        (-1, 1, "s.week_number"),
    ],
)
def test_positions_outside_the_calendar_name_the_field(week, day, field):
    with pytest.raises(InvalidArgument) as raised:
        check_position("s", week, day)
    assert field in [v.field for v in raised.value.violations]


def test_completion_time_may_be_slightly_ahead_but_not_in_the_future():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    check_completion_time("t", now + timedelta(minutes=4), now)
    with pytest.raises(InvalidArgument):
        check_completion_time("t", now + timedelta(hours=1), now)
    with pytest.raises(InvalidArgument):
        check_completion_time("t", datetime(1990, 1, 1, tzinfo=UTC), now)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (a_set(rpe=14.0), "sets[0].actual_rpe"),
        (a_set(rpe=0.5), "sets[0].actual_rpe"),
        (a_set(load=-5), "sets[0].actual_load_kg"),
        (a_set(reps=-1), "sets[0].actual_reps"),
        (a_set(reps=1000), "sets[0].actual_reps"),
        (a_set(exercise=""), "sets[0].exercise_id"),
        (a_set(number=0), "sets[0].set_number"),
    ],
)
def test_performed_set_out_of_range_names_the_field(bad, field):
    with pytest.raises(InvalidArgument) as raised:
        check_performed_sets("sets", [bad])
    assert raised.value.violations[0].field == field


def test_absurd_set_counts_are_refused():
    too_many = [a_set(number=n) for n in range(1, MAX_SETS_PER_EXERCISE + 2)]
    with pytest.raises(InvalidArgument):
        check_performed_sets("sets", too_many)
    too_many_exercises = [a_set(exercise=f"ex{i}") for i in range(25)]
    with pytest.raises(InvalidArgument):
        check_performed_sets("sets", too_many_exercises)


def test_a_set_without_rpe_is_valid():
    check_performed_sets("sets", [a_set(rpe=None)])


def test_merging_a_replayed_completion_keeps_one_copy_of_each_set():
    first = [a_set(number=1), a_set(number=2)]
    assert merge_performed_sets(first, first) == first


def test_merging_unites_sets_and_the_later_submission_wins_on_the_same_set():
    merged = merge_performed_sets(
        [a_set(number=1, reps=5), a_set(number=2)], [a_set(number=1, reps=3), a_set(number=3)]
    )
    by_number = {s.set_number: s for s in merged}
    assert sorted(by_number) == [1, 2, 3]
    assert by_number[1].actual_reps == 3


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=1, max_size=10))
def test_the_completion_time_is_the_earliest_whatever_the_replay_order(moments):
    result = None
    for moment in moments:
        result = earliest(result, moment)
    assert result == min(moments)
