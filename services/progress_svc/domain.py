"""Plain data and pure rules of the progress service: no I/O, no grpc."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from ironpath_common.errors import FieldViolation, InvalidArgument
from ironpath_training.sets import PerformedSet

MAX_WEEKS = 52
MAX_DAYS_PER_WEEK = 7
MAX_SESSIONS_PER_PROGRAM = MAX_WEEKS * MAX_DAYS_PER_WEEK
MAX_TITLE_CHARS = 200
MAX_REASON_CHARS = 500


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
