"""Training analytics as pure rules: no I/O, no grpc.

Two halves. `session_figures` turns one session's performed sets into the figures stored
with its log when the sets are written (tonnage, hard sets, best e1RM and heaviest load per
main lift, volume per muscle group, RPE sums for drift). `aggregate` adds up stored figures
of many sessions into weeks, lifts, muscle groups, records, RPE drift and streaks, reading
each session's figures once and never a set.

The aggregation reads figures through the read-only views below, so it takes the figures this
module computes and the stored messages they are kept as alike, without copying hundreds of
rows into new objects on every read. The set that gave an estimate is carried through
untouched (`SetT`): the caller gets back whatever kind of set it handed in.

Rules, in one place:
- a set counts only when reps were done (`actual_reps > 0`); tonnage is load x reps;
- a hard set has a reported RPE of 7 or more, or, when none was reported, a target of 7 or more;
- a main lift's tonnage and hard sets include its variations (a box squat is squat volume), its
  e1RM and heaviest load come from the lift itself (a front squat's e1RM is not a squat's);
- e1RM is `ironpath_training.rpe.estimated_1rm`: the RTS chart from reps and reported RPE,
  Epley above 12 reps or without RPE;
- a set's tonnage and hard set count for every muscle group of its exercise; exercises outside
  the catalogue count under `other`;
- RPE drift is the mean reported RPE minus the mean target RPE over sets having both.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from ironpath_common.errors import InvalidArgument
from ironpath_training.exercises import CATALOGUE, MAIN_EXERCISE
from ironpath_training.rpe import estimated_1rm
from ironpath_training.sets import PerformedSet
from progress_svc.domain import SessionStatus

# Bump when a rule above changes, so figures computed by older rules can be found.
RULES_VERSION = 1
HARD_SET_RPE = 7.0
OTHER_GROUP = "other"
LIFT_ORDER = ("squat", "bench_press", "deadlift", "overhead_press")
E1RM = "e1rm"
LOAD = "load"

SetT = TypeVar("SetT")
SetT_co = TypeVar("SetT_co", covariant=True)


# --- One session, when it is written -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiftFigures:
    lift: str
    tonnage_kg: float
    hard_sets: int
    best_e1rm_kg: float
    best_e1rm_set: PerformedSet | None
    heaviest_load_kg: float
    heaviest_set: PerformedSet | None


@dataclass(frozen=True, slots=True)
class MuscleGroupFigures:
    muscle_group: str
    tonnage_kg: float
    hard_sets: int


@dataclass(frozen=True, slots=True)
class SessionFigures:
    tonnage_kg: float
    hard_sets: int
    lifts: tuple[LiftFigures, ...]
    muscle_groups: tuple[MuscleGroupFigures, ...]
    rpe_set_count: int
    reported_rpe_sum: float
    target_rpe_sum: float
    rules_version: int = RULES_VERSION


def is_hard(s: PerformedSet) -> bool:
    rpe = s.actual_rpe if s.actual_rpe is not None else s.target_rpe
    return rpe >= HARD_SET_RPE


@dataclass
class _LiftTally:
    tonnage_kg: float = 0.0
    hard_sets: int = 0
    best_e1rm_kg: float = 0.0
    best_e1rm_set: PerformedSet | None = None
    heaviest_load_kg: float = 0.0
    heaviest_set: PerformedSet | None = None

    def figures(self, lift: str) -> LiftFigures:
        return LiftFigures(
            lift,
            self.tonnage_kg,
            self.hard_sets,
            self.best_e1rm_kg,
            self.best_e1rm_set,
            self.heaviest_load_kg,
            self.heaviest_set,
        )


def session_figures(sets: Iterable[PerformedSet]) -> SessionFigures | None:
    """The figures of one session's performed sets; None when no set was lifted."""
    tonnage, hard_sets, counted = 0.0, 0, 0
    rpe_count, reported_sum, target_sum = 0, 0.0, 0.0
    lifts: dict[str, _LiftTally] = {}
    groups: dict[str, list[float]] = {}
    for s in sets:
        if s.actual_reps <= 0:
            continue
        counted += 1
        set_tonnage = s.actual_load_kg * s.actual_reps
        hard = is_hard(s)
        tonnage += set_tonnage
        hard_sets += hard
        if s.actual_rpe is not None and s.target_rpe > 0:
            rpe_count += 1
            reported_sum += s.actual_rpe
            target_sum += s.target_rpe
        exercise = CATALOGUE.get(s.exercise_id)
        for group in exercise.muscle_groups if exercise is not None else (OTHER_GROUP,):
            tally = groups.setdefault(group, [0.0, 0])
            tally[0] += set_tonnage
            tally[1] += hard
        if exercise is None or exercise.main_lift is None:
            continue
        lift = lifts.setdefault(exercise.main_lift, _LiftTally())
        lift.tonnage_kg += set_tonnage
        lift.hard_sets += hard
        if s.exercise_id != MAIN_EXERCISE[exercise.main_lift]:
            continue
        e1rm = estimated_1rm(s.actual_load_kg, s.actual_reps, s.actual_rpe)
        if e1rm > lift.best_e1rm_kg:
            lift.best_e1rm_kg, lift.best_e1rm_set = e1rm, s
        heaviest = lift.heaviest_set
        # Ties on load go to the set with more reps.
        if s.actual_load_kg > 0 and (
            heaviest is None or (s.actual_load_kg, s.actual_reps) > (heaviest.actual_load_kg, heaviest.actual_reps)
        ):
            lift.heaviest_load_kg, lift.heaviest_set = s.actual_load_kg, s
    if not counted:
        return None
    return SessionFigures(
        tonnage_kg=tonnage,
        hard_sets=hard_sets,
        lifts=tuple(lifts[name].figures(name) for name in LIFT_ORDER if name in lifts),
        muscle_groups=tuple(MuscleGroupFigures(name, t[0], int(t[1])) for name, t in sorted(groups.items())),
        rpe_set_count=rpe_count,
        reported_rpe_sum=reported_sum,
        target_rpe_sum=target_sum,
    )


