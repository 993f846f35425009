"""Plain data and pure rules of the program service: lifters, requests, plans and the checks
every plan passes, whichever engine wrote it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ironpath_common.errors import FieldViolation, InvalidArgument
from ironpath_training.loads import is_loadable
from ironpath_training.plan import PlannedExercise, PlannedSession, PlannedSet, PlannedWeek  # noqa: F401 - a plan's parts
from ironpath_training.rpe import MAX_RPE, MIN_RPE

UNITS = ("kg", "lb")
LIFTS = ("squat", "bench_press", "deadlift", "overhead_press")
EXPERIENCE_LEVELS = ("novice", "intermediate", "advanced")
GOALS = ("strength", "hypertrophy", "peaking", "general")
SEXES = ("female", "male", "other")
EQUIPMENT = (
    "barbell",
    "squat_rack",
    "bench",
    "dumbbells",
    "cable",
    "machines",
    "pull_up_bar",
    "kettlebells",
    "bands",
)
BODY_AREAS = ("knee", "hip", "lower_back", "shoulder", "elbow", "wrist", "ankle", "neck")
MUSCLE_GROUPS = ("quads", "hamstrings", "glutes", "back", "chest", "shoulders", "arms", "core")
# A profile that lists no equipment trains in a commercial gym.
FULL_GYM = frozenset(EQUIPMENT) - {"kettlebells", "bands"}

MIN_WEEKS, MAX_WEEKS = 1, 52
MIN_DAYS, MAX_DAYS = 2, 6
MAX_ONE_REP_MAX_KG = 500.0
MAX_BODYWEIGHT_KG = 350.0
MAX_EXERCISES_PER_SESSION = 12
MAX_SETS_PER_EXERCISE = 12
MAX_REPS = 30
MAX_NAME_CHARS = 120
MAX_FOCUS_AREAS = 6


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class OneRepMax:
    lift: str
    weight_kg: float
    tested: bool


@dataclass(frozen=True)
class Profile:
    unit: str = "kg"
    bodyweight_kg: float = 0.0
    height_cm: float = 0.0
    age_years: int = 0
    sex: str = ""
    one_rep_maxes: tuple[OneRepMax, ...] = ()
    experience_level: str = "novice"
    training_age_years: float = 0.0
    equipment: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()

    def one_rep_max(self, lift: str) -> float | None:
        for entry in self.one_rep_maxes:
            if entry.lift == lift and entry.weight_kg > 0:
                return entry.weight_kg
        return None

    def available_equipment(self) -> frozenset[str]:
        return frozenset(self.equipment) or FULL_GYM


@dataclass(frozen=True)
class StoredProfile:
    profile: Profile
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class GenerationRequest:
    goal: str
    weeks: int
    days_per_week: int
    methodology_id: str | None = None
    focus_areas: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    start_date: date | None = None
    name: str = ""


@dataclass(frozen=True)
class Plan:
    methodology_id: str
    weeks: tuple[PlannedWeek, ...]

    def sessions(self) -> list[PlannedSession]:
        return [session for week in self.weeks for session in week.sessions]


@dataclass(frozen=True)
class GenerationMetadata:
    engine: str
    model: str
    fallback_reason: str
    generated_at: datetime
    request: dict[str, object]
    profile_snapshot: dict[str, object]
    duration_ms: int


@dataclass(frozen=True)
class Program:
    program_id: str
    user_id: str
    name: str
    methodology_id: str
    goal: str
    weeks: int
    days_per_week: int
    start_date: date | None
    unit: str
    state: str
    focus_areas: tuple[str, ...]
    # As stored: the generation metadata and each week's phase (JSON-ready data).
    metadata: dict[str, Any]
    week_phases: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime
    access: str = "owner"


@dataclass(frozen=True)
class Methodology:
    methodology_id: str
    name: str
    description: str
    suits: str
    experience_levels: tuple[str, ...]
    goals: tuple[str, ...]
    cycle_weeks: int
    deload_rule: str
    rules: dict[str, Any] = field(default_factory=dict)


def check_request(request: GenerationRequest, known_methodologies: set[str]) -> None:
    violations: list[FieldViolation] = []
    if request.goal not in GOALS:
        violations.append(FieldViolation("goal", f"must be one of {', '.join(GOALS)}"))
    if not MIN_WEEKS <= request.weeks <= MAX_WEEKS:
        violations.append(FieldViolation("weeks", f"must be between {MIN_WEEKS} and {MAX_WEEKS}"))
    if not MIN_DAYS <= request.days_per_week <= MAX_DAYS:
        violations.append(FieldViolation("days_per_week", f"must be between {MIN_DAYS} and {MAX_DAYS}"))
    if request.methodology_id is not None and request.methodology_id not in known_methodologies:
        violations.append(FieldViolation("methodology_id", "is not a known methodology"))
    if len(request.focus_areas) > MAX_FOCUS_AREAS:
        violations.append(FieldViolation("focus_areas", f"at most {MAX_FOCUS_AREAS}"))
    for i, area in enumerate(request.focus_areas):
        if area not in LIFTS and area not in MUSCLE_GROUPS:
            violations.append(FieldViolation(f"focus_areas[{i}]", "must be a main lift or a muscle group"))
    if len(request.name) > MAX_NAME_CHARS:
        violations.append(FieldViolation("name", f"must be at most {MAX_NAME_CHARS} characters"))
    if violations:
        raise InvalidArgument(violations)


def check_profile(profile: Profile) -> None:
    violations: list[FieldViolation] = []
    if profile.unit not in UNITS:
        violations.append(FieldViolation("profile.unit", "must be kg or lb"))
    if not 0 <= profile.bodyweight_kg <= MAX_BODYWEIGHT_KG:
        violations.append(FieldViolation("profile.bodyweight_kg", f"must be between 0 and {MAX_BODYWEIGHT_KG:g}"))
    if not 0 <= profile.height_cm <= 260:
        violations.append(FieldViolation("profile.height_cm", "must be between 0 and 260"))
    if not 0 <= profile.age_years <= 110:
        violations.append(FieldViolation("profile.age_years", "must be between 0 and 110"))
    if not 0 <= profile.training_age_years <= 80:
        violations.append(FieldViolation("profile.training_age_years", "must be between 0 and 80"))
    seen = set()
    for i, entry in enumerate(profile.one_rep_maxes):
        if entry.lift not in LIFTS:
            violations.append(FieldViolation(f"profile.one_rep_maxes[{i}].lift", "must be a main lift"))
        elif entry.lift in seen:
            violations.append(FieldViolation(f"profile.one_rep_maxes[{i}].lift", "is listed twice"))
        seen.add(entry.lift)
        if not 0 < entry.weight_kg <= MAX_ONE_REP_MAX_KG:
            violations.append(
                FieldViolation(f"profile.one_rep_maxes[{i}].weight_kg", f"must be between 0 and {MAX_ONE_REP_MAX_KG:g}")
            )
    if violations:
        raise InvalidArgument(violations)


def plan_problems(plan: Plan, request: GenerationRequest, profile: Profile) -> list[str]:
    """Everything wrong with a plan; empty when it may be given to a lifter. Both engines' plans
    pass through this, so a model's answer is held to the built-in generator's standard."""
    problems: list[str] = []
    if len(plan.weeks) != request.weeks:
        problems.append(f"{len(plan.weeks)} weeks instead of {request.weeks}")
    sessions = plan.sessions()
    if len(sessions) != request.weeks * request.days_per_week:
        problems.append(f"{len(sessions)} sessions instead of {request.weeks * request.days_per_week}")
    positions = {(s.week_number, s.day_number) for s in sessions}
    expected = {(w, d) for w in range(1, request.weeks + 1) for d in range(1, request.days_per_week + 1)}
    if positions != expected:
        problems.append("sessions do not cover every week and day exactly once")
    for session in sessions:
        where = f"week {session.week_number} day {session.day_number}"
        if not 1 <= len(session.exercises) <= MAX_EXERCISES_PER_SESSION:
            problems.append(f"{where}: {len(session.exercises)} exercises")
        for exercise in session.exercises:
            one_rm = profile.one_rep_max(exercise.main_lift) if exercise.main_lift else None
            if not 1 <= len(exercise.sets) <= MAX_SETS_PER_EXERCISE:
                problems.append(f"{where} {exercise.exercise_id}: {len(exercise.sets)} sets")
            for s in exercise.sets:
                if not 1 <= s.reps <= MAX_REPS:
                    problems.append(f"{where} {exercise.exercise_id}: {s.reps} reps")
                if not MIN_RPE <= s.rpe_target <= MAX_RPE:
                    problems.append(f"{where} {exercise.exercise_id}: RPE {s.rpe_target}")
                if not 0 <= s.percent_1rm <= 1.0:
                    problems.append(f"{where} {exercise.exercise_id}: {s.percent_1rm:.0%} of 1RM")
                if s.load_kg < 0 or not is_loadable(s.load_kg, profile.unit):
                    problems.append(f"{where} {exercise.exercise_id}: load {s.load_kg} is not loadable")
                if one_rm is not None and s.load_kg > one_rm + 1e-6:
                    problems.append(f"{where} {exercise.exercise_id}: load {s.load_kg} above the 1RM {one_rm}")
    return problems


# Coach sharing. A grant is stored as pending (invited), active (accepted) or revoked; it reads
# as expired once its expire_time has passed, unless it was revoked first.
GRANT_STATES = ("pending", "active", "revoked", "expired")
MAX_EMAIL_CHARS = 254
MAX_INVITE_CODE_CHARS = 128
INVITE_CODE_BYTES = 24  # 192 bits
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True)
class Grant:
    grant_id: str
    program_id: str
    owner_user_id: str
    grantee_email: str
    grantee_user_id: str | None
    # As stored (pending, active, revoked) until `at` resolves it for a moment in time.
    state: str
    expire_time: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    def at(self, now: datetime) -> Grant:
        """The grant as it reads at `now`: a pending or active grant past its expire_time is expired."""
        if self.state in ("pending", "active") and self.expire_time is not None and self.expire_time <= now:
            return replace(self, state="expired")
        return self


def check_grantee_email(email: str, owner_email: str) -> str:
    """The coach's email, trimmed and lower-cased; never the owner's own (a grant to oneself)."""
    normalized = email.strip().lower()
    if not normalized:
        raise InvalidArgument("grantee_email", "is required")
    if len(normalized) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(normalized):
        raise InvalidArgument("grantee_email", "must be an email address")
    if owner_email and normalized == owner_email.strip().lower():
        raise InvalidArgument("grantee_email", "is your own email: a grant is for someone else")
    return normalized


def check_expire_time(expire_time: datetime | None, now: datetime) -> None:
    if expire_time is not None and expire_time <= now:
        raise InvalidArgument("expire_time", "must be in the future")


def invite_code(key: bytes, grant_id: str) -> str:
    """A grant's one-time invite code: 192 bits of HMAC-SHA256 over the random grant id, under the
    service's secret invite key, URL-safe. Derived, never stored: the grants table keeps only its
    SHA-256, and a replayed GrantProgramAccess recomputes it instead of reading it back."""
    digest = hmac.new(key, uuid.UUID(grant_id).bytes, hashlib.sha256).digest()[:INVITE_CODE_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


def invite_code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()
