"""The optional Gemini engine: the model writes the program from the profile and the methodology's
rules as structured JSON; the service computes loads and dates itself and holds the answer to the
built-in generator's checks. Anything invalid, late or failed is written by the built-in generator
instead, with the reason in the generation metadata."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google import genai
from google.genai import errors, types

from ironpath_training import exercises
from ironpath_training.exercises import Exercise
from ironpath_training.loads import loadable_kg, to_unit
from ironpath_training.rpe import MAX_RPE, MIN_RPE
from program_svc.domain import (
    LIFTS,
    MAX_EXERCISES_PER_SESSION,
    MAX_NAME_CHARS,
    MAX_REPS,
    MAX_SETS_PER_EXERCISE,
    GenerationMetadata,
    GenerationRequest,
    Methodology,
    Plan,
    PlannedExercise,
    PlannedSession,
    PlannedSet,
    PlannedWeek,
    Profile,
    plan_problems,
)
from program_svc.engines import BuiltinEngine, builtin_metadata, snapshot
from program_svc.generator import DAY_OFFSETS, working_one_rep_max

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_TIMEOUT_SECONDS = 20.0
# Structured output (responseSchema) is served by the v1beta API; the SDK's default is v1.
API_VERSION = "v1beta"
MAX_NOTE_CHARS = 500
MIN_REST_SECONDS, MAX_REST_SECONDS = 30, 600
DEFAULT_REST_SECONDS = 120


class InvalidAnswer(Exception):
    """The model's answer cannot be given to a lifter; the message is the fallback reason."""


@dataclasses.dataclass
class _Usage:
    """Tokens a call used, kept even when its answer is thrown away (it is paid for either way)."""

    total_tokens: int = 0


class GeminiEngine:
    """Writes programs with Gemini through the google-genai SDK, falling back to the built-in
    generator on any error, timeout or answer that fails the plan checks."""

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        base_url: str | None = None,
    ) -> None:
        if not api_key.strip():
            raise ValueError("a Gemini API key is required")
        if not model.strip():
            raise ValueError("a Gemini model name is required")
        if timeout_seconds <= 0:
            raise ValueError("the Gemini timeout must be positive")
        self.model = model.strip()
        self.timeout_seconds = timeout_seconds
        self._fallback = BuiltinEngine()
        # No SDK retries: a retry with backoff could not finish inside the deadline, and the
        # built-in generator is a better answer than a late one. The SDK's own timeout is only a
        # backstop behind asyncio's deadline, so a hung socket is always closed.
        self._client = genai.Client(
            api_key=api_key.strip(),
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version=API_VERSION,
                timeout=round((timeout_seconds + 1) * 1000),
            ),
        )

    def __repr__(self) -> str:
        return f"GeminiEngine(model={self.model!r}, timeout_seconds={self.timeout_seconds:g})"

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    async def write(
        self, profile: Profile, request: GenerationRequest, methodology: Methodology
    ) -> tuple[Plan, GenerationMetadata]:
        """The model's program when it passes every check, else the built-in generator's, with
        the reason recorded as the metadata's fallback_reason."""
        started = time.perf_counter()
        request = dataclasses.replace(request, methodology_id=methodology.methodology_id)
        usage = _Usage()
        try:
            plan = await asyncio.wait_for(self._ask(profile, request, methodology, usage), self.timeout_seconds)
        except TimeoutError:
            reason = f"timeout after {self.timeout_seconds:g} s"
        except InvalidAnswer as exc:
            reason = str(exc)
        except errors.APIError as exc:
            reason = f"HTTP {exc.code} from Gemini"
        except Exception as exc:
            # Transport errors (httpx/httpx2 under the SDK), SDK response errors and anything
            # unforeseen: the lifter still gets a program.
            reason = f"Gemini call failed: {type(exc).__name__}"
            log.warning("gemini call failed model=%s", self.model, exc_info=True)
        else:
            duration_ms = round((time.perf_counter() - started) * 1000)
            self._log_outcome("gemini", "ok", duration_ms, usage)
            return plan, GenerationMetadata(
                engine="gemini",
                model=self.model,
                fallback_reason="",
                generated_at=datetime.now(UTC),
                request=snapshot(request),
                profile_snapshot=snapshot(profile),
                duration_ms=duration_ms,
            )
        plan, _ = await self._fallback.write(profile, request, methodology)
        metadata = builtin_metadata(profile, request, started, fallback_reason=reason, model=self.model)
        self._log_outcome("builtin", f"fallback: {reason}", metadata.duration_ms, usage)
        return plan, metadata

    def _log_outcome(self, engine: str, outcome: str, duration_ms: int, usage: _Usage) -> None:
        log.info(
            "program written engine=%s model=%s outcome=%s duration_ms=%d tokens=%d",
            engine,
            self.model,
            outcome,
            duration_ms,
            usage.total_tokens,
        )

    async def _ask(self, profile: Profile, request: GenerationRequest, methodology: Methodology, usage: _Usage) -> Plan:
        response = await self._client.aio.models.generate_content(
            model=self.model,
            contents=prompt(profile, request, methodology),
            config=types.GenerateContentConfig(
                response_mime_type="application/json",
                response_schema=plan_schema(profile, request),
            ),
        )
        if response.usage_metadata:
            usage.total_tokens = response.usage_metadata.total_token_count or 0
        plan = parse_plan(_answer_text(response), profile, request, methodology)
        problems = plan_problems(plan, request, profile)
        if problems:
            more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
            raise InvalidAnswer("; ".join(problems[:2]) + more)
        return plan


