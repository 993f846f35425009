"""The old app's browser state (the shape `docs/import.md` documents): read and checked item by
item, and the rules that decide what an import may change. Plain data, no I/O, no grpc.

A request that cannot be an import at all (too large, not JSON, not the old app's shape, too
many items) is INVALID_ARGUMENT naming `legacy_state_json`. Anything wrong with one item only
refuses that item, with a reason; the rest are still taken.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ironpath_common.errors import InvalidArgument
from ironpath_training.plan import PlannedSession, PlannedSet
from ironpath_training.sets import (
    CLOCK_SKEW,
    EARLIEST_COMPLETION,
    MAX_EXERCISE_ID_CHARS,
    MAX_EXERCISES_PER_SESSION,
    MAX_LOAD_KG,
    MAX_PERFORMED_SETS,
    MAX_REPS,
    MAX_SETS_PER_EXERCISE,
    PerformedSet,
)
from progress_svc.domain import MAX_DAYS_PER_WEEK, MAX_WEEKS, SessionStatus

FIELD = "legacy_state_json"
MAX_STATE_BYTES = 1024 * 1024
MAX_ITEMS = 1000
MAX_NOTES_CHARS = 2000
VERSION = 1
SESSIONS, FEEDBACK, CHECK_INS = "completedSessions", "feedback", "checkIns"

FEEDBACK_REFUSED = (
    "feedback is not imported: the feedback service adjusts upcoming sessions from new feedback only "
    "(session RPE and notes come in with completedSessions)"
)
CHECK_IN_REFUSED = "check-ins are not imported: a check-in is computed from the stored logs, so run one after importing"


@dataclass(frozen=True)
class LegacySet:
    exercise: str
    set_number: int
    reps: int
    weight_kg: float
    rpe: float | None


@dataclass(frozen=True)
class LegacySession:
    """One well-formed completed session of the old state."""

    path: str
    week_number: int
    day_number: int
    completed_at: datetime
    sets: tuple[LegacySet, ...]
    session_rpe: float | None
    notes: str | None


@dataclass(frozen=True)
class ItemResult:
    path: str
    accepted: bool
    reason: str


@dataclass(frozen=True)
class LegacyState:
    """The sessions an import may take (at most one per week and day, in input order), the
    items already refused by their content, and every item's path in input order."""

    sessions: list[LegacySession]
    refused: list[ItemResult]
    paths: list[str]


class _Refused(Exception):
    """One item is malformed; the message is the reason the lifter reads."""


def parse_state(raw: str, now: datetime) -> LegacyState:
    """Reads the old state. Raises InvalidArgument naming `legacy_state_json` when the whole
    request is unusable; otherwise refuses malformed items one by one."""
    state = _top_level(raw)
    items = {key: state.get(key, []) for key in (SESSIONS, FEEDBACK, CHECK_INS)}
    sessions: list[LegacySession] = []
    refused: list[ItemResult] = []
    paths: list[str] = []
    for i, item in enumerate(items[SESSIONS]):
        path = f"{SESSIONS}[{i}]"
        paths.append(path)
        try:
            sessions.append(_session(path, item, now))
        except _Refused as why:
            refused.append(ItemResult(path, False, str(why)))
    for key, reason in ((FEEDBACK, FEEDBACK_REFUSED), (CHECK_INS, CHECK_IN_REFUSED)):
        for i in range(len(items[key])):
            paths.append(f"{key}[{i}]")
            refused.append(ItemResult(f"{key}[{i}]", False, reason))
    kept, duplicates = _earliest_per_session(sessions)
    return LegacyState(kept, refused + duplicates, paths)


def refusal(item: LegacySession, status: str | None, completed_at: datetime | None) -> str | None:
    """Why the server's log keeps what it has instead of taking `item`, or None to take it.

    An import only fills sessions the server has not completed: a completed session keeps the
    server's record, whichever time is later, so nothing the lifter logged since is ever
    overwritten and a second import of the same state changes nothing."""
    if status is None:
        return f"week {item.week_number} day {item.day_number} is not a session of this program"
    if status != SessionStatus.COMPLETED or completed_at is None:
        return None
    if completed_at > item.completed_at:
        return f"the server has a newer completion of this session ({_iso(completed_at)}); it is kept"
    if completed_at == item.completed_at:
        return "already recorded: this completion was imported before"
    return f"the server already has this session completed ({_iso(completed_at)}); it is kept"


def performed_sets(item: LegacySession, prescription: PlannedSession | None) -> list[PerformedSet]:
    """The item's sets as performed sets, beside what the session prescribed for them. An
    exercise is matched to the prescription by id or by name (the old app showed names);
    one the session did not prescribe keeps the id given and has no targets."""
    by_key: dict[str, tuple[str, dict[int, PlannedSet]]] = {}
    for exercise in prescription.exercises if prescription is not None else ():
        planned = (exercise.exercise_id, {s.set_number: s for s in exercise.sets})
        by_key.setdefault(exercise.exercise_id.casefold(), planned)
        by_key.setdefault(exercise.name.casefold(), planned)
    result = []
    for s in item.sets:
        exercise_id, planned_sets = by_key.get(s.exercise.casefold(), (s.exercise, {}))
        target = planned_sets.get(s.set_number)
        result.append(
            PerformedSet(
                exercise_id=exercise_id,
                set_number=s.set_number,
                target_reps=target.reps if target is not None else 0,
                target_load_kg=target.load_kg if target is not None else 0.0,
                target_rpe=target.rpe_target if target is not None else 0.0,
                actual_reps=s.reps,
                actual_load_kg=s.weight_kg,
                actual_rpe=s.rpe,
            )
        )
    return result


