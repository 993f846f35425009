"""Planned sessions to and from their shared contract (ironpath.common.v1.PlannedSession)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ironpath.common.v1 import training_pb2 as t
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet

MAIN_LIFTS: dict[Any, str] = {
    t.MAIN_LIFT_SQUAT: "squat",
    t.MAIN_LIFT_BENCH_PRESS: "bench_press",
    t.MAIN_LIFT_DEADLIFT: "deadlift",
    t.MAIN_LIFT_OVERHEAD_PRESS: "overhead_press",
}
MAIN_LIFT_ENUMS: dict[str, Any] = {name: value for value, name in MAIN_LIFTS.items()}


def session_to_pb(session: PlannedSession) -> t.PlannedSession:
    message = t.PlannedSession(
        week_number=session.week_number,
        day_number=session.day_number,
        title=session.title,
        planned_date=session.planned_date.isoformat() if session.planned_date else "",
        deload=session.deload,
    )
    for exercise in session.exercises:
        e = message.exercises.add(
            exercise_id=exercise.exercise_id,
            name=exercise.name,
            main_lift=MAIN_LIFT_ENUMS.get(exercise.main_lift or "", t.MAIN_LIFT_UNSPECIFIED),
            order=exercise.order,
            notes=exercise.notes,
            substituted_for_exercise_id=exercise.substituted_for,
            rest_seconds=exercise.rest_seconds,
        )
        for s in exercise.sets:
            e.sets.add(
                set_number=s.set_number,
                reps=s.reps,
                percent_1rm=s.percent_1rm,
                load_kg=s.load_kg,
                rpe_target=s.rpe_target,
                amrap=s.amrap,
            )
    return message


def session_from_pb(message: t.PlannedSession) -> PlannedSession:
    return PlannedSession(
        week_number=message.week_number,
        day_number=message.day_number,
        title=message.title,
        planned_date=date.fromisoformat(message.planned_date) if message.planned_date else None,
        deload=message.deload,
        exercises=tuple(
            PlannedExercise(
                exercise_id=e.exercise_id,
                name=e.name,
                main_lift=MAIN_LIFTS.get(e.main_lift),
                order=e.order,
                sets=tuple(
                    PlannedSet(s.set_number, s.reps, s.percent_1rm, s.load_kg, s.rpe_target, s.amrap) for s in e.sets
                ),
                notes=e.notes,
                substituted_for=e.substituted_for_exercise_id,
                rest_seconds=e.rest_seconds,
            )
            for e in message.exercises
        ),
    )
