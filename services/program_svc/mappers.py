"""Protobuf <-> domain for the program service, with request validation that names fields."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf.message import Message

from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2
from ironpath.program.v1 import program_pb2 as pb
from ironpath.progress.v1 import progress_pb2
from ironpath_common import pagination
from ironpath_common.errors import FieldViolation, InvalidArgument
from ironpath_common.pagination import decode_page_token, encode_page_token  # noqa: F401 - used by the servicer
from ironpath_training.proto import BODY_AREAS, EQUIPMENT, MAIN_LIFTS, UNITS, sessions_to_pb
from program_svc import export_formats as formats
from program_svc.data_rights import DELETE_CONFIRMATION, ERASE_FEEDBACK, ERASE_PROGRESS
from program_svc.domain import (
    MAX_INVITE_CODE_CHARS,
    Account,
    GenerationMetadata,
    GenerationRequest,
    Grant,
    Methodology,
    OneRepMax,
    Plan,
    Profile,
    Program,
    StoredProfile,
)
from program_svc.service import SessionWithContext

LIFTS = MAIN_LIFTS
EXPERIENCE: dict[Any, str] = {
    pb.EXPERIENCE_LEVEL_NOVICE: "novice",
    pb.EXPERIENCE_LEVEL_INTERMEDIATE: "intermediate",
    pb.EXPERIENCE_LEVEL_ADVANCED: "advanced",
}
SEXES: dict[Any, str] = {pb.SEX_FEMALE: "female", pb.SEX_MALE: "male", pb.SEX_OTHER: "other"}
GOALS: dict[Any, str] = {
    pb.TRAINING_GOAL_STRENGTH: "strength",
    pb.TRAINING_GOAL_HYPERTROPHY: "hypertrophy",
    pb.TRAINING_GOAL_PEAKING: "peaking",
    pb.TRAINING_GOAL_GENERAL: "general",
}
UNIT_ENUMS: dict[str, Any] = {name: value for value, name in UNITS.items()}
STATES = {"active": pb.PROGRAM_STATE_ACTIVE, "archived": pb.PROGRAM_STATE_ARCHIVED}
ACCESS = {"owner": pb.PROGRAM_ACCESS_OWNER, "coach": pb.PROGRAM_ACCESS_COACH_READ}
GRANT_STATES = {
    "pending": pb.GRANT_STATE_PENDING,
    "active": pb.GRANT_STATE_ACTIVE,
    "revoked": pb.GRANT_STATE_REVOKED,
    "expired": pb.GRANT_STATE_EXPIRED,
}

# The profile fields a lifter may set (everything else is output only).
PROFILE_FIELDS = (
    "unit",
    "bodyweight_kg",
    "height_cm",
    "age_years",
    "sex",
    "one_rep_maxes",
    "experience_level",
    "training_age_years",
    "equipment",
    "limitations",
    "goals",
)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _reverse(mapping: Mapping[Any, str]) -> dict[str, Any]:
    return {v: k for k, v in mapping.items()}


def _enum(value: int, mapping: Mapping[Any, str], field: str) -> str:
    try:
        return mapping[value]
    except KeyError:
        raise InvalidArgument(field, "unknown or unspecified value") from None


def _enums(values: Iterable[int], mapping: Mapping[Any, str], field: str) -> tuple[str, ...]:
    names = tuple(_enum(v, mapping, f"{field}[{i}]") for i, v in enumerate(values))
    if len(set(names)) != len(names):
        raise InvalidArgument(field, "lists a value twice")
    return names


def iso_date(field: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, "must be an ISO date (YYYY-MM-DD)") from None


def program_id(value: str, field: str = "program_id") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a program id (UUID)") from None


def etag(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidArgument("etag", "is not an etag this service issued")
    return int(value)


def page_size(value: int) -> int:
    return pagination.page_size(value, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


# -- users and profiles -----------------------------------------------------------------


def user_to_pb(account: Account) -> pb.User:
    message = pb.User(user_id=account.user_id, email=account.email)
    message.create_time.FromDatetime(account.created_at)
    return message


def profile_changes(message: pb.LifterProfile, paths: Iterable[str]) -> dict[str, Any]:
    """The fields `paths` name, read from the request's profile and validated."""
    paths = list(paths) or list(PROFILE_FIELDS)
    unknown = [p for p in paths if p not in PROFILE_FIELDS]
    if unknown:
        raise InvalidArgument(
            [FieldViolation("update_mask", f"{p!r} is not a field a lifter may set") for p in unknown]
        )
    readers = {
        "unit": lambda: _enum(message.unit, UNITS, "profile.unit"),
        "bodyweight_kg": lambda: message.bodyweight_kg,
        "height_cm": lambda: message.height_cm,
        "age_years": lambda: message.age_years,
        "sex": lambda: SEXES.get(message.sex, "") if message.sex != pb.SEX_UNSPECIFIED else "",
        "one_rep_maxes": lambda: tuple(
            OneRepMax(_enum(m.lift, LIFTS, f"profile.one_rep_maxes[{i}].lift"), m.weight_kg, m.tested)
            for i, m in enumerate(message.one_rep_maxes)
        ),
        "experience_level": lambda: _enum(message.experience_level, EXPERIENCE, "profile.experience_level"),
        "training_age_years": lambda: message.training_age_years,
        "equipment": lambda: _enums(message.equipment, EQUIPMENT, "profile.equipment"),
        "limitations": lambda: _enums(message.limitations, BODY_AREAS, "profile.limitations"),
        "goals": lambda: _enums(message.goals, GOALS, "profile.goals"),
    }
    if message.sex not in SEXES and message.sex != pb.SEX_UNSPECIFIED:
        raise InvalidArgument("profile.sex", "unknown value")
    return {path: readers[path]() for path in paths}


