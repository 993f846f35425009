"""A planned session as every service sees it: exercises in order, each with its sets.
Immutable tuples (cheap to build by the thousand when a program is written)."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple


class PlannedSet(NamedTuple):
    set_number: int
    reps: int
    percent_1rm: float
    load_kg: float
    rpe_target: float
    amrap: bool = False


class PlannedExercise(NamedTuple):
    exercise_id: str
    name: str
    main_lift: str | None
    order: int
    sets: tuple[PlannedSet, ...]
    notes: str = ""
    substituted_for: str = ""
    rest_seconds: int = 120


class PlannedSession(NamedTuple):
    week_number: int
    day_number: int
    title: str
    planned_date: date | None
    deload: bool
    exercises: tuple[PlannedExercise, ...]


class PlannedWeek(NamedTuple):
    week_number: int
    phase: str
    deload: bool
    sessions: tuple[PlannedSession, ...]