def _top_level(raw: str) -> dict[str, Any]:
    if not raw:
        raise InvalidArgument(FIELD, "is required: the old app's saved state, as JSON")
    if len(raw.encode("utf-8")) > MAX_STATE_BYTES:
        raise InvalidArgument(FIELD, f"is larger than {MAX_STATE_BYTES // (1024 * 1024)} MiB")
    try:
        state = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidArgument(FIELD, "is not valid JSON") from None
    if not isinstance(state, dict):
        raise InvalidArgument(FIELD, "must be a JSON object holding completedSessions, feedback or checkIns")
    # Zustand's persist middleware saves `{"state": {...}, "version": n}`: take what it wraps.
    if isinstance(state.get("state"), dict) and not any(key in state for key in (SESSIONS, FEEDBACK, CHECK_INS)):
        state = state["state"]
    if "version" in state and (type(state["version"]) is not int or state["version"] != VERSION):
        raise InvalidArgument(FIELD, f"version {state['version']!r} is not supported (expected {VERSION})")
    present = [key for key in (SESSIONS, FEEDBACK, CHECK_INS) if key in state]
    if not present:
        raise InvalidArgument(FIELD, "holds none of completedSessions, feedback or checkIns")
    for key in present:
        if not isinstance(state[key], list):
            raise InvalidArgument(FIELD, f"{key} must be a list")
    count = sum(len(state[key]) for key in present)
    if count > MAX_ITEMS:
        raise InvalidArgument(FIELD, f"holds {count} items; at most {MAX_ITEMS} per import")
    return state


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _session(path: str, item: object, now: datetime) -> LegacySession:
    if not isinstance(item, dict):
        raise _Refused("must be an object")
    week = _integer(item, "weekNumber", 1, MAX_WEEKS)
    day = _integer(item, "dayNumber", 1, MAX_DAYS_PER_WEEK)
    completed_at = _time(item.get("completedAt"), now)
    sets = _sets(item.get("sets"))
    session_rpe = _rpe(item, "sessionRpe")
    notes = item.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise _Refused("notes must be text")
    if notes is not None and len(notes) > MAX_NOTES_CHARS:
        raise _Refused(f"notes must be at most {MAX_NOTES_CHARS} characters")
    return LegacySession(path, week, day, completed_at, sets, session_rpe, notes or None)


def _integer(item: dict[str, Any], name: str, low: int, high: int, prefix: str = "") -> int:
    value = item.get(name)
    if type(value) is not int or not low <= value <= high:
        raise _Refused(f"{prefix}{name} must be a whole number from {low} to {high}")
    return value


def _number(item: dict[str, Any], name: str, low: float, high: float, prefix: str = "") -> float:
    value = item.get(name)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise _Refused(f"{prefix}{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _rpe(item: dict[str, Any], name: str, prefix: str = "") -> float | None:
    if item.get(name) is None:
        return None
    return _number(item, name, 1, 10, prefix)


def _time(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise _Refused("completedAt must be an ISO 8601 time, e.g. 2024-03-01T18:30:00.000Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused("completedAt is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _Refused("completedAt must say its time zone (Z or an offset)")
    if moment > now + CLOCK_SKEW:
        raise _Refused("completedAt is in the future")
    if moment < EARLIEST_COMPLETION:
        raise _Refused("completedAt is before 2000")
    return moment


def _sets(value: object) -> tuple[LegacySet, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Refused("sets must be a list")
    if len(value) > MAX_PERFORMED_SETS:
        raise _Refused(f"sets: at most {MAX_PERFORMED_SETS} per session")
    sets: list[LegacySet] = []
    seen: set[tuple[str, int]] = set()
    per_exercise: dict[str, int] = {}
    for i, raw in enumerate(value):
        at = f"sets[{i}]."
        if not isinstance(raw, dict):
            raise _Refused(f"sets[{i}] must be an object")
        exercise = raw.get("exercise")
        if not isinstance(exercise, str) or not 1 <= len(exercise) <= MAX_EXERCISE_ID_CHARS:
            raise _Refused(f"{at}exercise must be 1-{MAX_EXERCISE_ID_CHARS} characters")
        number = _integer(raw, "set", 1, MAX_SETS_PER_EXERCISE, at)
        key = (exercise.casefold(), number)
        if key in seen:
            raise _Refused(f"sets[{i}] repeats set {number} of {exercise}")
        seen.add(key)
        per_exercise[key[0]] = per_exercise.get(key[0], 0) + 1
        if len(per_exercise) > MAX_EXERCISES_PER_SESSION:
            raise _Refused(f"sets: at most {MAX_EXERCISES_PER_SESSION} exercises per session")
        sets.append(
            LegacySet(
                exercise=exercise,
                set_number=number,
                reps=_integer(raw, "reps", 0, MAX_REPS, at),
                weight_kg=_number(raw, "weightKg", 0, MAX_LOAD_KG, at),
                rpe=_rpe(raw, "rpe", at),
            )
        )
    return tuple(sets)


def _earliest_per_session(sessions: Sequence[LegacySession]) -> tuple[list[LegacySession], list[ItemResult]]:
    """One item per week and day: the earliest completion (the first on a tie), as the server
    keeps a session's first completion time."""
    first: dict[tuple[int, int], LegacySession] = {}
    for item in sessions:
        key = (item.week_number, item.day_number)
        if key not in first or item.completed_at < first[key].completed_at:
            first[key] = item
    kept = [item for item in sessions if first[(item.week_number, item.day_number)] is item]
    duplicates = [
        ItemResult(
            item.path,
            False,
            f"week {item.week_number} day {item.day_number} is also at {winner.path}; "
            "only the earliest completion of a session is taken",
        )
        for item in sessions
        if (winner := first[(item.week_number, item.day_number)]) is not item
    ]
    return kept, duplicates


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