def gemini_engine_from_env(env: Mapping[str, str]) -> GeminiEngine | None:
    """The Gemini engine when GEMINI_API_KEY is set, else None (the built-in generator alone).
    IRONPATH_GEMINI_MODEL, IRONPATH_GEMINI_TIMEOUT_SECONDS and IRONPATH_GEMINI_BASE_URL (a proxy or
    a test server) are optional."""
    api_key = env.get("GEMINI_API_KEY", "").strip()
    if not api_key:
        return None
    model = env.get("IRONPATH_GEMINI_MODEL", "").strip() or DEFAULT_MODEL
    raw_timeout = env.get("IRONPATH_GEMINI_TIMEOUT_SECONDS", "").strip()
    try:
        timeout_seconds = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise ValueError(f"IRONPATH_GEMINI_TIMEOUT_SECONDS must be a number of seconds, not {raw_timeout!r}") from None
    if not 0 < timeout_seconds <= 600:
        raise ValueError("IRONPATH_GEMINI_TIMEOUT_SECONDS must be between 0 and 600")
    base_url = env.get("IRONPATH_GEMINI_BASE_URL", "").strip() or None
    return GeminiEngine(api_key, model=model, timeout_seconds=timeout_seconds, base_url=base_url)


# -- what the model is asked ------------------------------------------------------------------


def allowed_exercises(profile: Profile, request: GenerationRequest) -> list[Exercise]:
    """The catalogue's exercises this lifter may do: equipment they have, no painful area loaded."""
    equipment = profile.available_equipment()
    limitations = frozenset(profile.limitations) | frozenset(request.limitations)
    return [e for e in exercises.CATALOGUE.values() if exercises.allowed(e, equipment, limitations)]


