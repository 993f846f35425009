"""Sets as lifted, beside what was planned for them, and the limits every service holds them to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ironpath_common.errors import InvalidArgument

MAX_EXERCISES_PER_SESSION = 20
MAX_SETS_PER_EXERCISE = 20
MAX_PERFORMED_SETS = MAX_EXERCISES_PER_SESSION * MAX_SETS_PER_EXERCISE
MAX_REPS = 100
MAX_LOAD_KG = 1000.0
MAX_EXERCISE_ID_CHARS = 64
# A client clock may run a little ahead of ours; further ahead is a bad timestamp.
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_COMPLETION = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PerformedSet:
    exercise_id: str
    set_number: int
    target_reps: int
    target_load_kg: float
    target_rpe: float
    actual_reps: int
    actual_load_kg: float
    actual_rpe: float | None


def check_rpe(field: str, value: float, *, optional: bool) -> None:
    if optional and value == 0:
        return
    if not 1 <= value <= 10:
        raise InvalidArgument(field, "must be between 1 and 10")


def check_performed_sets(field: str, sets: list[PerformedSet]) -> None:
    if len(sets) > MAX_PERFORMED_SETS:
        raise InvalidArgument(field, f"at most {MAX_PERFORMED_SETS} sets per session")
    per_exercise: dict[str, int] = {}
    for i, s in enumerate(sets):
        at = f"{field}[{i}]"
        if not s.exercise_id or len(s.exercise_id) > MAX_EXERCISE_ID_CHARS:
            raise InvalidArgument(f"{at}.exercise_id", f"must be 1-{MAX_EXERCISE_ID_CHARS} characters")
        per_exercise[s.exercise_id] = per_exercise.get(s.exercise_id, 0) + 1
        if per_exercise[s.exercise_id] > MAX_SETS_PER_EXERCISE:
            raise InvalidArgument(field, f"at most {MAX_SETS_PER_EXERCISE} sets per exercise")
        if len(per_exercise) > MAX_EXERCISES_PER_SESSION:
            raise InvalidArgument(field, f"at most {MAX_EXERCISES_PER_SESSION} exercises per session")
        if not 1 <= s.set_number <= MAX_SETS_PER_EXERCISE:
            raise InvalidArgument(f"{at}.set_number", f"must be between 1 and {MAX_SETS_PER_EXERCISE}")
        for name, reps in (("target_reps", s.target_reps), ("actual_reps", s.actual_reps)):
            if not 0 <= reps <= MAX_REPS:
                raise InvalidArgument(f"{at}.{name}", f"must be between 0 and {MAX_REPS}")
        for name, load in (("target_load_kg", s.target_load_kg), ("actual_load_kg", s.actual_load_kg)):
            if not 0 <= load <= MAX_LOAD_KG:
                raise InvalidArgument(f"{at}.{name}", f"must be between 0 and {MAX_LOAD_KG:g}")
        check_rpe(f"{at}.target_rpe", s.target_rpe, optional=True)
        if s.actual_rpe is not None:
            check_rpe(f"{at}.actual_rpe", s.actual_rpe, optional=False)


def check_completion_time(field: str, moment: datetime, now: datetime) -> None:
    if moment > now + CLOCK_SKEW:
        raise InvalidArgument(field, "is in the future")
    if moment < EARLIEST_COMPLETION:
        raise InvalidArgument(field, "is too far in the past")
