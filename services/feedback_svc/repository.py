"""Persistence of the feedback service: the only module that speaks SQL."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Table, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from feedback_svc.models import (
    Base,
    applied_events,
    check_ins,
    outbox,
    processed_requests,
    readiness_checks,
    workout_feedback,
)
from ironpath_common.db import RawStatement
from ironpath_common.erasure import delete_user_rows

# What the data export reads, in the order it streams it (each keyed by one id column).
EXPORT_TABLES: dict[str, Table] = {t.name: t for t in (workout_feedback, check_ins, readiness_checks)}


def _insert_if(table: Table, columns: tuple[str, ...], condition: Any) -> Any:
    """INSERT INTO table (columns) SELECT :column, ... WHERE condition: one bind parameter per
    column, named as the column."""
    values = select(*(bindparam(name, type_=table.c[name].type) for name in columns)).where(condition)
    return insert(table).from_select(list(columns), values)


FEEDBACK_COLUMNS = tuple(c.name for c in workout_feedback.c)
REQUEST_COLUMNS = ("user_id", "request_id", "method", "request_hash", "response")
EVENT_COLUMNS = ("event_id", "destination", "payload", "user_id", "next_attempt_at", "traceparent")
# SubmitWorkoutFeedback's whole write as one statement built once: the request id is claimed
# with the response, and only if it was free are the feedback and its outbox event stored. A
# concurrent duplicate waits on the request's key, then stores nothing. One statement is atomic
# by itself, so it needs no BEGIN and COMMIT round trips. Returns the event id, or no row for a
# request id used before.
_CLAIMED = (
    insert(processed_requests)
    .values({name: bindparam(name) for name in REQUEST_COLUMNS})
    .on_conflict_do_nothing()
    .returning(processed_requests.c.request_id)
    .cte("claimed")
)
_STORED = (
    _insert_if(workout_feedback, FEEDBACK_COLUMNS, select(_CLAIMED.c.request_id).exists())
    .returning(workout_feedback.c.feedback_id)
    .cte("stored")
)
_ADD_FEEDBACK_ONCE = RawStatement(
    _insert_if(outbox, EVENT_COLUMNS, select(_STORED.c.feedback_id).exists()).returning(outbox.c.event_id)
)


@dataclass(frozen=True)
class CheckInRecord:
    check_in_id: str
    program_id: str
    period_start: date
    period_end: date
    sessions_planned: int
    sessions_completed: int
    sessions_skipped: int
    adherence: float
    average_rpe: float
    adherence_change: float
    average_rpe_change: float
    recommendation: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class ReadinessRecord:
    readiness_check_id: str
    date: date
    sleep_hours: float
    sleep_quality: int
    stress: int
    soreness: int
    energy: int
    motivation: int
    program_id: str | None
    week_number: int | None
    day_number: int | None
    score: int
    recommendation: str
    load_reduction_percent: float
    reason: str
    adjusted_pb: bytes | None
    created_at: datetime


def _check_in(row: Row[Any]) -> CheckInRecord:
    values = dict(row._mapping)
    values["check_in_id"] = str(values["check_in_id"])
    values["program_id"] = str(values["program_id"])
    values.pop("user_id")
    return CheckInRecord(**values)


def _readiness(row: Row[Any]) -> ReadinessRecord:
    values = dict(row._mapping)
    values["readiness_check_id"] = str(values["readiness_check_id"])
    values["program_id"] = str(values["program_id"]) if values["program_id"] else None
    values.pop("user_id")
    return ReadinessRecord(**values)


class FeedbackRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self._session = session

    async def add_feedback_once(self, values: dict[str, Any]) -> bool:
        """Stores a feedback row, its outbox event and the request's response (the columns of
        FEEDBACK_COLUMNS, EVENT_COLUMNS and REQUEST_COLUMNS; `user_id` is shared), unless the
        request id was used before: then False, and nothing changes."""
        # asyncpg takes JSONB as its text (SQLAlchemy's bind processing is skipped here).
        values = {**values, "adjustments": json.dumps(values["adjustments"])}
        return await _ADD_FEEDBACK_ONCE.fetchrow(self._session, **values) is not None

    async def add_check_in(self, user_id: str, **values: Any) -> CheckInRecord:
        row = (
            await self._session.execute(check_ins.insert().values(user_id=user_id, **values).returning(check_ins))
        ).one()
        return _check_in(row)

    async def check_ins(
        self, user_id: str, program_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[CheckInRecord]:
        c = check_ins.c
        statement = select(check_ins).where(c.user_id == user_id)
        if program_id is not None:
            statement = statement.where(c.program_id == uuid.UUID(program_id))
        if after is not None:
            created, last = after[0], uuid.UUID(after[1])
            statement = statement.where(
                or_(c.created_at < created, and_(c.created_at == created, c.check_in_id < last))
            )
        statement = statement.order_by(c.created_at.desc(), c.check_in_id.desc()).limit(limit)
        return [_check_in(row) for row in await self._session.execute(statement)]

    async def add_readiness(self, user_id: str, **values: Any) -> ReadinessRecord:
        row = (
            await self._session.execute(
                readiness_checks.insert().values(user_id=user_id, **values).returning(readiness_checks)
            )
        ).one()
        return _readiness(row)

    async def readiness_checks(
        self, user_id: str, start: date | None, end: date | None, after: tuple[date, str] | None, limit: int
    ) -> list[ReadinessRecord]:
        c = readiness_checks.c
        statement = select(readiness_checks).where(c.user_id == user_id)
        if start is not None:
            statement = statement.where(c.date >= start)
        if end is not None:
            statement = statement.where(c.date <= end)
        if after is not None:
            day, last = after[0], uuid.UUID(after[1])
            statement = statement.where(or_(c.date < day, and_(c.date == day, c.readiness_check_id < last)))
        statement = statement.order_by(c.date.desc(), c.readiness_check_id.desc()).limit(limit)
        return [_readiness(row) for row in await self._session.execute(statement)]

    async def export_page(
        self, table_name: str, user_id: str, after: uuid.UUID | None, limit: int
    ) -> tuple[list[dict[str, Any]], uuid.UUID | None]:
        """One page of a user's rows of one exported table, as stored, in key order, and the
        key to read the next page after (None on the last page)."""
        table = EXPORT_TABLES[table_name]
        [key] = table.primary_key.columns
        statement = select(table).where(table.c.user_id == user_id)
        if after is not None:
            statement = statement.where(key > after)
        statement = statement.order_by(key).limit(limit)
        rows = [dict(row._mapping) for row in await self._session.execute(statement)]
        return rows, (rows[-1][key.name] if len(rows) == limit else None)

    async def claim_event(self, event_id: str, kind: str) -> bool:
        """True the first time an internal event id is seen; False for a replay."""
        statement = (
            insert(applied_events)
            .values(event_id=uuid.UUID(event_id), kind=kind)
            .on_conflict_do_nothing()
            .returning(applied_events.c.event_id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def erase_user(self, user_id: str) -> dict[str, int]:
        """Deletes every row naming the user in every table of this service, the outbox included
        (a feedback event still queued must not complete a session after the erase)."""
        return await delete_user_rows(self._session, Base.metadata, user_id)
