"""Use cases of the program service. No grpc, no commit: the RPC boundary owns the transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ironpath_common.auth import User
from ironpath_common.errors import Aborted, InvalidArgument, NotFound
from ironpath_common.outbox import Event, enqueue
from program_svc.domain import (
    Account,
    GenerationRequest,
    Grant,
    Methodology,
    Profile,
    Program,
    StoredProfile,
    check_expire_time,
    check_grantee_email,
    check_profile,
    check_request,
    invite_code,
    invite_code_hash,
)
from program_svc.generator import choose_methodology
from program_svc.models import outbox
from program_svc.repository import (
    GrantRepository,
    MethodologyRepository,
    ProfileRepository,
    ProgramRepository,
    UserRepository,
)

PROGRAM_NOT_FOUND = "program not found"
GRANT_NOT_FOUND = "grant not found"
INITIALIZE_LOGS = "progress.InitializeProgramLogs"


async def get_me(session: AsyncSession, user: User) -> Account:
    """The caller's account, created on their first authenticated call."""
    return await UserRepository(session).get_or_create(user.user_id, user.email)


async def get_profile(session: AsyncSession, user_id: str) -> StoredProfile:
    stored = await ProfileRepository(session).get(user_id)
    if stored is None:
        raise NotFound("no profile yet")
    return stored


async def upsert_profile(
    session: AsyncSession, user: User, changes: dict[str, Any], expected_version: int | None
) -> StoredProfile:
    """Creates or updates the caller's profile with only the given fields. With a version, only
    if nobody changed the profile since it was read (two devices: the second is ABORTED)."""
    await get_me(session, user)
    profiles = ProfileRepository(session)
    stored = await profiles.get(user.user_id, lock=True)
    if expected_version is not None and (stored is None or stored.version != expected_version):
        raise Aborted("the profile changed since it was read; read it again")
    base = stored.profile if stored is not None else Profile()
    profile = dataclasses.replace(base, **changes)
    check_profile(profile)
    return await profiles.save(user.user_id, stored, profile)


async def list_methodologies(session: AsyncSession, after: str | None, limit: int) -> list[Methodology]:
    return await MethodologyRepository(session).list(after, limit)


async def get_methodology(session: AsyncSession, methodology_id: str) -> Methodology:
    methodology = await MethodologyRepository(session).get(methodology_id)
    if methodology is None:
        raise NotFound("methodology not found")
    return methodology


@dataclass(frozen=True)
class GenerationInput:
    profile: Profile
    methodology: Methodology


async def prepare_generation(session: AsyncSession, user_id: str, request: GenerationRequest) -> GenerationInput:
    """Checks the request and picks the methodology: the lifter's choice, else one that suits
    their experience and goal. A lifter without a profile gets the defaults (loads by RPE)."""
    library, stored = await MethodologyRepository(session).all_and_profile(user_id)
    known = {m.methodology_id: m for m in library}
    check_request(request, set(known))
    profile = stored.profile if stored is not None else Profile()
    methodology = known.get(choose_methodology(profile, request).methodology_id)
    if methodology is None:  # the library and the seeded rows disagree
        raise InvalidArgument("methodology_id", "is not a known methodology")
    return GenerationInput(profile, methodology)


async def create_program(
    session: AsyncSession,
    *,
    user: User,
    program_id: str,
    request: GenerationRequest,
    generation: GenerationInput,
    week_phases: list[dict[str, Any]],
    sessions: Sequence[tuple[int, int, bytes]],
    metadata: dict[str, Any],
    initialize_logs: Message,
) -> tuple[Program, Event]:
    """Stores the program and, in the same transaction, the outbox event that gives every
    session a progress log."""
    await get_me(session, user)
    methodology = generation.methodology
    program = await ProgramRepository(session).add(
        program_id=program_id,
        user_id=user.user_id,
        name=request.name or f"{methodology.name}: {request.goal} ({request.weeks} weeks)",
        methodology_id=methodology.methodology_id,
        goal=request.goal,
        weeks=request.weeks,
        days_per_week=request.days_per_week,
        start_date=request.start_date,
        unit=generation.profile.unit,
        focus_areas=request.focus_areas,
        week_phases=week_phases,
        metadata=metadata,
        sessions=sessions,
    )
    event = await enqueue(session, outbox, INITIALIZE_LOGS, initialize_logs, user.user_id)
    return program, event


async def readable_program(session: AsyncSession, user_id: str, program_id: str) -> Program:
    """The one rule of who may read a program: its owner (access "owner"), or a coach holding a
    live grant on it (accepted, not revoked, not expired: access "coach"). Anyone else gets
    NOT_FOUND, exactly as for a missing program. Grants are read only when the caller is not the
    owner, so the owner's reads cost what they did before sharing existed."""
    program = await ProgramRepository(session).find(program_id)
    if program is None:
        raise NotFound(PROGRAM_NOT_FOUND)
    if program.user_id == user_id:
        return program
    if await GrantRepository(session).live_exists(program_id, user_id, _now()):
        return dataclasses.replace(program, access="coach")
    raise NotFound(PROGRAM_NOT_FOUND)