def prompt(profile: Profile, request: GenerationRequest, methodology: Methodology) -> str:
    """Everything the model is told: the lifter, the request, the methodology's rules and the
    exercises it may use. Loads and dates are not asked for: the service computes them."""
    unit = profile.unit
    plates = "2.5 kg" if unit == "kg" else "5 lb"
    bodyweight = f"{to_unit(profile.bodyweight_kg, unit):.1f} {unit}" if profile.bodyweight_kg else "unknown"
    maxes = []
    for lift in LIFTS:
        known = profile.one_rep_max(lift)
        working = working_one_rep_max(profile, lift)
        if known is not None:
            tested = next(m.tested for m in profile.one_rep_maxes if m.lift == lift)
            maxes.append(f"{lift} {to_unit(known, unit):.1f} {unit} ({'tested' if tested else 'estimated'})")
        elif working is not None:
            maxes.append(f"{lift} about {to_unit(working, unit):.1f} {unit} (estimated from bodyweight)")
        else:
            maxes.append(f"{lift} unknown (prescribe by RPE)")
    limitations = sorted(set(profile.limitations) | set(request.limitations))
    allowed = {e.exercise_id for e in allowed_exercises(profile, request)}

    def listed(ids: tuple[str, ...], lift: str | None = None) -> str:
        names = []
        for exercise_id in (i for i in ids if i in allowed):
            exercise = exercises.CATALOGUE[exercise_id]
            scale = ""
            if lift and exercise.load_factor == 0:
                scale = ", loaded by feel"
            elif lift and exercise.load_factor != 1:
                scale = f", its 1RM taken as {exercise.load_factor:.0%} of the {lift} 1RM"
            names.append(f"{exercise_id} ({exercise.name}{scale})")
        return ", ".join(names) or "none safe for this lifter: leave it out"

    main_lines = [
        f"- {lift}: {listed((main, *exercises.ALTERNATIVES[main]), lift)}"
        for lift, main in exercises.MAIN_EXERCISE.items()
    ]
    assistance_lines = [f"- {group}: {listed(ids)}" for group, ids in exercises.ACCESSORIES.items()]
    sessions = request.weeks * request.days_per_week
    return "\n".join(
        [
            "You are an experienced strength coach. Write a complete training program for the lifter below,",
            "following the methodology below by its own numbers. Answer only with JSON matching the response schema.",
            "",
            "## Lifter",
            f"- Unit: {unit} (loads are rounded down to {plates} plates by the app)",
            f"- Bodyweight: {bodyweight}",
            f"- One-rep maxes: {'; '.join(maxes)}",
            f"- Experience: {profile.experience_level}, {profile.training_age_years:g} years of training",
            f"- Equipment: {', '.join(sorted(profile.available_equipment()))}",
            f"- Limitations (painful areas, never load them): {', '.join(limitations) or 'none'}",
            "",
            "## Request",
            f"- Goal: {request.goal}",
            f"- {request.weeks} weeks, {request.days_per_week} sessions a week ({sessions} sessions in all)",
            f"- Focus areas (give them extra volume): {', '.join(request.focus_areas) or 'none'}",
            f"- Start date: {request.start_date.isoformat() if request.start_date else 'not set'}",
            "",
            f"## Methodology: {methodology.name} ({methodology.methodology_id})",
            methodology.description,
            f"Deload rule: {methodology.deload_rule}",
            "Rules as data (intensities are fractions of 1RM; for 5/3/1, fractions of the training max):",
            json.dumps(methodology.rules, sort_keys=True),
            "",
            "## Exercises: use only these ids",
            "Main lifts, each with the variations that may stand in for it, closest first:",
            *main_lines,
            "Assistance work by muscle group:",
            *assistance_lines,
            "",
            "## How to write it",
            f"- Exactly {sessions} sessions: weeks numbered 1 to {request.weeks}, each with days numbered 1 to "
            f"{request.days_per_week} once.",
            "- Main lifts first, then assistance work. On a main lift or its stand-in set main_lift to the lift it "
            "trains; on assistance work main_lift is null.",
            "- percent_1rm is the intensity as a fraction of the exercise's 1RM (a stand-in's 1RM is the share of "
            "the main lift's 1RM shown above), never above 1.0; for 5/3/1 multiply by the training max "
            "(0.9 x 0.85 = 0.765). Use 0 on assistance work and on stand-ins loaded by feel. Do not give loads: "
            "the app computes them from the 1RMs.",
            f"- rpe_target from {MIN_RPE:g} to {MAX_RPE:g} in half steps, agreeing with the RTS RPE chart for the "
            "reps and %1RM; amrap marks an as-many-reps-as-possible set.",
            f"- 1 to {MAX_REPS} reps a set, 1 to {MAX_SETS_PER_EXERCISE} sets an exercise, 1 to "
            f"{MAX_EXERCISES_PER_SESSION} exercises a session.",
            "- Mark deload weeks where the methodology's deload rule puts them, and name each week's phase.",
        ]
    )


