"""Persistence of the program service: the only module that speaks SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    Integer,
    LargeBinary,
    Row,
    SmallInteger,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ironpath_common.db import RawStatement
from ironpath_common.erasure import delete_rows_mentioning, delete_user_rows
from program_svc.domain import Account, Grant, Methodology, OneRepMax, Profile, Program, StoredProfile
from program_svc.models import (
    grants,
    lifter_profiles,
    methodologies,
    processed_requests,
    program_sessions,
    programs,
    users,
)

_p = programs.c
_g = grants.c


def profile_to_json(profile: Profile) -> dict[str, Any]:
    return {
        "unit": profile.unit,
        "bodyweight_kg": profile.bodyweight_kg,
        "height_cm": profile.height_cm,
        "age_years": profile.age_years,
        "sex": profile.sex,
        "one_rep_maxes": [
            {"lift": m.lift, "weight_kg": m.weight_kg, "tested": m.tested} for m in profile.one_rep_maxes
        ],
        "experience_level": profile.experience_level,
        "training_age_years": profile.training_age_years,
        "equipment": list(profile.equipment),
        "limitations": list(profile.limitations),
        "goals": list(profile.goals),
    }


def profile_from_json(data: Mapping[str, Any]) -> Profile:
    return Profile(
        unit=data["unit"],
        bodyweight_kg=data["bodyweight_kg"],
        height_cm=data["height_cm"],
        age_years=data["age_years"],
        sex=data["sex"],
        one_rep_maxes=tuple(OneRepMax(m["lift"], m["weight_kg"], m["tested"]) for m in data["one_rep_maxes"]),
        experience_level=data["experience_level"],
        training_age_years=data["training_age_years"],
        equipment=tuple(data["equipment"]),
        limitations=tuple(data["limitations"]),
        goals=tuple(data["goals"]),
    )


def _program(row: Row[Any]) -> Program:
    return Program(
        program_id=str(row.program_id),
        user_id=row.user_id,
        name=row.name,
        methodology_id=row.methodology_id,
        goal=row.goal,
        weeks=row.weeks,
        days_per_week=row.days_per_week,
        start_date=row.start_date,
        unit=row.unit,
        state=row.state,
        focus_areas=tuple(row.focus_areas),
        metadata=row.generation_metadata,
        week_phases=row.week_phases,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _methodology(row: Row[Any]) -> Methodology:
    return Methodology(
        methodology_id=row.methodology_id,
        name=row.name,
        description=row.description,
        suits=row.suits,
        experience_levels=tuple(row.experience_levels),
        goals=tuple(row.goals),
        cycle_weeks=row.cycle_weeks,
        deload_rule=row.deload_rule,
        rules=row.rules,
    )


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_or_create(self, user_id: str, email: str) -> Account:
        """One statement: inserts the user on first sight, keeps the email current."""
        row = await _GET_OR_CREATE_USER.fetchrow(self._session, user_id=user_id, email=email)
        assert row is not None
        return Account(user_id=row[0], email=row[1], created_at=row[2])


# Built once (every GenerateProgram runs it, through get_me).
_NEW_USER = insert(users).values(user_id=bindparam("user_id"), email=bindparam("email"))
_GET_OR_CREATE_USER = RawStatement(
    _NEW_USER.on_conflict_do_update(
        index_elements=[users.c.user_id], set_={"email": _NEW_USER.excluded.email}
    ).returning(users.c.user_id, users.c.email, users.c.created_at)
)


class AccountDataRepository:
    """Everything the program service holds for one user, for export and erasure."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def user(self, user_id: str) -> Account | None:
        row = (await self._session.execute(select(users).where(users.c.user_id == user_id))).first()
        return Account(user_id=row.user_id, email=row.email, created_at=row.created_at) if row is not None else None

    async def programs(self, user_id: str) -> list[Program]:
        """Every program the user owns, archived ones too, oldest first."""
        statement = select(programs).where(_p.user_id == user_id).order_by(_p.created_at, _p.program_id)
        return [_program(row) for row in await self._session.execute(statement)]

    async def erase(self, user_id: str) -> dict[str, int]:
        """Deletes every row naming the user (users, profile, programs and their sessions, grants
        given or held, stored request ids, outbox events). Returns rows deleted per table."""
        owned = select(_p.program_id).where(_p.user_id == user_id).scalar_subquery()
        sessions = await self._session.execute(
            program_sessions.delete().where(program_sessions.c.program_id.in_(owned))
        )
        deleted = await delete_user_rows(self._session, programs.metadata, user_id)
        if sessions.rowcount:  # type: ignore[attr-defined]
            deleted["program_sessions"] = int(sessions.rowcount)  # type: ignore[attr-defined]
        # Another user's stored response can name this one (a grant between the two): their
        # replay record goes too, and a retry of that request runs again against what is left.
        mentioned = await delete_rows_mentioning(self._session, processed_requests.c.response, user_id)
        if mentioned:
            deleted["processed_requests"] = deleted.get("processed_requests", 0) + mentioned
        return deleted


class ProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: str, *, lock: bool = False) -> StoredProfile | None:
        row = await (_PROFILE_FOR_UPDATE if lock else _PROFILE).fetchrow(self._session, user_id=user_id)
        if row is None:
            return None
        profile, version, updated_at = row
        return StoredProfile(profile_from_json(profile), version, updated_at)

    async def save(self, user_id: str, stored: StoredProfile | None, profile: Profile) -> StoredProfile:
        """Creates the profile, or replaces it and bumps its version."""
        data = profile_to_json(profile)
        statement: Any
        if stored is None:
            statement = (
                insert(lifter_profiles)
                .values(user_id=user_id, profile=data)
                .returning(lifter_profiles.c.version, lifter_profiles.c.updated_at)
            )
        else:
            statement = (
                update(lifter_profiles)
                .where(lifter_profiles.c.user_id == user_id)
                .values(profile=data, version=lifter_profiles.c.version + 1, updated_at=func.now())
                .returning(lifter_profiles.c.version, lifter_profiles.c.updated_at)
            )
        row = (await self._session.execute(statement)).one()
        return StoredProfile(profile, row.version, row.updated_at)


_lp = lifter_profiles.c
_PROFILE_SELECT = select(_lp.profile, _lp.version, _lp.updated_at).where(_lp.user_id == bindparam("user_id"))
_PROFILE = RawStatement(_PROFILE_SELECT)
_PROFILE_FOR_UPDATE = RawStatement(_PROFILE_SELECT.with_for_update())


class MethodologyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, methodology_id: str) -> Methodology | None:
        row = (
            await self._session.execute(select(methodologies).where(methodologies.c.methodology_id == methodology_id))
        ).first()
        return _methodology(row) if row is not None else None

    async def list(self, after: str | None, limit: int) -> list[Methodology]:
        statement = select(methodologies).order_by(methodologies.c.methodology_id).limit(limit)
        if after is not None:
            statement = statement.where(methodologies.c.methodology_id > after)
        return [_methodology(row) for row in await self._session.execute(statement)]

    async def all_and_profile(self, user_id: str) -> tuple[tuple[Methodology, ...], StoredProfile | None]:
        """Every methodology (a handful of seeded rows) and the lifter's profile if they have one:
        what GenerateProgram reads before it generates, in one round trip."""
        row = await _LIBRARY_AND_PROFILE.fetchrow(self._session, user_id=user_id)
        assert row is not None  # one row, with or without a profile
        library, profile, version, updated_at = row  # json and jsonb come back decoded
        found = tuple(
            Methodology(
                methodology_id=m["methodology_id"],
                name=m["name"],
                description=m["description"],
                suits=m["suits"],
                experience_levels=tuple(m["experience_levels"]),
                goals=tuple(m["goals"]),
                cycle_weeks=m["cycle_weeks"],
                deload_rule=m["deload_rule"],
                rules=m["rules"],
            )
            for m in library or ()  # json_agg of no rows is NULL
        )
        return found, (StoredProfile(profile_from_json(profile), version, updated_at) if profile is not None else None)


