"""Plain data and pure rules of the progress service: no I/O, no grpc."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ironpath_common.errors import FieldViolation, InvalidArgument

MAX_WEEKS = 52
MAX_DAYS_PER_WEEK = 7
MAX_SESSIONS_PER_PROGRAM = MAX_WEEKS * MAX_DAYS_PER_WEEK
MAX_EXERCISES_PER_SESSION = 20
MAX_SETS_PER_EXERCISE = 20
MAX_PERFORMED_SETS = MAX_EXERCISES_PER_SESSION * MAX_SETS_PER_EXERCISE
MAX_REPS = 100
MAX_LOAD_KG = 1000.0
MAX_TITLE_CHARS = 200
MAX_REASON_CHARS = 500
MAX_EXERCISE_ID_CHARS = 64
# A client clock may run a little ahead of ours; further ahead is a bad timestamp.
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_COMPLETION = datetime(2000, 1, 1).astimezone()


class SessionStatus(enum.StrEnum):
    PLANNED = "planned"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    SKIPPED = "skipped"


class View(enum.Enum):
    SUMMARY = "summary"
    FULL = "full"


@dataclass(frozen=True)
class SessionKey:
    program_id: str
    week_number: int
    day_number: int


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


@dataclass(frozen=True)
class Totals:
    planned_sessions: int
    completed_sessions: int
    skipped_sessions: int

    @property
    def completion_rate(self) -> float:
        return self.completed_sessions / self.planned_sessions if self.planned_sessions else 0.0


def totals(statuses: list[str]) -> Totals:
    return Totals(
        planned_sessions=len(statuses),
        completed_sessions=sum(1 for s in statuses if s == SessionStatus.COMPLETED),
        skipped_sessions=sum(1 for s in statuses if s == SessionStatus.SKIPPED),
    )


def check_position(field: str, week_number: int, day_number: int) -> None:
    violations = []
    if not 1 <= week_number <= MAX_WEEKS:
        violations.append(FieldViolation(f"{field}.week_number", f"must be between 1 and {MAX_WEEKS}"))
    if not 1 <= day_number <= MAX_DAYS_PER_WEEK:
        violations.append(FieldViolation(f"{field}.day_number", f"must be between 1 and {MAX_DAYS_PER_WEEK}"))
    if violations:
        raise InvalidArgument(violations)


def check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters")


def check_completion_time(field: str, moment: datetime, now: datetime) -> None:
    if moment > now + CLOCK_SKEW:
        raise InvalidArgument(field, "is in the future")
    if moment < EARLIEST_COMPLETION:
        raise InvalidArgument(field, "is too far in the past")


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


def merge_performed_sets(existing: list[PerformedSet], incoming: list[PerformedSet]) -> list[PerformedSet]:
    """A completion replayed or made on two devices: the union of sets by (exercise, set number),
    the later submission winning where both have the same set."""
    merged = {(s.exercise_id, s.set_number): s for s in existing}
    merged.update({(s.exercise_id, s.set_number): s for s in incoming})
    return list(merged.values())


def earliest(current: datetime | None, incoming: datetime) -> datetime:
    """Completion is monotonic: the first time a session was completed stays its completion time."""
    return incoming if current is None or incoming < current else current


def parse_iso_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, "must be an ISO date (YYYY-MM-DD)") from None