# --- Many sessions, when analytics are read -------------------------------------------------

MAX_RANGE_YEARS = 5


def check_date_range(start: date, end: date) -> None:
    """A date range (inclusive) analytics cover: end not before start, at most 5 years on."""
    if end < start:
        raise InvalidArgument("end_date", "must not be before start_date")
    try:
        limit = start.replace(year=start.year + MAX_RANGE_YEARS)
    except ValueError:  # 29 February, five years on, is 28 February
        limit = start.replace(year=start.year + MAX_RANGE_YEARS, day=28)
    if end > limit:
        raise InvalidArgument("end_date", f"must be at most {MAX_RANGE_YEARS} years after start_date")


class LiftFiguresView(Protocol[SetT_co]):
    @property
    def lift(self) -> str: ...
    @property
    def tonnage_kg(self) -> float: ...
    @property
    def hard_sets(self) -> int: ...
    @property
    def best_e1rm_kg(self) -> float: ...
    @property
    def best_e1rm_set(self) -> SetT_co: ...
    @property
    def heaviest_load_kg(self) -> float: ...
    @property
    def heaviest_set(self) -> SetT_co: ...


class MuscleGroupFiguresView(Protocol):
    @property
    def muscle_group(self) -> str: ...
    @property
    def tonnage_kg(self) -> float: ...
    @property
    def hard_sets(self) -> int: ...


class SessionFiguresView(Protocol[SetT_co]):
    @property
    def tonnage_kg(self) -> float: ...
    @property
    def hard_sets(self) -> int: ...
    @property
    def lifts(self) -> Sequence[LiftFiguresView[SetT_co]]: ...
    @property
    def muscle_groups(self) -> Sequence[MuscleGroupFiguresView]: ...
    @property
    def rpe_set_count(self) -> int: ...
    @property
    def reported_rpe_sum(self) -> float: ...
    @property
    def target_rpe_sum(self) -> float: ...


class WeekBy(enum.Enum):
    # A program: weeks are the program's week numbers.
    PROGRAM_WEEK = "program_week"
    # A date range: calendar weeks, Monday to Sunday.
    CALENDAR_WEEK = "calendar_week"


