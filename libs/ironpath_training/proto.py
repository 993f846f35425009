"""Shared training types to and from their contracts in ironpath.common.v1."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from ironpath.common.v1 import training_pb2 as t
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet
from ironpath_training.sets import PerformedSet, check_performed_sets

MAIN_LIFTS: dict[Any, str] = {
    t.MAIN_LIFT_SQUAT: "squat",
    t.MAIN_LIFT_BENCH_PRESS: "bench_press",
    t.MAIN_LIFT_DEADLIFT: "deadlift",
    t.MAIN_LIFT_OVERHEAD_PRESS: "overhead_press",
}
MAIN_LIFT_ENUMS: dict[str, Any] = {name: value for value, name in MAIN_LIFTS.items()}
UNITS: dict[Any, str] = {t.WEIGHT_UNIT_KG: "kg", t.WEIGHT_UNIT_LB: "lb"}
EQUIPMENT: dict[Any, str] = {
    t.EQUIPMENT_BARBELL: "barbell",
    t.EQUIPMENT_SQUAT_RACK: "squat_rack",
    t.EQUIPMENT_BENCH: "bench",
    t.EQUIPMENT_DUMBBELLS: "dumbbells",
    t.EQUIPMENT_CABLE: "cable",
    t.EQUIPMENT_MACHINES: "machines",
    t.EQUIPMENT_PULL_UP_BAR: "pull_up_bar",
    t.EQUIPMENT_KETTLEBELLS: "kettlebells",
    t.EQUIPMENT_BANDS: "bands",
}
BODY_AREAS: dict[Any, str] = {
    t.BODY_AREA_KNEE: "knee",
    t.BODY_AREA_HIP: "hip",
    t.BODY_AREA_LOWER_BACK: "lower_back",
    t.BODY_AREA_SHOULDER: "shoulder",
    t.BODY_AREA_ELBOW: "elbow",
    t.BODY_AREA_WRIST: "wrist",
    t.BODY_AREA_ANKLE: "ankle",
    t.BODY_AREA_NECK: "neck",
}


def session_to_pb(session: PlannedSession, built: dict[PlannedExercise, bytes] | None = None) -> t.PlannedSession:
    """With `built` (exercise -> its serialized message), an exercise already in it is copied from
    its bytes rather than built field by field, and a new one is added to it."""
    message = t.PlannedSession(
        week_number=session.week_number,
        day_number=session.day_number,
        title=session.title,
        planned_date=session.planned_date.isoformat() if session.planned_date else "",
        deload=session.deload,
    )
    for exercise in session.exercises:
        if built is None:
            _fill_exercise(message.exercises.add(), exercise)
            continue
        data = built.get(exercise)
        if data is None:
            data = built[exercise] = _fill_exercise(t.ExercisePrescription(), exercise).SerializeToString()
        message.exercises.add().MergeFromString(data)
    return message


def sessions_to_pb(sessions: Iterable[PlannedSession]) -> list[t.PlannedSession]:
    """A whole program's sessions. Its exercises repeat (the same lift, sets and notes on many
    days), so each distinct one is built once and copied after that."""
    built: dict[PlannedExercise, bytes] = {}
    return [session_to_pb(s, built) for s in sessions]


def _fill_exercise(e: t.ExercisePrescription, exercise: PlannedExercise) -> t.ExercisePrescription:
    e.exercise_id = exercise.exercise_id
    e.name = exercise.name
    e.main_lift = MAIN_LIFT_ENUMS.get(exercise.main_lift or "", t.MAIN_LIFT_UNSPECIFIED)
    e.order = exercise.order
    e.notes = exercise.notes
    e.substituted_for_exercise_id = exercise.substituted_for
    e.rest_seconds = exercise.rest_seconds
    for s in exercise.sets:
        e.sets.add(
            set_number=s.set_number,
            reps=s.reps,
            percent_1rm=s.percent_1rm,
            load_kg=s.load_kg,
            rpe_target=s.rpe_target,
            amrap=s.amrap,
        )
    return e


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


def performed_sets_from_pb(values: Iterable[t.PerformedSet], field: str) -> list[PerformedSet]:
    """Performed sets from a request, checked against the limits (naming `field` on failure)."""
    sets = [
        PerformedSet(
            exercise_id=p.exercise_id,
            set_number=p.set_number,
            target_reps=p.target_reps,
            target_load_kg=p.target_load_kg,
            target_rpe=p.target_rpe,
            actual_reps=p.actual_reps,
            actual_load_kg=p.actual_load_kg,
            actual_rpe=p.actual_rpe if p.HasField("actual_rpe") else None,
        )
        for p in values
    ]
    check_performed_sets(field, sets)
    return sets