def profile_to_pb(stored: StoredProfile) -> pb.LifterProfile:
    p = stored.profile
    message = pb.LifterProfile(
        unit=_reverse(UNITS)[p.unit],
        bodyweight_kg=p.bodyweight_kg,
        height_cm=p.height_cm,
        age_years=p.age_years,
        sex=_reverse(SEXES).get(p.sex, pb.SEX_UNSPECIFIED),
        one_rep_maxes=[
            pb.OneRepMax(lift=_reverse(LIFTS)[m.lift], weight_kg=m.weight_kg, tested=m.tested) for m in p.one_rep_maxes
        ],
        experience_level=_reverse(EXPERIENCE)[p.experience_level],
        training_age_years=p.training_age_years,
        equipment=[_reverse(EQUIPMENT)[e] for e in p.equipment],
        limitations=[_reverse(BODY_AREAS)[a] for a in p.limitations],
        goals=[_reverse(GOALS)[g] for g in p.goals],
        etag=str(stored.version),
    )
    message.update_time.FromDatetime(stored.updated_at)
    return message


def one_rep_maxes_to_pb(profile: Profile) -> list[pb.OneRepMax]:
    return [
        pb.OneRepMax(lift=_reverse(LIFTS)[m.lift], weight_kg=m.weight_kg, tested=m.tested)
        for m in profile.one_rep_maxes
    ]


# -- methodologies ----------------------------------------------------------------------


def methodology_to_pb(m: Methodology) -> pb.Methodology:
    return pb.Methodology(
        methodology_id=m.methodology_id,
        name=m.name,
        description=m.description,
        suits=m.suits,
        experience_levels=[_reverse(EXPERIENCE)[e] for e in m.experience_levels],
        goals=[_reverse(GOALS)[g] for g in m.goals],
        cycle_weeks=m.cycle_weeks,
        deload_rule=m.deload_rule,
        rules_json=json.dumps(m.rules, sort_keys=True),
    )


# -- programs ---------------------------------------------------------------------------


def generation_request(message: pb.GenerateProgramRequest) -> GenerationRequest:
    return GenerationRequest(
        goal=_enum(message.goal, GOALS, "goal"),
        weeks=message.weeks,
        days_per_week=message.days_per_week,
        methodology_id=message.methodology_id or None,
        focus_areas=tuple(message.focus_areas),
        limitations=_enums(message.limitations, BODY_AREAS, "limitations"),
        start_date=iso_date("start_date", message.start_date),
        name=message.name,
    )


def planned_sessions(plan: Plan) -> list[t.PlannedSession]:
    """The plan's sessions as messages, in week/day order: built once, then stored, sent and returned."""
    return sessions_to_pb(plan.sessions())


def session_rows(sessions: Iterable[t.PlannedSession]) -> list[tuple[int, int, bytes]]:
    """Each planned session as stored: (week, day, PlannedSession bytes)."""
    return [(s.week_number, s.day_number, s.SerializeToString()) for s in sessions]


def stored_sessions(sessions: Iterable[bytes]) -> list[t.PlannedSession]:
    return [t.PlannedSession.FromString(data) for data in sessions]


def week_phases(plan: Plan) -> list[dict[str, Any]]:
    return [{"week_number": w.week_number, "phase": w.phase, "deload": w.deload} for w in plan.weeks]


def initialize_logs_event(
    event_id: str, user_id: str, program_id: str, sessions: Iterable[t.PlannedSession]
) -> progress_pb2.InitializeProgramLogsRequest:
    return progress_pb2.InitializeProgramLogsRequest(
        event_id=event_id, user_id=user_id, program_id=program_id, sessions=sessions
    )


def erase_events(user_id: str, progress_event_id: str, feedback_event_id: str) -> list[tuple[str, Message]]:
    """The account-erase event of each other service, as (outbox destination, payload)."""
    return [
        (ERASE_PROGRESS, progress_pb2.EraseUserDataRequest(event_id=progress_event_id, user_id=user_id)),
        (ERASE_FEEDBACK, feedback_pb2.EraseUserDataRequest(event_id=feedback_event_id, user_id=user_id)),
    ]