class LoggedSession(NamedTuple, Generic[SetT]):
    """One log as analytics read it (a tuple: hundreds are read at once)."""

    week_number: int
    status: str
    # The day it was completed (UTC) when completed, else the day it is due; None if neither.
    session_date: date | None
    # The Monday of that day's week; None without a day.
    week_start: date | None
    figures: SessionFiguresView[SetT] | None


@dataclass(slots=True)
class WeekFigures:
    # A program week number, or 0 for a calendar week.
    week_number: int
    # The Monday of a calendar week, or None for a program week.
    week_start: date | None
    planned_sessions: int = 0
    completed_sessions: int = 0
    skipped_sessions: int = 0
    tonnage_kg: float = 0.0
    hard_sets: int = 0

    @property
    def adherence_rate(self) -> float:
        return self.completed_sessions / self.planned_sessions if self.planned_sessions else 0.0


class E1rmPoint(NamedTuple, Generic[SetT]):
    day: date
    e1rm_kg: float
    best_set: SetT


class PersonalRecord(NamedTuple, Generic[SetT]):
    lift: str
    kind: str  # E1RM or LOAD
    value_kg: float
    day: date
    set: SetT


@dataclass(slots=True)
class LiftSummary(Generic[SetT]):
    lift: str
    tonnage_kg: float = 0.0
    hard_sets: int = 0
    trend: list[E1rmPoint[SetT]] = field(default_factory=list)
    best_e1rm_kg: float = 0.0
    heaviest_load_kg: float = 0.0


@dataclass(slots=True)
class MuscleGroupVolume:
    muscle_group: str
    tonnage_kg: float = 0.0
    hard_sets: int = 0


@dataclass(frozen=True, slots=True)
class Streaks:
    current_weeks: int
    longest_weeks: int


@dataclass(frozen=True, slots=True)
class Analytics(Generic[SetT]):
    weeks: list[WeekFigures]
    lifts: list[LiftSummary[SetT]]
    muscle_groups: list[MuscleGroupVolume]
    records: list[PersonalRecord[SetT]]
    planned_sessions: int
    completed_sessions: int
    skipped_sessions: int
    tonnage_kg: float
    hard_sets: int
    rpe_set_count: int
    average_reported_rpe: float
    average_target_rpe: float
    streaks: Streaks

    @property
    def rpe_drift(self) -> float:
        return self.average_reported_rpe - self.average_target_rpe if self.rpe_set_count else 0.0

    @property
    def adherence_rate(self) -> float:
        return self.completed_sessions / self.planned_sessions if self.planned_sessions else 0.0


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def streaks(completed_days: Iterable[date], as_of: date) -> Streaks:
    """Runs of consecutive calendar weeks with a completed session: the longest, and the one
    reaching the week of `as_of` or the week before it (a week not over yet breaks nothing)."""
    weeks = sorted({monday(d) for d in completed_days})
    longest, run, previous = 0, 0, None
    for week in weeks:
        run = run + 1 if previous is not None and week - previous == timedelta(weeks=1) else 1
        longest = max(longest, run)
        previous = week
    this_week = monday(as_of)
    current = run if previous is not None and this_week - timedelta(weeks=1) <= previous <= this_week else 0
    return Streaks(current_weeks=current, longest_weeks=longest)


