"""Training analytics as pure rules: one session's figures, and a hand-built history added up,
with every number worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpath.progress.v1 import figures_pb2
from ironpath_common.errors import InvalidArgument
from ironpath_training.sets import PerformedSet
from progress_svc.analytics import (
    Analytics,
    LoggedSession,
    SessionFigures,
    WeekBy,
    aggregate,
    check_date_range,
    monday,
    session_figures,
    streaks,
)
from progress_svc.repository import decode_figures, encode_figures


def lifted(exercise: str, load: float, reps: int, rpe: float | None, target_rpe: float = 7.5, number: int = 1):
    return PerformedSet(exercise, number, reps, load, target_rpe, reps, load, rpe)


def logged(week: int, status: str, day: date | None, figures: SessionFigures | None = None) -> LoggedSession:
    return LoggedSession(week, status, day, monday(day) if day else None, figures)


def figures(*sets: PerformedSet) -> SessionFigures:
    result = session_figures(sets)
    assert result is not None
    return result


# --- One session ----------------------------------------------------------------------------


def test_five_reps_at_rpe_8_with_100_kg_is_an_e1rm_of_123_3_by_the_rts_chart():
    squat = figures(lifted("back_squat", 100, 5, 8.0)).lifts[0]
    # The chart puts 5 @ 8 at 81.1 % of 1RM: 100 / 0.811.
    assert squat.best_e1rm_kg == pytest.approx(123.30, abs=0.005)
    assert squat.best_e1rm_set == lifted("back_squat", 100, 5, 8.0)


def test_a_session_adds_up_tonnage_hard_sets_lifts_muscle_groups_and_rpe():
    sets = [
        lifted("back_squat", 100, 5, 8.0, number=1),  # 500 kg, hard, e1RM 100 / 0.811 = 123.30
        lifted("back_squat", 100, 5, 8.5, number=2),  # 500 kg, hard, e1RM 100 / 0.824 = 121.36
        lifted("back_squat", 105, 3, None, target_rpe=8.0, number=3),  # 315 kg, hard by target, Epley 115.5
        lifted("back_squat", 110, 0, None, number=4),  # no reps: not a set
        lifted("front_squat", 80, 5, 6.0, target_rpe=6.5),  # 400 kg of squat volume, not hard, no squat e1RM
        lifted("lat_pulldown", 50, 10, None, target_rpe=6.5),  # 500 kg, not hard, back and arms
        lifted("sled_push", 20, 10, 7.0, target_rpe=7.0),  # 200 kg, hard, outside the catalogue
    ]
    result = figures(*sets)
    assert result.tonnage_kg == pytest.approx(500 + 500 + 315 + 400 + 500 + 200)
    assert result.hard_sets == 4

    (squat,) = result.lifts
    assert (squat.lift, squat.tonnage_kg, squat.hard_sets) == ("squat", 1715, 3)
    assert squat.best_e1rm_kg == pytest.approx(100 / 0.811)
    assert squat.best_e1rm_set is not None and squat.best_e1rm_set.set_number == 1
    assert squat.heaviest_load_kg == 105  # the 110 kg attempt had no reps
    assert squat.heaviest_set is not None and squat.heaviest_set.set_number == 3

    groups = {g.muscle_group: (g.tonnage_kg, g.hard_sets) for g in result.muscle_groups}
    assert groups == {
        "quads": (1715, 3),  # back and front squat
        "glutes": (1315, 3),  # back squat only
        "back": (500, 0),
        "arms": (500, 0),
        "other": (200, 1),
    }
    # Sets with both a reported and a target RPE: 8/7.5, 8.5/7.5, 6/6.5, 7/7.
    assert (result.rpe_set_count, result.reported_rpe_sum, result.target_rpe_sum) == (4, 29.5, 28.5)


def test_epley_above_12_reps_or_without_rpe():
    assert figures(lifted("bench_press", 60, 15, 9.0)).lifts[0].best_e1rm_kg == pytest.approx(60 * (1 + 15 / 30))
    assert figures(lifted("bench_press", 90, 3, None)).lifts[0].best_e1rm_kg == pytest.approx(90 * 1.1)


def test_a_session_without_a_lifted_set_has_no_figures():
    assert session_figures([]) is None
    assert session_figures([lifted("back_squat", 100, 0, 8.0)]) is None


# --- A history ------------------------------------------------------------------------------


def history() -> list[LoggedSession]:
    """A 2-week, 3-day program:
    week 1: Mon 5 Jan squat 3 x 100 x 5 @ 8; Wed 7 Jan bench 3 x 80 x 5 @ 9; Fri skipped.
    week 2: Mon 12 Jan squat 3 x 105 x 5 @ 8; Wed 14 Jan squat 110 x 1 @ 7; Fri not done.
    Every target RPE is 7.5."""

    def squat(load: float, reps: int, rpe: float, count: int = 3) -> SessionFigures:
        return figures(*(lifted("back_squat", load, reps, rpe, number=n) for n in range(1, count + 1)))

    bench = figures(*(lifted("bench_press", 80, 5, 9.0, number=n) for n in (1, 2, 3)))
    return [
        logged(1, "completed", date(2026, 1, 5), squat(100, 5, 8.0)),
        logged(1, "completed", date(2026, 1, 7), bench),
        logged(1, "skipped", date(2026, 1, 9), None),
        logged(2, "completed", date(2026, 1, 12), squat(105, 5, 8.0)),
        logged(2, "completed", date(2026, 1, 14), squat(110, 1, 7.0, count=1)),
        logged(2, "planned", date(2026, 1, 16), None),
    ]


def check_history(result: Analytics) -> None:
    weeks = [
        (w.planned_sessions, w.completed_sessions, w.skipped_sessions, w.tonnage_kg, w.hard_sets) for w in result.weeks
    ]
    # Week 1: 1500 + 1200 kg, 6 hard sets. Week 2: 1575 + 110 kg, 4 hard sets.
    assert weeks == [(3, 2, 1, 2700, 6), (3, 2, 0, 1685, 4)]
    assert [w.adherence_rate for w in result.weeks] == pytest.approx([2 / 3, 2 / 3])
    assert (result.planned_sessions, result.completed_sessions, result.skipped_sessions) == (6, 4, 1)
    assert (result.tonnage_kg, result.hard_sets) == (4385, 10)

    squat, bench = result.lifts
    assert (squat.lift, squat.tonnage_kg, squat.hard_sets) == ("squat", 1500 + 1575 + 110, 7)
    # e1RM by day: 100 / 0.811, 105 / 0.811, and 110 x 1 @ 7 = 110 / 0.892.
    trend = [(p.day, p.e1rm_kg) for p in squat.trend]
    assert trend == [
        (date(2026, 1, 5), pytest.approx(123.30, abs=0.005)),
        (date(2026, 1, 12), pytest.approx(129.47, abs=0.005)),
        (date(2026, 1, 14), pytest.approx(123.32, abs=0.005)),
    ]
    assert squat.best_e1rm_kg == pytest.approx(129.47, abs=0.005)
    assert squat.heaviest_load_kg == 110
    # 5 @ 9 is 83.7 %: 80 / 0.837.
    assert (bench.lift, bench.best_e1rm_kg) == ("bench_press", pytest.approx(95.58, abs=0.005))

    # Records are the running maxima: 14 Jan sets a load record but not an e1RM one.
    records = [(r.day, r.lift, r.kind, r.value_kg) for r in result.records]
    assert records == [
        (date(2026, 1, 5), "squat", "e1rm", pytest.approx(123.30, abs=0.005)),
        (date(2026, 1, 5), "squat", "load", 100),
        (date(2026, 1, 7), "bench_press", "e1rm", pytest.approx(95.58, abs=0.005)),
        (date(2026, 1, 7), "bench_press", "load", 80),
        (date(2026, 1, 12), "squat", "e1rm", pytest.approx(129.47, abs=0.005)),
        (date(2026, 1, 12), "squat", "load", 105),
        (date(2026, 1, 14), "squat", "load", 110),
    ]
    assert [r.set.actual_load_kg for r in result.records if r.lift == "squat"] == [100, 100, 105, 105, 110]

    muscles = {g.muscle_group: (g.tonnage_kg, g.hard_sets) for g in result.muscle_groups}
    assert muscles == {"quads": (3185, 7), "glutes": (3185, 7), "chest": (1200, 3), "arms": (1200, 3)}

    # Reported 3 x 8, 3 x 9, 3 x 8, 1 x 7 = 82 over 10 sets; targets 10 x 7.5.
    assert result.rpe_set_count == 10
    assert result.average_reported_rpe == pytest.approx(8.2)
    assert result.average_target_rpe == pytest.approx(7.5)
    assert result.rpe_drift == pytest.approx(0.7)


def test_a_program_history_adds_up_by_program_week():
    result = aggregate(history(), week_by=WeekBy.PROGRAM_WEEK, as_of=date(2026, 1, 20))
    check_history(result)
    assert [(w.week_number, w.week_start) for w in result.weeks] == [(1, None), (2, None)]
    # Completions in the weeks of 5 and 12 January; 20 January is the week after: still alive.
    assert (result.streaks.current_weeks, result.streaks.longest_weeks) == (2, 2)


@pytest.mark.parametrize("decode", [figures_pb2.SessionFigures.FromString, decode_figures])
def test_the_stored_figures_add_up_exactly_like_the_computed_figures(decode):
    stored = [
        LoggedSession(
            s.week_number,
            s.status,
            s.session_date,
            s.week_start,
            decode(encode_figures(s.figures)) if s.figures else None,
        )
        for s in history()
    ]
    result = aggregate(stored, week_by=WeekBy.PROGRAM_WEEK, as_of=date(2026, 1, 20))
    check_history(result)
    assert result.records[0].set.exercise_id == "back_squat"


def test_decoded_figures_are_kept_by_their_bytes():
    data = encode_figures(history()[0].figures)
    assert data is not None
    first = decode_figures(data)
    assert decode_figures(bytes(bytearray(data))) is first  # equal bytes, another object: the same figures
    assert first.lifts[0].best_e1rm_set.exercise_id == "back_squat"


def test_a_date_range_adds_up_by_calendar_week_from_monday():
    sessions = [*history(), logged(3, "planned", None, None)]  # no date: outside any range
    result = aggregate(sessions, week_by=WeekBy.CALENDAR_WEEK, as_of=date(2026, 1, 31))
    check_history(result)
    assert [(w.week_number, w.week_start) for w in result.weeks] == [(0, date(2026, 1, 5)), (0, date(2026, 1, 12))]
    # The week of 26 January and the one before have no completion.
    assert (result.streaks.current_weeks, result.streaks.longest_weeks) == (0, 2)


def test_no_sessions_add_up_to_zeros():
    result = aggregate([], week_by=WeekBy.CALENDAR_WEEK, as_of=date(2026, 1, 31))
    assert (result.weeks, result.lifts, result.records, result.rpe_drift) == ([], [], [], 0.0)
    assert result.adherence_rate == 0.0


@pytest.mark.parametrize(
    ("as_of", "current"),
    [
        (date(2026, 2, 15), 3),  # Sunday of the last trained week
        (date(2026, 2, 19), 3),  # the week after: not over, so not broken
        (date(2026, 2, 23), 0),  # a whole week went by without a session
    ],
)
def test_streaks_count_consecutive_weeks_with_a_completed_session(as_of, current):
    # Weeks of 5 and 12 Jan; none the week of 19 Jan; weeks of 26 Jan, 2 Feb (twice) and 9 Feb.
    days = [
        date(2026, 1, 5),
        date(2026, 1, 16),
        date(2026, 1, 26),
        date(2026, 2, 2),
        date(2026, 2, 8),
        date(2026, 2, 10),
    ]
    result = streaks(days, as_of)
    assert (result.current_weeks, result.longest_weeks) == (current, 3)


def test_longest_streak_across_a_year_end():
    days = [date(2025, 12, 22), date(2025, 12, 31), date(2026, 1, 5), date(2026, 3, 2)]
    assert streaks(days, date(2026, 3, 3)).longest_weeks == 3


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 1, 1), date(2026, 1, 1)),
        (date(2021, 3, 1), date(2026, 3, 1)),
        (date(2024, 2, 29), date(2029, 2, 28)),
    ],
)
def test_a_range_up_to_five_years_is_accepted(start, end):
    check_date_range(start, end)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 1, 2), date(2026, 1, 1)),
        (date(2021, 3, 1), date(2026, 3, 2)),
        (date(2024, 2, 29), date(2029, 3, 1)),
    ],
)
def test_a_reversed_range_or_one_over_five_years_names_end_date(start, end):
    with pytest.raises(InvalidArgument) as raised:
        check_date_range(start, end)
    assert [v.field for v in raised.value.violations] == ["end_date"]


# --- Laws over any history ------------------------------------------------------------------

_SETS = st.builds(
    lambda exercise, load, reps, rpe, target: PerformedSet(exercise, 1, reps, load, target, reps, load, rpe),
    st.sampled_from(["back_squat", "front_squat", "bench_press", "deadlift", "plank", "sled_push"]),
    st.sampled_from([0.0, 20.0, 60.0, 100.0, 102.5, 140.0]),
    st.integers(0, 15),
    st.none() | st.sampled_from([6.0, 7.5, 8.0, 9.5, 10.0]),
    st.sampled_from([0.0, 6.5, 7.0, 8.0]),
)
_SESSIONS = st.lists(
    st.tuples(
        st.integers(1, 4),
        st.sampled_from(["completed", "completed", "skipped", "planned"]),
        st.none() | st.dates(date(2025, 12, 1), date(2026, 3, 1)),
        st.lists(_SETS, max_size=6),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(_SESSIONS, st.sampled_from(list(WeekBy)))
def test_any_history_adds_up_to_its_sessions_and_records_only_ever_rise(raw, week_by):
    sessions = [
        logged(week, status, day, session_figures(sets) if status == "completed" else None)
        for week, status, day, sets in raw
    ]
    result = aggregate(sessions, week_by=week_by, as_of=date(2026, 3, 1))
    counted = [s for s in sessions if week_by is WeekBy.PROGRAM_WEEK or s.session_date is not None]
    assert result.planned_sessions == len(counted)
    assert result.completed_sessions == sum(s.status == "completed" for s in counted)
    assert result.tonnage_kg == pytest.approx(sum(s.figures.tonnage_kg for s in counted if s.figures))
    assert sum(w.hard_sets for w in result.weeks) == sum(s.figures.hard_sets for s in counted if s.figures)
    for lift in result.lifts:
        days = [p.day for p in lift.trend]
        assert days == sorted(set(days))
        assert lift.best_e1rm_kg == max((p.e1rm_kg for p in lift.trend), default=0.0)
        for kind in ("e1rm", "load"):
            values = [r.value_kg for r in result.records if r.lift == lift.lift and r.kind == kind]
            assert values == sorted(set(values))
            assert (values[-1] if values else 0.0) == (lift.best_e1rm_kg if kind == "e1rm" else lift.heaviest_load_kg)
    assert [r.day for r in result.records] == sorted(r.day for r in result.records)