EXPORT_FORMATS: dict[Any, str] = {pb.EXPORT_FORMAT_JSON: formats.JSON, pb.EXPORT_FORMAT_STRONG_CSV: formats.STRONG_CSV}


def export_format(value: int) -> str:
    return _enum(value, EXPORT_FORMATS, "format")


def confirmation(value: str) -> None:
    if value != DELETE_CONFIRMATION:
        raise InvalidArgument("confirmation", f"must be exactly `{DELETE_CONFIRMATION}`")


def metadata_to_json(metadata: GenerationMetadata) -> dict[str, Any]:
    return {
        "engine": metadata.engine,
        "model": metadata.model,
        "fallback_reason": metadata.fallback_reason,
        "generated_at": metadata.generated_at.isoformat(),
        "request": metadata.request,
        "profile_snapshot": metadata.profile_snapshot,
        "duration_ms": metadata.duration_ms,
    }


def _metadata_to_pb(data: Mapping[str, Any], message: pb.GenerationMetadata) -> None:
    message.engine = data["engine"]
    message.model = data["model"]
    message.fallback_reason = data["fallback_reason"]
    message.generate_time.FromDatetime(datetime.fromisoformat(data["generated_at"]).astimezone(UTC))
    message.request_json = json.dumps(data["request"], sort_keys=True)
    message.profile_snapshot_json = json.dumps(data["profile_snapshot"], sort_keys=True)
    message.duration_ms = data["duration_ms"]


def program_to_pb(program: Program, sessions: Iterable[t.PlannedSession] | None) -> pb.Program:
    """`sessions` (in week/day order) fills the full view."""
    message = pb.Program(
        program_id=program.program_id,
        name=program.name,
        methodology_id=program.methodology_id,
        goal=_reverse(GOALS)[program.goal],
        weeks=program.weeks,
        days_per_week=program.days_per_week,
        start_date=program.start_date.isoformat() if program.start_date else "",
        display_unit=_reverse(UNITS)[program.unit],
        state=STATES[program.state],
        etag=str(program.version),
        focus_areas=list(program.focus_areas),
        access=ACCESS[program.access],
    )
    message.create_time.FromDatetime(program.created_at)
    message.update_time.FromDatetime(program.updated_at)
    _metadata_to_pb(program.metadata, message.generation_metadata)
    if sessions is not None:
        weeks = {
            p["week_number"]: message.program_weeks.add(
                week_number=p["week_number"], phase=p["phase"], deload=p["deload"]
            )
            for p in program.week_phases
        }
        for session in sessions:
            weeks[session.week_number].sessions.append(session)
    return message


# -- coach sharing ----------------------------------------------------------------------


def grant_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("grant_id", "must be a grant id (UUID)") from None


def invite_code(value: str) -> str:
    if not value:
        raise InvalidArgument("invite_code", "is required")
    if len(value) > MAX_INVITE_CODE_CHARS:
        raise InvalidArgument("invite_code", f"must be at most {MAX_INVITE_CODE_CHARS} characters")
    return value


def expire_time(request: pb.GrantProgramAccessRequest) -> datetime | None:
    if not request.HasField("expire_time"):
        return None
    try:
        return request.expire_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument("expire_time", "is not a valid timestamp") from None


def keyset_after(token: str, field: str = "page_token") -> tuple[datetime, str] | None:
    """The (created_at, id) a keyset page token carries (see encode_page_token)."""
    parts = decode_page_token(token, 2)
    if parts is None:
        return None
    try:
        return datetime.fromisoformat(parts[0]), str(uuid.UUID(parts[1]))
    except ValueError:
        raise InvalidArgument(field, "is not a page token this service issued") from None


def grant_to_pb(grant: Grant) -> pb.Grant:
    """Never carries the invite code: only GrantProgramAccess's response does."""
    message = pb.Grant(
        grant_id=grant.grant_id,
        program_id=grant.program_id,
        owner_user_id=grant.owner_user_id,
        grantee_user_id=grant.grantee_user_id or "",
        grantee_email=grant.grantee_email,
        state=GRANT_STATES[grant.state],
    )
    if grant.expire_time is not None:
        message.expire_time.FromDatetime(grant.expire_time)
    message.create_time.FromDatetime(grant.created_at)
    message.update_time.FromDatetime(grant.updated_at)
    return message


def planned_session_response(found: SessionWithContext) -> pb.GetPlannedSessionResponse:
    response = pb.GetPlannedSessionResponse(
        program_weeks=found.weeks,
        days_per_week=found.days_per_week,
        methodology_id=found.methodology_id,
        display_unit=UNIT_ENUMS[found.unit],
    )
    # The stored bytes are a serialized PlannedSession: merged as they are, never parsed here.
    response.session.MergeFromString(found.session)
    following = response.following_sessions
    for data in found.following:
        following.add().MergeFromString(data)
    return response