# The library as one JSON array of its rows, joined to the lifter's profile row (if any).
_LIBRARY = select(
    func.json_agg(aggregate_order_by(methodologies.table_valued(), methodologies.c.methodology_id)).label("library")
).subquery("library")
_LIBRARY_AND_PROFILE = RawStatement(
    select(_LIBRARY.c.library, _lp.profile, _lp.version, _lp.updated_at).select_from(
        _LIBRARY.outerjoin(lifter_profiles, _lp.user_id == bindparam("user_id"))
    )
)

# Built once (GenerateProgram runs them on every call), run on the asyncpg driver. A program's
# columns come from the parameters; only what the database fills in comes back.
_NEW_PROGRAM_COLUMNS = (
    "program_id",
    "user_id",
    "name",
    "methodology_id",
    "goal",
    "weeks",
    "days_per_week",
    "start_date",
    "unit",
    "focus_areas",
    "week_phases",
    "generation_metadata",
)
_NEW_PROGRAM = (
    insert(programs)
    .values({name: bindparam(name, type_=_p[name].type) for name in _NEW_PROGRAM_COLUMNS})
    .returning(_p.state, _p.version, _p.created_at, _p.updated_at)
    .cte("new_program")
)
# Its sessions, each field as one array: any number of sessions.
_NEW_SESSIONS = (
    func.unnest(
        bindparam("week_numbers", type_=ARRAY(SmallInteger)),
        bindparam("day_numbers", type_=ARRAY(SmallInteger)),
        bindparam("session_pbs", type_=ARRAY(LargeBinary)),
    )
    .table_valued("week_number", "day_number", "session_pb")
    .render_derived()
)
_NEW_PROGRAM_SESSIONS = insert(program_sessions).from_select(
    ["program_id", "week_number", "day_number", "session_pb"],
    select(bindparam("program_id", type_=program_sessions.c.program_id.type), *_NEW_SESSIONS.c),
)
# Both in one statement (one round trip): the program's row, then its sessions'.
_ADD_PROGRAM = RawStatement(select(_NEW_PROGRAM).add_cte(_NEW_PROGRAM_SESSIONS.cte("new_sessions")))


# GetPlannedSession's read (built once): the program if the caller owns it, joined to the
# session at (week, day) and those after it; a LEFT JOIN so an owned program with no such
# session still comes back (INVALID_ARGUMENT rather than NOT_FOUND).
_s = program_sessions.c
_SESSION_ID = bindparam("program_id", type_=programs.c.program_id.type)
_FROM_SESSION = (
    select(_s.week_number, _s.day_number, _s.session_pb)
    .where(
        _s.program_id == _SESSION_ID,
        tuple_(_s.week_number, _s.day_number)
        >= tuple_(bindparam("week", type_=SmallInteger), bindparam("day", type_=SmallInteger)),
    )
    .order_by(_s.week_number, _s.day_number)
    .limit(bindparam("limit", type_=Integer))
    .subquery("s")
)
_PLANNED_SESSION = RawStatement(
    select(
        _p.weeks,
        _p.days_per_week,
        _p.methodology_id,
        _p.unit,
        _FROM_SESSION.c.week_number,
        _FROM_SESSION.c.day_number,
        _FROM_SESSION.c.session_pb,
    )
    .select_from(programs.outerjoin(_FROM_SESSION, true()))
    .where(_p.program_id == _SESSION_ID, _p.user_id == bindparam("user_id"))
    .order_by(_FROM_SESSION.c.week_number, _FROM_SESSION.c.day_number)
)