def plan_schema(profile: Profile, request: GenerationRequest) -> types.Schema:
    """The answer's shape, sized to the request and limited to the lifter's safe exercises."""
    s, t = types.Schema, types.Type
    set_schema = s(
        type=t.OBJECT,
        properties={
            "reps": s(type=t.INTEGER, minimum=1, maximum=MAX_REPS),
            "percent_1rm": s(type=t.NUMBER, minimum=0, maximum=1, description="fraction of the 1RM, e.g. 0.75"),
            "rpe_target": s(type=t.NUMBER, minimum=MIN_RPE, maximum=MAX_RPE),
            "amrap": s(type=t.BOOLEAN),
        },
        required=["reps", "percent_1rm", "rpe_target", "amrap"],
        property_ordering=["reps", "percent_1rm", "rpe_target", "amrap"],
    )
    exercise_schema = s(
        type=t.OBJECT,
        properties={
            "exercise_id": s(type=t.STRING, enum=[e.exercise_id for e in allowed_exercises(profile, request)]),
            "main_lift": s(type=t.STRING, enum=list(LIFTS), nullable=True),
            "sets": s(type=t.ARRAY, items=set_schema, min_items=1, max_items=MAX_SETS_PER_EXERCISE),
            "rest_seconds": s(type=t.INTEGER, minimum=MIN_REST_SECONDS, maximum=MAX_REST_SECONDS),
            "notes": s(type=t.STRING, description="a short coaching cue, or empty"),
        },
        required=["exercise_id", "main_lift", "sets"],
        property_ordering=["exercise_id", "main_lift", "sets", "rest_seconds", "notes"],
    )
    session_schema = s(
        type=t.OBJECT,
        properties={
            "day_number": s(type=t.INTEGER, minimum=1, maximum=request.days_per_week),
            "title": s(type=t.STRING),
            "exercises": s(type=t.ARRAY, items=exercise_schema, min_items=1, max_items=MAX_EXERCISES_PER_SESSION),
        },
        required=["day_number", "title", "exercises"],
        property_ordering=["day_number", "title", "exercises"],
    )
    week_schema = s(
        type=t.OBJECT,
        properties={
            "week_number": s(type=t.INTEGER, minimum=1, maximum=request.weeks),
            "phase": s(type=t.STRING),
            "deload": s(type=t.BOOLEAN),
            "sessions": s(
                type=t.ARRAY, items=session_schema, min_items=request.days_per_week, max_items=request.days_per_week
            ),
        },
        required=["week_number", "phase", "deload", "sessions"],
        property_ordering=["week_number", "phase", "deload", "sessions"],
    )
    return s(
        type=t.OBJECT,
        properties={"weeks": s(type=t.ARRAY, items=week_schema, min_items=request.weeks, max_items=request.weeks)},
        required=["weeks"],
    )


# -- reading the answer -----------------------------------------------------------------------


def _answer_text(response: types.GenerateContentResponse) -> str:
    candidates = response.candidates or []
    if not candidates:
        blocked = response.prompt_feedback.block_reason if response.prompt_feedback else None
        raise InvalidAnswer(f"no answer (blocked: {blocked.value})" if blocked else "no answer")
    finish = candidates[0].finish_reason
    text = response.text
    if finish is not None and finish not in (types.FinishReason.STOP, types.FinishReason.FINISH_REASON_UNSPECIFIED):
        raise InvalidAnswer(f"answer cut short ({finish.value})")
    if not text or not text.strip():
        raise InvalidAnswer("empty answer")
    return text


def parse_plan(text: str, profile: Profile, request: GenerationRequest, methodology: Methodology) -> Plan:
    """The model's JSON as a domain plan, loads and dates computed here as the built-in generator
    computes them. Raises InvalidAnswer naming the first thing wrong; plan_problems is not run."""
    try:
        answer = json.loads(text)
    except ValueError:
        raise InvalidAnswer("malformed JSON") from None
    equipment = profile.available_equipment()
    limitations = frozenset(profile.limitations) | frozenset(request.limitations)
    offsets = DAY_OFFSETS[request.days_per_week]
    weeks = []
    for w, week in enumerate(_list(answer, "weeks", "answer")):
        where = f"weeks[{w}]"
        week_number = _int(week, "week_number", where)
        phase = _text(week, "phase", where, MAX_NAME_CHARS)
        deload = _bool(week, "deload", where)
        sessions = []
        for d, session in enumerate(_list(week, "sessions", where)):
            at = f"{where}.sessions[{d}]"
            day_number = _int(session, "day_number", at)
            title = _text(session, "title", at, MAX_NAME_CHARS)
            planned = [
                _exercise(item, order, profile, equipment, limitations, f"{at}.exercises[{order - 1}]")
                for order, item in enumerate(_list(session, "exercises", at), start=1)
            ]
            # Dates as the built-in generator writes them; a session off the calendar gets none
            # and plan_problems rejects its position.
            planned_date = None
            if request.start_date is not None and 1 <= week_number <= request.weeks and 1 <= day_number <= len(offsets):
                planned_date = request.start_date + timedelta(days=(week_number - 1) * 7 + offsets[day_number - 1])
            sessions.append(PlannedSession(week_number, day_number, title, planned_date, deload, tuple(planned)))
        weeks.append(PlannedWeek(week_number, phase, deload, tuple(sessions)))
    return Plan(methodology.methodology_id, tuple(weeks))


