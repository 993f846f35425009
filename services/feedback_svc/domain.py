"""Pure rules of the feedback service: how feedback adjusts upcoming sessions, how a readiness
check scores a day, and what a check-in recommends. No I/O, no grpc."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ironpath_common.errors import FieldViolation, InvalidArgument
from ironpath_training import exercises
from ironpath_training.loads import KG_PER_LB, KG_STEP, LB_STEP, bar_kg
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet
from ironpath_training.rpe import MAX_RPE, MIN_RPE

MAX_NOTES_CHARS = 2000
MAX_LOAD_CHANGE = 0.10
MAX_SETS_CHANGE = 1
MAX_RPE_CHANGE = 1.0


class Category(enum.StrEnum):
    TOO_EASY = "too_easy"
    TOO_HARD = "too_hard"
    JOINT_PAIN = "joint_pain"
    EXCESSIVE_FATIGUE = "excessive_fatigue"
    SHORT_ON_TIME = "short_on_time"
    EQUIPMENT_UNAVAILABLE = "equipment_unavailable"
    POOR_SLEEP = "poor_sleep"
    FELT_GREAT = "felt_great"
    TECHNIQUE_BREAKDOWN = "technique_breakdown"


@dataclass(frozen=True)
class Feedback:
    categories: frozenset[Category]
    session_rpe: float | None = None
    pain_area: str | None = None
    unavailable_equipment: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Adjustment:
    """One change to one upcoming session, with the reason a lifter reads."""

    week_number: int
    day_number: int
    exercise_id: str
    kind: str  # load | sets | rpe | substitution | removed
    reason: str
    load_change_percent: float = 0.0
    sets_change: int = 0
    rpe_change: float = 0.0
    substitute_exercise_id: str = ""


@dataclass(frozen=True)
class Adjusted:
    sessions: list[PlannedSession]
    adjustments: list[Adjustment]

    @property
    def reason(self) -> str:
        seen: list[str] = []
        for a in self.adjustments:
            if a.reason not in seen:
                seen.append(a.reason)
        return " ".join(seen) if seen else "No change to the plan: keep going as written."


def check_feedback(feedback: Feedback, notes: str) -> None:
    violations = []
    if not feedback.categories:
        violations.append(FieldViolation("categories", "name at least one category"))
    if Category.JOINT_PAIN in feedback.categories and feedback.pain_area is None:
        violations.append(FieldViolation("pain_area", "is required with joint pain"))
    if feedback.session_rpe is not None and not 1 <= feedback.session_rpe <= 10:
        violations.append(FieldViolation("session_rpe", "must be between 1 and 10"))
    if len(notes) > MAX_NOTES_CHARS:
        violations.append(FieldViolation("notes", f"must be at most {MAX_NOTES_CHARS} characters"))
    if {Category.TOO_EASY, Category.TOO_HARD} <= feedback.categories:
        violations.append(FieldViolation("categories", "a session cannot be both too easy and too hard"))
    if violations:
        raise InvalidArgument(violations)


# -- adjusting the next sessions -----------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    load: float = 0.0
    sets: int = 0
    rpe: float = 0.0

    def __add__(self, other: _Change) -> _Change:
        return _Change(self.load + other.load, self.sets + other.sets, self.rpe + other.rpe)

    def bounded(self) -> _Change:
        return _Change(
            max(-MAX_LOAD_CHANGE, min(MAX_LOAD_CHANGE, self.load)),
            max(-MAX_SETS_CHANGE, min(MAX_SETS_CHANGE, self.sets)),
            max(-MAX_RPE_CHANGE, min(MAX_RPE_CHANGE, self.rpe)),
        )


def _effort_change(feedback: Feedback) -> tuple[_Change, list[str]]:
    """What the categories ask of the next session of the same lifts, before bounds."""
    rpe = feedback.session_rpe
    change, reasons = _Change(), []
    if Category.TOO_EASY in feedback.categories:
        bigger = rpe is not None and rpe <= 6
        change += _Change(0.075 if bigger else 0.05, 0, 0.5)
        reasons.append(f"Loads up {7.5 if bigger else 5:g} % after a session that felt too easy.")
    if Category.TOO_HARD in feedback.categories:
        bigger = rpe is not None and rpe >= 9.5
        change += _Change(-0.075 if bigger else -0.05, 0, -0.5)
        reasons.append(f"Loads down {7.5 if bigger else 5:g} % after a session that felt too hard.")
    if Category.EXCESSIVE_FATIGUE in feedback.categories:
        change += _Change(-0.05, -1, -1.0)
        reasons.append(
            "One set fewer per exercise, loads down 5 % and an easier RPE target: you reported heavy fatigue."
        )
    if Category.POOR_SLEEP in feedback.categories:
        change += _Change(-0.025, 0, -0.5)
        reasons.append("Loads down 2.5 % while sleep recovers.")
    if Category.TECHNIQUE_BREAKDOWN in feedback.categories:
        change += _Change(-0.05, 0, -0.5)
        reasons.append("Loads down 5 % so technique holds on every rep.")
    if Category.FELT_GREAT in feedback.categories and Category.TOO_HARD not in feedback.categories:
        change += _Change(0.025, 0, 0.0)
        reasons.append("Loads up 2.5 %: the session went well.")
    return change.bounded(), reasons


def bounded_load(load_kg: float, change: float, unit: str, barbell: bool) -> float:
    """The load moved by `change` (a fraction), rounded to plates *toward the original load*,
    so no adjustment moves it by more than the bound, and never below the empty bar."""
    if load_kg <= 0 or change == 0:
        return load_kg
    step = LB_STEP * KG_PER_LB if unit == "lb" else KG_STEP
    target = load_kg * (1 + change)
    steps = target / step
    rounded = (math.ceil(steps - 1e-9) if change < 0 else math.floor(steps + 1e-9)) * step
    if barbell:
        rounded = max(rounded, bar_kg(unit))
    return min(rounded, load_kg) if change < 0 else max(rounded, load_kg)


def _adjust_exercise(exercise: PlannedExercise, change: _Change, unit: str, barbell: bool) -> PlannedExercise:
    sets = list(exercise.sets)
    if change.sets < 0 and len(sets) > 1:
        sets = sets[: max(1, len(sets) + change.sets)]
    elif change.sets > 0 and sets:
        sets.append(sets[-1]._replace(set_number=len(sets) + 1))
    adjusted = tuple(
        s._replace(
            set_number=i,
            load_kg=bounded_load(s.load_kg, change.load, unit, barbell),
            rpe_target=max(MIN_RPE, min(MAX_RPE, s.rpe_target + change.rpe)),
        )
        for i, s in enumerate(sets, start=1)
    )
    return exercise._replace(sets=adjusted)


def adjust(done: PlannedSession, following: Sequence[PlannedSession], feedback: Feedback, unit: str) -> Adjusted:
    """The upcoming sessions as feedback on `done` changes them.

    Effort (load, RPE, sets) changes the next session that trains each of the same main
    lifts; fatigue's lost set and a short-on-time cut apply to the very next session; pain
    and missing equipment swap exercises in every following session given (about a week)."""
    sessions = {(s.week_number, s.day_number): s for s in following}
    order = [(s.week_number, s.day_number) for s in following]
    adjustments: list[Adjustment] = []
    change, reasons = _effort_change(feedback)
    reason = " ".join(reasons)

    lifts = {e.main_lift for e in done.exercises if e.main_lift}
    if change != _Change() and order:
        for lift in sorted(lifts):
            key = next((k for k in order if any(e.main_lift == lift for e in sessions[k].exercises)), None)
            if key is None:
                continue
            session = sessions[key]
            new_exercises = []
            for e in session.exercises:
                if e.main_lift == lift:
                    barbell = "barbell" in exercises.CATALOGUE.get(e.exercise_id, _NO_EXERCISE).equipment
                    e = _adjust_exercise(e, _Change(change.load, 0, change.rpe), unit, barbell)
                    adjustments.append(
                        Adjustment(
                            key[0], key[1], e.exercise_id, "load", reason, round(change.load * 100, 1), 0, change.rpe
                        )
                    )
                new_exercises.append(e)
            sessions[key] = session._replace(exercises=tuple(new_exercises))

    if order and change.sets < 0:
        key = order[0]
        session = sessions[key]
        sessions[key] = session._replace(
            exercises=tuple(_adjust_exercise(e, _Change(0, change.sets, 0), unit, False) for e in session.exercises)
        )
        adjustments.append(Adjustment(key[0], key[1], "", "sets", reason, 0, change.sets, 0))

    if order and Category.SHORT_ON_TIME in feedback.categories:
        key = order[0]
        session = sessions[key]
        kept = tuple(e for e in session.exercises if e.main_lift) or session.exercises[:1]
        for e in session.exercises:
            if e not in kept:
                adjustments.append(
                    Adjustment(
                        key[0],
                        key[1],
                        e.exercise_id,
                        "removed",
                        "Accessories cut from the next session to fit the time you have.",
                    )
                )
        sessions[key] = session._replace(exercises=tuple(e._replace(order=i) for i, e in enumerate(kept, start=1)))

    limitations = (
        frozenset({feedback.pain_area})
        if feedback.pain_area and Category.JOINT_PAIN in feedback.categories
        else frozenset()
    )
    missing = feedback.unavailable_equipment or (
        frozenset({"barbell"}) if Category.EQUIPMENT_UNAVAILABLE in feedback.categories else frozenset()
    )
    if limitations or missing:
        equipment = exercises.ALL_EQUIPMENT - missing
        for key in order:
            sessions[key], swaps = _substitute(sessions[key], equipment, limitations)
            adjustments += swaps

    changed = {(a.week_number, a.day_number) for a in adjustments}
    return Adjusted([sessions[k] for k in order if k in changed], adjustments)


_NO_EXERCISE = exercises.Exercise("", "", frozenset(), frozenset(), ())


def _substitute(
    session: PlannedSession, equipment: frozenset[str], limitations: frozenset[str]
) -> tuple[PlannedSession, list[Adjustment]]:
    kept: list[PlannedExercise] = []
    swaps: list[Adjustment] = []
    for e in session.exercises:
        current = exercises.CATALOGUE.get(e.exercise_id)
        if current is None or exercises.allowed(current, equipment, limitations):
            kept.append(e)
            continue
        original = e.substituted_for or e.exercise_id
        chosen = exercises.choose(original, equipment, limitations)
        if chosen is None and original != e.exercise_id:
            chosen = exercises.choose(e.exercise_id, equipment, limitations)
        why = exercises.substitution_reason(current, chosen, equipment, limitations) if chosen else ""
        if chosen is None:
            swaps.append(
                Adjustment(
                    session.week_number,
                    session.day_number,
                    e.exercise_id,
                    "removed",
                    f"{current.name} dropped: no safe variation with what you have.",
                )
            )
            continue
        # A variation's load comes from its own fraction of the lift's max, so the lifter sets it by RPE.
        sets = tuple(s._replace(load_kg=0.0, percent_1rm=0.0) for s in e.sets) if chosen.load_factor == 0 else e.sets
        kept.append(
            e._replace(exercise_id=chosen.exercise_id, name=chosen.name, sets=sets, notes=why, substituted_for=original)
        )
        swaps.append(
            Adjustment(
                session.week_number,
                session.day_number,
                e.exercise_id,
                "substitution",
                why,
                substitute_exercise_id=chosen.exercise_id,
            )
        )
    if not kept:
        kept.append(PlannedExercise("dead_bug", "Dead Bug", None, 1, (PlannedSet(1, 10, 0.0, 0.0, 7.0),)))
    return session._replace(exercises=tuple(e._replace(order=i) for i, e in enumerate(kept, start=1))), swaps


# -- readiness -------------------------------------------------------------------------------


class ReadinessAdvice(enum.StrEnum):
    AS_PLANNED = "as_planned"
    LIGHTER = "lighter"
    LESS_VOLUME = "less_volume"
    REST = "rest"


@dataclass(frozen=True)
class Readiness:
    sleep_hours: float
    sleep_quality: int
    stress: int
    soreness: int
    energy: int
    motivation: int


@dataclass(frozen=True)
class ReadinessResult:
    score: int
    advice: ReadinessAdvice
    load_reduction_percent: float
    reason: str


def check_readiness(r: Readiness) -> None:
    violations = []
    if not 0 <= r.sleep_hours <= 16:
        violations.append(FieldViolation("sleep_hours", "must be between 0 and 16"))
    for name in ("sleep_quality", "stress", "soreness", "energy", "motivation"):
        if not 1 <= getattr(r, name) <= 5:
            violations.append(FieldViolation(name, "must be between 1 and 5"))
    if violations:
        raise InvalidArgument(violations)


def readiness(r: Readiness) -> ReadinessResult:
    """0-100: sleep weighs most (hours 25, quality 15); stress, soreness, energy and motivation
    15 each. 75+ as planned; 60-74 5 % lighter; 45-59 10 % lighter; 30-44 one set fewer and
    10 % lighter; below 30 rest."""
    parts = (
        25 * min(1.0, max(0.0, (r.sleep_hours - 4) / 4)),
        15 * (r.sleep_quality - 1) / 4,
        15 * (5 - r.stress) / 4,
        15 * (5 - r.soreness) / 4,
        15 * (r.energy - 1) / 4,
        15 * (r.motivation - 1) / 4,
    )
    score = math.floor(sum(parts) + 0.5)  # half up, as a person would round
    if score >= 75:
        return ReadinessResult(score, ReadinessAdvice.AS_PLANNED, 0, "Ready: train as planned.")
    if score >= 60:
        return ReadinessResult(score, ReadinessAdvice.LIGHTER, 5, "A little under par: take 5 % off today's loads.")
    if score >= 45:
        return ReadinessResult(score, ReadinessAdvice.LIGHTER, 10, "Under-recovered: take 10 % off today's loads.")
    if score >= 30:
        return ReadinessResult(
            score, ReadinessAdvice.LESS_VOLUME, 10, "Poorly recovered: one set fewer per exercise and 10 % lighter."
        )
    return ReadinessResult(score, ReadinessAdvice.REST, 100, "Rest today: recovery will do more than training would.")


def apply_readiness(session: PlannedSession, result: ReadinessResult, unit: str) -> PlannedSession:
    if result.advice is ReadinessAdvice.AS_PLANNED or result.advice is ReadinessAdvice.REST:
        return session
    change = _Change(-result.load_reduction_percent / 100, -1 if result.advice is ReadinessAdvice.LESS_VOLUME else 0, 0)
    return session._replace(
        exercises=tuple(
            _adjust_exercise(
                e, change, unit, "barbell" in exercises.CATALOGUE.get(e.exercise_id, _NO_EXERCISE).equipment
            )
            for e in session.exercises
        )
    )


# -- check-ins -------------------------------------------------------------------------------


class Recommendation(enum.StrEnum):
    PROGRESS = "progress"
    HOLD = "hold"
    DELOAD = "deload"


@dataclass(frozen=True)
class LoggedSession:
    """What a check-in needs of one progress log."""

    status: str  # planned | scheduled | completed | skipped
    due: date | None
    session_rpe: float | None
    set_rpes: tuple[float, ...]
    target_rpes: tuple[float, ...]

    @property
    def rpe(self) -> float | None:
        """Reported session RPE, else the mean reported set RPE, else the mean target."""
        if self.session_rpe:
            return self.session_rpe
        for values in (self.set_rpes, self.target_rpes):
            if values:
                return sum(values) / len(values)
        return None


@dataclass(frozen=True)
class PeriodFigures:
    planned: int
    completed: int
    skipped: int
    average_rpe: float

    @property
    def adherence(self) -> float:
        return self.completed / self.planned if self.planned else 0.0


def period_figures(logs: Sequence[LoggedSession]) -> PeriodFigures:
    """Sessions due in a period: how many, how many done or skipped, and how hard the done ones were."""
    completed = [log for log in logs if log.status == "completed"]
    rpes = [r for r in (log.rpe for log in completed) if r is not None]
    return PeriodFigures(
        planned=len(logs),
        completed=len(completed),
        skipped=sum(1 for log in logs if log.status == "skipped"),
        average_rpe=round(sum(rpes) / len(rpes), 2) if rpes else 0.0,
    )


def recommend(current: PeriodFigures, previous: PeriodFigures) -> tuple[Recommendation, str]:
    if current.planned == 0:
        return Recommendation.HOLD, "No sessions were due in this period: nothing to change yet."
    if current.average_rpe >= 9 or (current.average_rpe >= 8.5 and previous.average_rpe >= 8.5):
        return Recommendation.DELOAD, (
            f"Sessions averaged RPE {current.average_rpe:g}: take a deload week before pushing on."
        )
    if current.adherence < 0.6:
        return Recommendation.HOLD, (
            f"{current.completed} of {current.planned} sessions done: hold the loads and rebuild consistency first."
        )
    if current.adherence >= 0.8 and 0 < current.average_rpe <= 8:
        return Recommendation.PROGRESS, (
            f"{current.completed} of {current.planned} sessions done at RPE {current.average_rpe:g}: ready to progress."
        )
    done = f"{current.completed} of {current.planned} sessions done at RPE {current.average_rpe:g}"
    return Recommendation.HOLD, f"{done}: hold the current loads."