class ProgramRepository:
    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self._session = session

    async def add(
        self,
        *,
        program_id: str,
        user_id: str,
        name: str,
        methodology_id: str,
        goal: str,
        weeks: int,
        days_per_week: int,
        start_date: date | None,
        unit: str,
        focus_areas: Sequence[str],
        week_phases: list[dict[str, Any]],
        metadata: dict[str, Any],
        sessions: Sequence[tuple[int, int, bytes]],
    ) -> Program:
        key = uuid.UUID(program_id)
        row = await _ADD_PROGRAM.fetchrow(
            self._session,
            program_id=key,
            user_id=user_id,
            name=name,
            methodology_id=methodology_id,
            goal=goal,
            weeks=weeks,
            days_per_week=days_per_week,
            start_date=start_date,
            unit=unit,
            focus_areas=list(focus_areas),
            # The engine's jsonb codec (SQLAlchemy's, on every connection) takes JSON text and
            # reads back decoded values.
            week_phases=json.dumps(week_phases),
            generation_metadata=json.dumps(metadata),
            week_numbers=[w for w, _, _ in sessions],
            day_numbers=[d for _, d, _ in sessions],
            session_pbs=[data for _, _, data in sessions],
        )
        assert row is not None
        state, version, created_at, updated_at = row
        return Program(
            program_id=program_id,
            user_id=user_id,
            name=name,
            methodology_id=methodology_id,
            goal=goal,
            weeks=weeks,
            days_per_week=days_per_week,
            start_date=start_date,
            unit=unit,
            state=state,
            focus_areas=tuple(focus_areas),
            metadata=metadata,
            week_phases=week_phases,
            version=version,
            created_at=created_at,
            updated_at=updated_at,
        )

    async def get(self, user_id: str, program_id: str, *, lock: bool = False) -> Program | None:
        """The program if `user_id` owns it; None for a missing program and for someone else's."""
        statement = select(programs).where(_p.program_id == uuid.UUID(program_id), _p.user_id == user_id)
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return _program(row) if row is not None else None

    async def find(self, program_id: str) -> Program | None:
        """The program whoever owns it: only for service.readable_program, which decides who may see it."""
        row = (await self._session.execute(select(programs).where(_p.program_id == uuid.UUID(program_id)))).first()
        return _program(row) if row is not None else None

    async def sessions(self, program_id: str) -> list[bytes]:
        c = program_sessions.c
        statement = (
            select(c.session_pb).where(c.program_id == uuid.UUID(program_id)).order_by(c.week_number, c.day_number)
        )
        return list((await self._session.execute(statement)).scalars())

    async def planned_session(
        self, user_id: str, program_id: str, week: int, day: int, following: int
    ) -> list[asyncpg.Record]:
        """One round trip: no rows when `user_id` does not own the program (or it is missing);
        else rows of (weeks, days_per_week, methodology_id, unit, week_number, day_number,
        session_pb): the session at or after (week, day) first, then up to `following` after it,
        or a single row with NULL session columns when there are none."""
        return await _PLANNED_SESSION.fetch(
            self._session,
            program_id=uuid.UUID(program_id),
            user_id=user_id,
            week=week,
            day=day,
            limit=following + 1,
        )

    async def list(
        self, user_id: str, *, include_archived: bool, after: tuple[datetime, str] | None, limit: int
    ) -> list[Program]:
        statement = select(programs).where(_p.user_id == user_id)
        if not include_archived:
            statement = statement.where(_p.state == "active")
        if after is not None:
            created, last_id = after[0], uuid.UUID(after[1])
            statement = statement.where(
                or_(_p.created_at < created, and_(_p.created_at == created, _p.program_id < last_id))
            )
        statement = statement.order_by(_p.created_at.desc(), _p.program_id.desc()).limit(limit)
        return [_program(row) for row in await self._session.execute(statement)]

    async def archive(self, user_id: str, program_id: str) -> Program:
        row = (
            await self._session.execute(
                update(programs)
                .where(_p.program_id == uuid.UUID(program_id), _p.user_id == user_id)
                .values(state="archived", version=_p.version + 1, updated_at=func.now())
                .returning(programs)
            )
        ).one()
        return _program(row)