def _exercise(
    item: Any,
    order: int,
    profile: Profile,
    equipment: frozenset[str],
    limitations: frozenset[str],
    where: str,
) -> PlannedExercise:
    exercise_id = _text(item, "exercise_id", where, MAX_NAME_CHARS)
    exercise = exercises.CATALOGUE.get(exercise_id)
    if exercise is None:
        raise InvalidAnswer(f"unknown exercise {exercise_id!r} at {where}")
    painful = sorted(exercise.loads_areas & limitations)
    if painful:
        raise InvalidAnswer(f"{exercise_id} loads the painful {', '.join(painful)} at {where}")
    missing = sorted(exercise.equipment - equipment)
    if missing:
        raise InvalidAnswer(f"{exercise_id} needs {', '.join(missing)}, which the lifter lacks, at {where}")
    lift = _optional_text(item, "main_lift", where)
    main_exercise = ""
    if lift is not None:
        if lift not in LIFTS:
            raise InvalidAnswer(f"malformed plan: {where}.main_lift {lift!r} is not a main lift")
        main_exercise = exercises.MAIN_EXERCISE[lift]
        if exercise_id not in (main_exercise, *exercises.ALTERNATIVES[main_exercise]):
            raise InvalidAnswer(f"{exercise_id} does not stand in for the {lift} at {where}")
    # As the built-in generator does: the lift's working 1RM scaled to this variation, rounded
    # down to plates only once, at the set.
    one_rm = working_one_rep_max(profile, lift) if lift else None
    exercise_max = one_rm * exercise.load_factor if one_rm and exercise.load_factor else None
    sets = []
    for n, item_set in enumerate(_list(item, "sets", where), start=1):
        at = f"{where}.sets[{n - 1}]"
        reps = _int(item_set, "reps", at)
        percent = _number(item_set, "percent_1rm", at)
        rpe = _number(item_set, "rpe_target", at)
        load = loadable_kg(exercise_max * percent, profile.unit) if exercise_max else 0.0
        sets.append(PlannedSet(n, reps, percent, load, rpe, _bool(item_set, "amrap", at)))
    rest = item.get("rest_seconds")
    if rest is None:
        rest = DEFAULT_REST_SECONDS
    elif isinstance(rest, bool) or not isinstance(rest, int) or not MIN_REST_SECONDS <= rest <= MAX_REST_SECONDS:
        raise InvalidAnswer(f"malformed plan: {where}.rest_seconds must be {MIN_REST_SECONDS}-{MAX_REST_SECONDS}")
    notes = _optional_text(item, "notes", where) or ""
    if len(notes) > MAX_NOTE_CHARS:
        raise InvalidAnswer(f"malformed plan: {where}.notes is longer than {MAX_NOTE_CHARS} characters")
    substituted = main_exercise if main_exercise and main_exercise != exercise_id else ""
    return PlannedExercise(exercise_id, exercise.name, lift, order, tuple(sets), notes.strip(), substituted, rest)


def _field(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidAnswer(f"malformed plan: {where} is not an object")
    if obj.get(key) is None:
        raise InvalidAnswer(f"malformed plan: {where}.{key} is missing")
    return obj[key]


def _list(obj: Any, key: str, where: str) -> list[Any]:
    value = _field(obj, key, where)
    if not isinstance(value, list):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not a list")
    return value


def _int(obj: Any, key: str, where: str) -> int:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not an integer")
    return value


def _number(obj: Any, key: str, where: str) -> float:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not a finite number")
    return float(value)


def _bool(obj: Any, key: str, where: str) -> bool:
    value = _field(obj, key, where)
    if not isinstance(value, bool):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not true or false")
    return value


def _text(obj: Any, key: str, where: str, max_chars: int) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not a string")
    if not value.strip():
        raise InvalidAnswer(f"malformed plan: {where}.{key} is empty")
    if len(value) > max_chars:
        raise InvalidAnswer(f"malformed plan: {where}.{key} is longer than {max_chars} characters")
    return value.strip()


def _optional_text(obj: Any, key: str, where: str) -> str | None:
    if not isinstance(obj, dict):
        raise InvalidAnswer(f"malformed plan: {where} is not an object")
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidAnswer(f"malformed plan: {where}.{key} is not a string")
    return value
