"""Feedback, readiness and check-in rules with worked numbers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedback_svc.domain import (
    Category,
    Feedback,
    LoggedSession,
    PeriodFigures,
    Readiness,
    ReadinessAdvice,
    Recommendation,
    adjust,
    apply_readiness,
    bounded_load,
    period_figures,
    readiness,
    recommend,
)
from ironpath_training.loads import KG_PER_LB, bar_kg, is_loadable
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet


def squat_bench(week: int, day: int, squat: float = 100.0, bench: float = 80.0) -> PlannedSession:
    def main(exercise_id: str, lift: str, load: float, order: int) -> PlannedExercise:
        return PlannedExercise(
            exercise_id,
            exercise_id.replace("_", " ").title(),
            lift,
            order,
            tuple(PlannedSet(n, 5, 0.75, load, 7.5) for n in (1, 2, 3)),
        )

    return PlannedSession(
        week,
        day,
        "Squat & Bench",
        None,
        False,
        (
            main("back_squat", "squat", squat, 1),
            main("bench_press", "bench_press", bench, 2),
            PlannedExercise("dumbbell_row", "Row", None, 3, tuple(PlannedSet(n, 10, 0.0, 0.0, 8.0) for n in (1, 2, 3))),
        ),
    )


def deadlift_day(week: int, day: int) -> PlannedSession:
    return PlannedSession(
        week,
        day,
        "Deadlift",
        None,
        False,
        (PlannedExercise("deadlift", "Deadlift", "deadlift", 1, (PlannedSet(1, 5, 0.8, 140.0, 8.0),)),),
    )


DONE = squat_bench(1, 1)
FOLLOWING = [deadlift_day(1, 2), squat_bench(1, 3), squat_bench(2, 1)]


def feedback(*categories: Category, **fields) -> Feedback:
    return Feedback(frozenset(categories), **fields)


def sets_of(session: PlannedSession, exercise_id: str) -> tuple[PlannedSet, ...]:
    return next(e.sets for e in session.exercises if e.exercise_id == exercise_id)


def test_too_easy_raises_the_next_squat_and_bench_5_percent_and_the_rpe_target_half_a_point():
    result = adjust(DONE, FOLLOWING, feedback(Category.TOO_EASY, session_rpe=7), "kg")
    [next_squat_day] = result.sessions  # the deadlift day in between is untouched
    assert (next_squat_day.week_number, next_squat_day.day_number) == (1, 3)
    assert [s.load_kg for s in sets_of(next_squat_day, "back_squat")] == [105.0] * 3
    assert [s.load_kg for s in sets_of(next_squat_day, "bench_press")] == [82.5] * 3  # 84 -> 82.5, toward 80
    assert sets_of(next_squat_day, "back_squat")[0].rpe_target == 8.0
    assert "too easy" in result.reason and result.adjustments[0].load_change_percent == 5.0


def test_very_easy_raises_seven_and_a_half_percent():
    result = adjust(DONE, FOLLOWING, feedback(Category.TOO_EASY, session_rpe=5.5), "kg")
    assert sets_of(result.sessions[0], "back_squat")[0].load_kg == 107.5


def test_too_hard_lowers_the_next_session_of_the_same_lifts():
    result = adjust(DONE, FOLLOWING, feedback(Category.TOO_HARD, session_rpe=9), "kg")
    assert sets_of(result.sessions[0], "back_squat")[0].load_kg == 95.0
    assert sets_of(result.sessions[0], "back_squat")[0].rpe_target == 7.0


def test_excessive_fatigue_cuts_a_set_from_the_very_next_session():
    result = adjust(DONE, FOLLOWING, feedback(Category.EXCESSIVE_FATIGUE), "kg")
    deadlift = next(s for s in result.sessions if s.day_number == 2)
    assert len(sets_of(deadlift, "deadlift")) == 1  # one set stays one set
    squat = next(s for s in result.sessions if s.day_number == 3)
    assert sets_of(squat, "back_squat")[0].load_kg == 95.0 and sets_of(squat, "back_squat")[0].rpe_target == 6.5


def test_short_on_time_cuts_the_accessories_of_the_next_session():
    result = adjust(squat_bench(1, 1), [squat_bench(1, 2)], feedback(Category.SHORT_ON_TIME), "kg")
    assert [e.exercise_id for e in result.sessions[0].exercises] == ["back_squat", "bench_press"]
    assert any(a.kind == "removed" and a.exercise_id == "dumbbell_row" for a in result.adjustments)


def test_knee_pain_swaps_the_squat_for_a_knee_friendly_variation_for_the_coming_week():
    result = adjust(DONE, FOLLOWING, feedback(Category.JOINT_PAIN, pain_area="knee"), "kg")
    swapped = [e for s in result.sessions for e in s.exercises if e.substituted_for == "back_squat"]
    assert {e.exercise_id for e in swapped} == {"box_squat"} and len(swapped) == 2
    assert all("knee" in e.notes for e in swapped)


def test_no_barbell_today_swaps_every_barbell_lift():
    result = adjust(DONE, FOLLOWING, feedback(Category.EQUIPMENT_UNAVAILABLE), "kg")
    ids = {e.exercise_id for s in result.sessions for e in s.exercises}
    assert not ids & {"back_squat", "bench_press", "deadlift"}
    assert "dumbbell_bench_press" in ids


def test_categories_stack_but_never_past_the_bounds():
    result = adjust(
        DONE,
        FOLLOWING,
        feedback(Category.TOO_HARD, Category.EXCESSIVE_FATIGUE, Category.POOR_SLEEP, session_rpe=10),
        "kg",
    )
    squat = sets_of(next(s for s in result.sessions if s.day_number == 3), "back_squat")[0]
    assert squat.load_kg == 90.0  # -7.5 -5 -2.5 % stacks to -15 %, held at -10 %
    assert squat.rpe_target == 6.5  # -1 at most


@given(
    load=st.floats(20, 400).map(lambda x: round(x / 2.5) * 2.5),
    change=st.floats(-0.10, 0.10),
    unit=st.sampled_from(["kg", "lb"]),
)
def test_no_adjustment_moves_a_load_more_than_ten_percent_or_below_the_bar(load, change, unit):
    if unit == "lb":
        load = round(load / KG_PER_LB / 5) * 5 * KG_PER_LB
    new = bounded_load(load, change, unit, barbell=True)
    assert is_loadable(new, unit)
    assert abs(new - load) <= 0.10 * load + 1e-9
    assert new >= min(load, bar_kg(unit)) - 1e-9


def test_bounded_load_rounds_toward_the_original():
    assert bounded_load(102.5, -0.10, "kg", barbell=True) == 92.5  # 92.25 -> up to 92.5, not down to 90
    assert bounded_load(22.5, -0.10, "kg", barbell=True) == 22.5  # 20 kg would be an 11 % cut
    assert bounded_load(20.0, -0.10, "kg", barbell=True) == 20.0  # never below the bar
    assert bounded_load(100, 0.025, "kg", barbell=True) == 102.5


@pytest.mark.parametrize(
    ("answers", "score", "advice"),
    [
        (Readiness(8, 5, 1, 1, 5, 5), 100, ReadinessAdvice.AS_PLANNED),
        (Readiness(7, 4, 2, 2, 4, 4), 75, ReadinessAdvice.AS_PLANNED),
        (Readiness(6, 3, 3, 3, 3, 3), 50, ReadinessAdvice.LIGHTER),
        (Readiness(5, 2, 4, 4, 2, 2), 25, ReadinessAdvice.REST),
        (Readiness(8, 3, 3, 3, 3, 3), 63, ReadinessAdvice.LIGHTER),
        (Readiness(6, 2, 3, 3, 2, 3), 43, ReadinessAdvice.LESS_VOLUME),
    ],
)
def test_readiness_scores_and_advice(answers, score, advice):
    result = readiness(answers)
    assert (result.score, result.advice) == (score, advice)


def test_readiness_lightens_the_named_session():
    result = readiness(Readiness(6, 3, 3, 3, 3, 3))  # 50: 10 % lighter
    lighter = apply_readiness(squat_bench(1, 1), result, "kg")
    assert sets_of(lighter, "back_squat")[0].load_kg == 90.0
    less = apply_readiness(squat_bench(1, 1), readiness(Readiness(6, 2, 3, 3, 2, 3)), "kg")
    assert len(sets_of(less, "back_squat")) == 2


def logged(status: str, rpe: float | None = None, sets=(), targets=()) -> LoggedSession:
    return LoggedSession(status, date(2026, 1, 5), rpe, tuple(sets), tuple(targets))


def test_a_check_in_counts_due_sessions_and_averages_reported_rpe_falling_back_to_targets():
    figures = period_figures(
        [
            logged("completed", 8),
            logged("completed", None, sets=(7, 9)),  # mean of reported set RPEs: 8
            logged("completed", None, targets=(7, 7, 7)),  # nothing reported: targets
            logged("skipped"),
            logged("planned"),
        ]
    )
    assert (figures.planned, figures.completed, figures.skipped) == (5, 3, 1)
    assert figures.adherence == pytest.approx(0.6)
    assert figures.average_rpe == pytest.approx(7.67, abs=0.01)


def test_recommendations():
    empty = PeriodFigures(0, 0, 0, 0)
    assert recommend(empty, empty)[0] is Recommendation.HOLD
    assert recommend(PeriodFigures(4, 4, 0, 7.5), empty)[0] is Recommendation.PROGRESS
    assert recommend(PeriodFigures(4, 4, 0, 9.2), empty)[0] is Recommendation.DELOAD
    assert recommend(PeriodFigures(4, 4, 0, 8.6), PeriodFigures(4, 4, 0, 8.7))[0] is Recommendation.DELOAD
    hold, reason = recommend(PeriodFigures(5, 2, 3, 7), empty)
    assert hold is Recommendation.HOLD and "2 of 5" in reason