def _grant(row: Row[Any]) -> Grant:
    return Grant(
        grant_id=str(row.grant_id),
        program_id=str(row.program_id),
        owner_user_id=row.owner_user_id,
        grantee_email=row.grantee_email,
        grantee_user_id=row.grantee_user_id,
        state=row.state,
        expire_time=row.expire_time,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class GrantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        grant_id: str,
        program_id: str,
        owner_user_id: str,
        grantee_email: str,
        invite_code_sha256: bytes,
        expire_time: datetime | None,
    ) -> Grant:
        row = (
            await self._session.execute(
                insert(grants)
                .values(
                    grant_id=uuid.UUID(grant_id),
                    program_id=uuid.UUID(program_id),
                    owner_user_id=owner_user_id,
                    grantee_email=grantee_email,
                    invite_code_sha256=invite_code_sha256,
                    expire_time=expire_time,
                )
                .returning(grants)
            )
        ).one()
        return _grant(row)

    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        statement = select(grants).where(_g.grant_id == uuid.UUID(grant_id))
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return _grant(row) if row is not None else None

    async def pending_by_code(self, invite_code_sha256: bytes) -> Grant | None:
        """The pending grant with this code, locked: a second acceptance waits, then finds none."""
        statement = (
            select(grants).where(_g.invite_code_sha256 == invite_code_sha256, _g.state == "pending").with_for_update()
        )
        row = (await self._session.execute(statement)).first()
        return _grant(row) if row is not None else None

    async def accept(self, grant: Grant, grantee_user_id: str) -> Grant:
        """Activates the grant for the coach and forgets its code (it is single-use). An earlier
        active grant of the same coach on the same program is replaced: one grant to revoke."""
        await self._session.execute(
            update(grants)
            .where(
                _g.program_id == uuid.UUID(grant.program_id),
                _g.grantee_user_id == grantee_user_id,
                _g.state == "active",
            )
            .values(state="revoked", version=_g.version + 1, updated_at=func.now())
        )
        return await self._set(grant.grant_id, state="active", grantee_user_id=grantee_user_id, invite_code_sha256=None)

    async def revoke(self, grant_id: str) -> Grant:
        return await self._set(grant_id, state="revoked", invite_code_sha256=None)

    async def _set(self, grant_id: str, **values: Any) -> Grant:
        row = (
            await self._session.execute(
                update(grants)
                .where(_g.grant_id == uuid.UUID(grant_id))
                .values(**values, version=_g.version + 1, updated_at=func.now())
                .returning(grants)
            )
        ).one()
        return _grant(row)

    async def live_exists(self, program_id: str, grantee_user_id: str, now: datetime) -> bool:
        """Whether the user holds an active, unexpired grant on the program (revoked is never live)."""
        statement = select(_g.grant_id).where(
            _g.program_id == uuid.UUID(program_id),
            _g.grantee_user_id == grantee_user_id,
            _g.state == "active",
            or_(_g.expire_time.is_(None), _g.expire_time > now),
        )
        return (await self._session.execute(statement.limit(1))).first() is not None

    async def list_for_user(self, user_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Grant]:
        """Grants the user gave and grants the user holds, newest first."""
        statement = select(grants).where(or_(_g.owner_user_id == user_id, _g.grantee_user_id == user_id))
        if after is not None:
            created, last_id = after[0], uuid.UUID(after[1])
            statement = statement.where(
                or_(_g.created_at < created, and_(_g.created_at == created, _g.grant_id < last_id))
            )
        statement = statement.order_by(_g.created_at.desc(), _g.grant_id.desc()).limit(limit)
        return [_grant(row) for row in await self._session.execute(statement)]