def aggregate(sessions: Iterable[LoggedSession[SetT]], *, week_by: WeekBy, as_of: date) -> Analytics[SetT]:
    """Adds up the stored figures of `sessions` (any order). Records are the running maxima of
    each lift's daily best e1RM and heaviest load: one entry each time a new best was set.

    This runs on every read over hundreds of sessions, so the loop keeps running sums in
    plain lists and reads each stored field once."""
    by_calendar = week_by is WeekBy.CALENDAR_WEEK
    completed, skipped = SessionStatus.COMPLETED.value, SessionStatus.SKIPPED.value
    # Per week: [planned, completed, skipped, tonnage, hard sets].
    weeks: dict[int | date, list[Any]] = {}
    # Per lift: [tonnage, hard sets]. Per (day, lift): [best e1RM, its set, heaviest load, the
    # figures holding it] (a set is read only when a record needs it).
    lift_sums: dict[str, list[Any]] = {}
    days: dict[tuple[date, str], list[Any]] = {}
    # Per muscle group: [tonnage, hard sets].
    groups: dict[str, list[Any]] = {}
    completed_weeks: set[date] = set()
    rpe_count, reported_sum, target_sum = 0, 0.0, 0.0
    for week_number, status, day, week_start, figures in sessions:
        key = week_start if by_calendar else week_number
        if key is None:
            continue
        week = weeks.get(key)
        if week is None:
            week = weeks[key] = [0, 0, 0, 0.0, 0]
        week[0] += 1
        if status != completed:
            if status == skipped:
                week[2] += 1
            continue
        week[1] += 1
        if week_start is not None:
            completed_weeks.add(week_start)
        if figures is None:
            continue
        week[3] += figures.tonnage_kg
        week[4] += figures.hard_sets
        if figures.rpe_set_count:
            rpe_count += figures.rpe_set_count
            reported_sum += figures.reported_rpe_sum
            target_sum += figures.target_rpe_sum
        for g in figures.muscle_groups:
            name = g.muscle_group
            volume = groups.get(name)
            if volume is None:
                groups[name] = [g.tonnage_kg, g.hard_sets]
            else:
                volume[0] += g.tonnage_kg
                volume[1] += g.hard_sets
        for lf in figures.lifts:
            lift = lf.lift
            sums = lift_sums.get(lift)
            if sums is None:
                lift_sums[lift] = [lf.tonnage_kg, lf.hard_sets]
            else:
                sums[0] += lf.tonnage_kg
                sums[1] += lf.hard_sets
            if day is None:
                continue
            e1rm, load = lf.best_e1rm_kg, lf.heaviest_load_kg
            if e1rm <= 0 and load <= 0:
                continue
            best = days.get((day, lift))
            if best is None:
                days[day, lift] = [e1rm, lf.best_e1rm_set, load, lf]
                continue
            if e1rm > best[0]:
                best[0], best[1] = e1rm, lf.best_e1rm_set
            if load > best[2]:
                best[2], best[3] = load, lf

    lifts: dict[str, LiftSummary[SetT]] = {
        name: LiftSummary(name, sums[0], sums[1]) for name, sums in lift_sums.items()
    }
    records: list[PersonalRecord[SetT]] = []
    tops: dict[str, list[float]] = {name: [0.0, 0.0] for name in lifts}
    # Oldest first; a day's records by lift name, e1RM before load.
    for (day, name), (e1rm, e1rm_set, load, heaviest) in sorted(days.items()):
        summary, top = lifts[name], tops[name]
        if e1rm > 0:
            summary.trend.append(E1rmPoint(day, e1rm, e1rm_set))
            if e1rm > top[0]:
                top[0] = e1rm
                records.append(PersonalRecord(name, E1RM, e1rm, day, e1rm_set))
        if load > top[1]:
            top[1] = load
            records.append(PersonalRecord(name, LOAD, load, day, heaviest.heaviest_set))
    for name, summary in lifts.items():
        summary.best_e1rm_kg, summary.heaviest_load_kg = tops[name]

    ordered = sorted(weeks.items(), key=lambda item: item[0])
    week_figures = [
        WeekFigures(key, None, *sums) if isinstance(key, int) else WeekFigures(0, key, *sums) for key, sums in ordered
    ]
    return Analytics(
        weeks=week_figures,
        lifts=sorted(lifts.values(), key=lambda s: _lift_rank(s.lift)),
        muscle_groups=[MuscleGroupVolume(name, *groups[name]) for name in sorted(groups)],
        records=records,
        planned_sessions=sum(w.planned_sessions for w in week_figures),
        completed_sessions=sum(w.completed_sessions for w in week_figures),
        skipped_sessions=sum(w.skipped_sessions for w in week_figures),
        tonnage_kg=sum(w.tonnage_kg for w in week_figures),
        hard_sets=sum(w.hard_sets for w in week_figures),
        rpe_set_count=rpe_count,
        average_reported_rpe=reported_sum / rpe_count if rpe_count else 0.0,
        average_target_rpe=target_sum / rpe_count if rpe_count else 0.0,
        streaks=streaks(completed_weeks, as_of),
    )


def _lift_rank(lift: str) -> int:
    return LIFT_ORDER.index(lift) if lift in LIFT_ORDER else len(LIFT_ORDER)