async def get_program(
    session: AsyncSession, user_id: str, program_id: str, *, full: bool
) -> tuple[Program, list[bytes] | None]:
    """A program its owner or a coach with a live grant may read (see readable_program)."""
    program = await readable_program(session, user_id, program_id)
    return program, (await ProgramRepository(session).sessions(program_id) if full else None)


async def list_programs(
    session: AsyncSession, user_id: str, *, include_archived: bool, after: tuple[datetime, str] | None, limit: int
) -> list[Program]:
    return await ProgramRepository(session).list(user_id, include_archived=include_archived, after=after, limit=limit)


async def archive_program(
    session: AsyncSession, user_id: str, program_id: str, expected_version: int | None
) -> Program:
    """Archives a program; its sessions and progress logs stay readable."""
    repo = ProgramRepository(session)
    program = await repo.get(user_id, program_id, lock=True)
    if program is None:
        raise NotFound(PROGRAM_NOT_FOUND)
    if expected_version is not None and program.version != expected_version:
        raise Aborted("the program changed since it was read; read it again")
    if program.state == "archived":
        return program
    return await repo.archive(user_id, program_id)


@dataclass(frozen=True)
class SessionWithContext:
    """A planned session (stored ironpath.common.v1.PlannedSession bytes), those after it, and
    the program facts GetPlannedSession answers with."""

    weeks: int
    days_per_week: int
    methodology_id: str
    unit: str
    session: bytes
    following: list[bytes]


async def planned_session(
    session: AsyncSession | AsyncConnection, user_id: str, program_id: str, week: int, day: int, following: int
) -> SessionWithContext:
    """One planned session of a program the user owns, and up to `following` sessions after it."""
    rows = await ProgramRepository(session).planned_session(user_id, program_id, week, day, following)
    if not rows:
        raise NotFound(PROGRAM_NOT_FOUND)
    weeks, days_per_week, methodology_id, unit = rows[0][:4]
    if rows[0][4:6] != (week, day):
        raise InvalidArgument(
            "session", f"week {week} day {day} is not a session of this {weeks}x{days_per_week} program"
        )
    return SessionWithContext(weeks, days_per_week, methodology_id, unit, rows[0][6], [row[6] for row in rows[1:]])


async def lifter_context(session: AsyncSession, user_id: str) -> Profile:
    stored = await ProfileRepository(session).get(user_id)
    return stored.profile if stored is not None else Profile()


def _now() -> datetime:
    return datetime.now(UTC)


async def grant_program_access(
    session: AsyncSession,
    user: User,
    program_id: str,
    grantee_email: str,
    expire_time: datetime | None,
    invite_key: bytes,
) -> Grant:
    """Invites a coach to read one of the caller's programs. The grant stays pending until the
    coach accepts its invite code (domain.invite_code of the returned grant's id); only the
    code's hash is stored. Someone else's program is NOT_FOUND, as a missing one."""
    email = check_grantee_email(grantee_email, user.email)
    check_expire_time(expire_time, _now())
    if await ProgramRepository(session).get(user.user_id, program_id) is None:
        raise NotFound(PROGRAM_NOT_FOUND)
    grant_id = str(uuid.uuid4())
    return await GrantRepository(session).add(
        grant_id=grant_id,
        program_id=program_id,
        owner_user_id=user.user_id,
        grantee_email=email,
        invite_code_sha256=invite_code_hash(invite_code(invite_key, grant_id)),
        expire_time=expire_time,
    )


async def accept_program_grant(session: AsyncSession, user_id: str, code: str) -> Grant:
    """The caller becomes the coach of the grant this code belongs to. The code works once: a used,
    revoked, expired or unknown code is NOT_FOUND; the owner's own code is INVALID_ARGUMENT."""
    now = _now()
    grants = GrantRepository(session)
    grant = await grants.pending_by_code(invite_code_hash(code))
    if grant is None or grant.at(now).state != "pending":
        raise NotFound(GRANT_NOT_FOUND)
    if grant.owner_user_id == user_id:
        raise InvalidArgument("invite_code", "is for your own program: give it to the coach")
    return (await grants.accept(grant, user_id)).at(now)


async def list_grants(
    session: AsyncSession, user_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[Grant]:
    """Grants the caller gave and grants the caller holds, newest first, as they read now."""
    now = _now()
    return [g.at(now) for g in await GrantRepository(session).list_for_user(user_id, after=after, limit=limit)]


async def revoke_grant(session: AsyncSession, user_id: str, grant_id: str) -> Grant:
    """Ends a grant: by the program's owner, or by the coach holding it (leaving). Anyone else
    gets NOT_FOUND. Revoking a revoked grant changes nothing; the next access check fails."""
    grants = GrantRepository(session)
    grant = await grants.get(grant_id, lock=True)
    if grant is None or user_id not in (grant.owner_user_id, grant.grantee_user_id):
        raise NotFound(GRANT_NOT_FOUND)
    if grant.state != "revoked":
        grant = await grants.revoke(grant_id)
    return grant.at(_now())
