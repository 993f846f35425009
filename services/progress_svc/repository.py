"""Persistence of the progress service: the only module that speaks SQL.

Every write to a log bumps its version and, in the same statement, sends a
`progress_changes` notification that PostgreSQL delivers to every listening replica
when the transaction commits (see `watch.py`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import (
    Date,
    Integer,
    LargeBinary,
    Row,
    SmallInteger,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ironpath.common.v1 import training_pb2
from ironpath.progress.v1 import figures_pb2, progress_pb2
from ironpath_common.db import RawStatement
from ironpath_common.erasure import delete_user_rows
from ironpath_training.plan import PlannedSession
from ironpath_training.proto import session_from_pb
from progress_svc.analytics import LoggedSession, SessionFigures, session_figures
from progress_svc.domain import PerformedSet, SessionKey, SessionStatus
from progress_svc.models import Base, applied_events, progress_logs

NOTIFY_CHANNEL = "progress_changes"
# How a performed set comes back inside stored figures (carried through analytics untouched).
StoredSet = training_pb2.PerformedSet

_t = progress_logs.c
_SUMMARY_COLUMNS = (
    _t.program_id,
    _t.week_number,
    _t.day_number,
    _t.title,
    _t.planned_date,
    _t.status,
    _t.scheduled_date,
    _t.completed_at,
    _t.skip_reason,
    _t.session_rpe,
    _t.version,
    _t.created_at,
    _t.updated_at,
)
_FULL_COLUMNS = (*_SUMMARY_COLUMNS, _t.planned_pb, _t.adjusted_pb, _t.performed_pb, _t.feedback_pb, _t.notes)
# The day a session is due (matches the expression index of migration 0002).
DUE_DATE = func.coalesce(_t.scheduled_date, _t.planned_date)
# The day a session falls on for analytics: completed (UTC day), else due.
SESSION_DATE = case((_t.completed_at.is_not(None), cast(func.timezone("UTC", _t.completed_at), Date)), else_=DUE_DATE)
# The Monday of that day's week (PostgreSQL weeks start on Monday).
SESSION_WEEK = cast(func.date_trunc("week", SESSION_DATE), Date)
_NOTIFY = func.pg_notify(
    NOTIFY_CHANNEL,
    func.concat_ws(":", _t.program_id, _t.week_number, _t.day_number),
).label("notified")


@functools.cache
def _list_logs_query(
    full: bool, by_program: bool, time_column: str | None, has_start: bool, has_end: bool, paged: bool
) -> RawStatement:
    """ListSessionLogs' statement for one combination of filters, built on first use."""
    statement = select(*(_FULL_COLUMNS if full else _SUMMARY_COLUMNS)).where(_t.user_id == bindparam("user_id"))
    if by_program:
        statement = statement.where(_t.program_id == bindparam("program_id"))
    if time_column is not None:
        column = DUE_DATE if time_column == "due_date" else _t[time_column]
        statement = statement.where(column.is_not(None))
        if has_start:
            statement = statement.where(column >= bindparam("start", type_=column.type))
        if has_end:
            statement = statement.where(column < bindparam("end", type_=column.type))
    if paged:
        statement = statement.where(
            tuple_(_t.program_id, _t.week_number, _t.day_number)
            > tuple_(
                bindparam("after_program", type_=Uuid),
                bindparam("after_week", type_=SmallInteger),
                bindparam("after_day", type_=SmallInteger),
            )
        )
    statement = statement.order_by(_t.program_id, _t.week_number, _t.day_number).limit(
        bindparam("limit", type_=Integer)
    )
    return RawStatement(statement)


class LogRecord(NamedTuple):
    """One progress log as stored; the *_pb fields are None in the summary view. A tuple: the
    reads make up to hundreds per call straight from the rows, in this column order."""

    program_id: uuid.UUID
    week_number: int
    day_number: int
    title: str
    planned_date: date | None
    status: str
    scheduled_date: date | None
    completed_at: datetime | None
    skip_reason: str | None
    session_rpe: float | None
    version: int
    created_at: datetime
    updated_at: datetime
    planned_pb: bytes | None = None
    adjusted_pb: bytes | None = None
    performed_pb: bytes | None = None
    feedback_pb: bytes | None = None
    notes: str | None = None


# A session that is not completed yet becomes completed (its notification sent on commit).
_FIRST_COMPLETION = (
    update(progress_logs)
    .where(
        _t.user_id == bindparam("k_user_id"),
        _t.program_id == bindparam("k_program_id"),
        _t.week_number == bindparam("k_week_number"),
        _t.day_number == bindparam("k_day_number"),
        _t.status != SessionStatus.COMPLETED.value,
    )
    .values(
        status=SessionStatus.COMPLETED.value,
        completed_at=bindparam("completed_at"),
        performed_pb=bindparam("performed_pb"),
        figures_pb=bindparam("figures_pb"),
        session_rpe=bindparam("session_rpe"),
        skip_reason=None,
        version=_t.version + 1,
        updated_at=func.now(),
    )
)
_COMPLETE_FIRST_TIME = _FIRST_COMPLETION.returning(*_FULL_COLUMNS, _NOTIFY)


@functools.cache
def _complete_first_time_with(extra_columns: frozenset[str]) -> RawStatement:
    """_COMPLETE_FIRST_TIME, also setting these columns (each a bind parameter named as the
    column), built once per set of columns."""
    extra = {name: bindparam(name, type_=_t[name].type) for name in extra_columns}
    return RawStatement(_COMPLETE_FIRST_TIME.values(extra) if extra else _COMPLETE_FIRST_TIME)


_CLAIM_EVENT = (
    insert(applied_events)
    .values(event_id=bindparam("event_id"), kind=bindparam("kind"))
    .on_conflict_do_nothing()
    .returning(applied_events.c.event_id)
)
_ADJUSTMENTS = (
    func.unnest(
        bindparam("week_numbers", type_=ARRAY(SmallInteger)),
        bindparam("day_numbers", type_=ARRAY(SmallInteger)),
        bindparam("adjusted_pbs", type_=ARRAY(LargeBinary)),
    )
    .table_valued("week_number", "day_number", "adjusted_pb")
    .render_derived(name="adjustments")
)


def _adjusted_once(claimed: Any) -> Any:
    """The adjusted prescriptions (one array per field, as _NEW_LOGS) stored on the program's
    logs if the `claimed` CTE claimed the event; each log changed sends its notification on
    commit."""
    return (
        update(progress_logs)
        .where(
            select(claimed.c.event_id).exists(),
            _t.user_id == bindparam("k_user_id"),
            _t.program_id == bindparam("k_program_id"),
            _t.week_number == _ADJUSTMENTS.c.week_number,
            _t.day_number == _ADJUSTMENTS.c.day_number,
        )
        .values(adjusted_pb=_ADJUSTMENTS.c.adjusted_pb, version=_t.version + 1, updated_at=func.now())
        .returning(_NOTIFY)
        .cte("adjusted")
    )


def _counted(*ctes: Any) -> Any:
    return select(*(select(func.count()).select_from(cte).scalar_subquery() for cte in ctes))


# A feedback event's claim and its adjusted prescriptions in one statement built once; the
# prescriptions land only if the event id was new. Returns (events claimed, logs adjusted).
_CLAIMED = _CLAIM_EVENT.cte("claimed")
_CLAIM_AND_ADJUST = RawStatement(_counted(_CLAIMED, _adjusted_once(_CLAIMED)))

# The common case of a feedback event as one statement, atomic by itself: a session not yet
# completed is completed with the feedback, the event is claimed, and the adjusted prescriptions
# are stored; or, when the session is completed already or the event was applied before, nothing
# changes. Completion comes first and the claim only with it, so a claim always comes with its
# completion. The claim is a plain INSERT: a concurrent claim of the same event fails the whole
# statement, and the caller takes the transactional way. Returns (events claimed, logs adjusted).
_FEEDBACK_COMPLETION = (
    _FIRST_COMPLETION.where(
        ~select(applied_events.c.event_id).where(applied_events.c.event_id == bindparam("event_id")).exists()
    )
    .values(feedback_pb=bindparam("feedback_pb", type_=LargeBinary))
    .returning(_NOTIFY)
    .cte("completed")
)
_CLAIMED_WITH_COMPLETION = (
    insert(applied_events)
    .from_select(
        ["event_id", "kind"],
        select(bindparam("event_id", type_=Uuid), bindparam("kind", type_=Text)).select_from(_FEEDBACK_COMPLETION),
    )
    .returning(applied_events.c.event_id)
    .cte("claimed")
)
_COMPLETE_WITH_FEEDBACK_ONCE = RawStatement(
    _counted(_CLAIMED_WITH_COMPLETION, _adjusted_once(_CLAIMED_WITH_COMPLETION))
)


def _logs_statement(columns: tuple[Any, ...], *, week: bool) -> Any:
    """Built once: the hot reads skip rebuilding the statement on every call."""
    statement = select(*columns).where(_t.user_id == bindparam("user_id"), _t.program_id == bindparam("program_id"))
    if week:
        statement = statement.where(_t.week_number == bindparam("week_number"))
    return statement.order_by(_t.week_number, _t.day_number)


# Analytics read hundreds of rows per call: compiled once, decoded by asyncpg.
_ANALYTICS = select(_t.week_number, _t.status, SESSION_DATE, SESSION_WEEK, _t.figures_pb).where(
    _t.user_id == bindparam("user_id")
)
_PROGRAM_ANALYTICS = RawStatement(_ANALYTICS.where(_t.program_id == bindparam("program_id")))
_RANGE_ANALYTICS = RawStatement(_ANALYTICS.where(SESSION_DATE.between(bindparam("start"), bindparam("end"))))

_PROGRAM_LOGS_FULL = RawStatement(_logs_statement(_FULL_COLUMNS, week=False))
_PROGRAM_LOGS_SUMMARY = RawStatement(_logs_statement(_SUMMARY_COLUMNS, week=False))
_WEEK_LOGS_FULL = RawStatement(_logs_statement(_FULL_COLUMNS, week=True))
_WEEK_LOGS_SUMMARY = RawStatement(_logs_statement(_SUMMARY_COLUMNS, week=True))


@dataclass(frozen=True, slots=True)
class NewLog:
    week_number: int
    day_number: int
    title: str
    planned_date: date | None
    planned_pb: bytes


# A program's new logs in one statement built once: each NewLog field goes as one array, so the
# statement is the same for any number of sessions (compiling an 80-row VALUES list on every call
# cost more than the rest of the call). Logs that exist already are left as they are.
_NEW_LOGS = (
    func.unnest(
        bindparam("week_numbers", type_=ARRAY(SmallInteger)),
        bindparam("day_numbers", type_=ARRAY(SmallInteger)),
        bindparam("titles", type_=ARRAY(Text)),
        bindparam("planned_dates", type_=ARRAY(Date)),
        bindparam("planned_pbs", type_=ARRAY(LargeBinary)),
    )
    .table_valued("week_number", "day_number", "title", "planned_date", "planned_pb")
    .render_derived()
)
_INSERT_LOGS = (
    insert(progress_logs)
    .from_select(
        ["user_id", "program_id", "week_number", "day_number", "title", "planned_date", "planned_pb"],
        select(
            bindparam("user_id", type_=_t.user_id.type),
            bindparam("program_id", type_=_t.program_id.type),
            *_NEW_LOGS.c,
        ),
    )
    .on_conflict_do_nothing()
    .returning(_t.week_number)
)
_COUNT_LOGS = select(func.count()).where(_t.user_id == bindparam("user_id"), _t.program_id == bindparam("program_id"))
# The insert and the program's total in one statement (atomic on its own, so no transaction):
# the count reads the snapshot from before the insert, so the total adds what it created.
_INSERTED = _INSERT_LOGS.cte("inserted")
_CREATED = select(func.count()).select_from(_INSERTED).scalar_subquery()
_INITIALIZE_LOGS = RawStatement(select(_CREATED, _COUNT_LOGS.scalar_subquery() + _CREATED))


def _set_pb(s: PerformedSet) -> training_pb2.PerformedSet:
    return training_pb2.PerformedSet(
        exercise_id=s.exercise_id,
        set_number=s.set_number,
        target_reps=s.target_reps,
        target_load_kg=s.target_load_kg,
        target_rpe=s.target_rpe,
        actual_reps=s.actual_reps,
        actual_load_kg=s.actual_load_kg,
        actual_rpe=s.actual_rpe,
    )


def encode_performed_sets(sets: Sequence[PerformedSet]) -> bytes | None:
    """Stored as a SessionLog holding only `performed_sets`, so reads merge the bytes as they are."""
    if not sets:
        return None
    message = progress_pb2.SessionLog()
    for s in sets:
        message.performed_sets.append(_set_pb(s))
    return message.SerializeToString()


class StoredLiftFigures(NamedTuple):
    lift: str
    tonnage_kg: float
    hard_sets: int
    best_e1rm_kg: float
    best_e1rm_set: StoredSet
    heaviest_load_kg: float
    heaviest_set: StoredSet


class StoredGroupFigures(NamedTuple):
    muscle_group: str
    tonnage_kg: float
    hard_sets: int


class StoredFigures(NamedTuple):
    """One log's stored figures as analytics read them (plain tuples: read hundreds of times a call)."""

    tonnage_kg: float
    hard_sets: int
    lifts: tuple[StoredLiftFigures, ...]
    muscle_groups: tuple[StoredGroupFigures, ...]
    rpe_set_count: int
    reported_rpe_sum: float
    target_rpe_sum: float


# Each entry is about 1.5 KB: 20,000 sessions (forty lifters' years of history) stay under 30 MB.
FIGURES_MEMO_SIZE = 20_000


@functools.lru_cache(maxsize=FIGURES_MEMO_SIZE)
def decode_figures(data: bytes) -> StoredFigures:
    """figures_pb bytes, decoded. A session's figures change only when its sets do (new bytes),
    and analytics read the same lifter's hundreds of rows call after call: kept by content,
    repeated reads skip protobuf decoding and its slow attribute access (the sets inside are
    shared, never mutated)."""
    m = figures_pb2.SessionFigures.FromString(data)
    return StoredFigures(
        m.tonnage_kg,
        m.hard_sets,
        tuple(
            StoredLiftFigures(
                f.lift, f.tonnage_kg, f.hard_sets, f.best_e1rm_kg, f.best_e1rm_set, f.heaviest_load_kg, f.heaviest_set
            )
            for f in m.lifts
        ),
        tuple(StoredGroupFigures(g.muscle_group, g.tonnage_kg, g.hard_sets) for g in m.muscle_groups),
        m.rpe_set_count,
        m.reported_rpe_sum,
        m.target_rpe_sum,
    )


def encode_figures(figures: SessionFigures | None) -> bytes | None:
    """ironpath.progress.v1.SessionFigures bytes (see figures.proto)."""
    if figures is None:
        return None
    message = figures_pb2.SessionFigures(
        rules_version=figures.rules_version,
        tonnage_kg=figures.tonnage_kg,
        hard_sets=figures.hard_sets,
        rpe_set_count=figures.rpe_set_count,
        reported_rpe_sum=figures.reported_rpe_sum,
        target_rpe_sum=figures.target_rpe_sum,
    )
    for lift in figures.lifts:
        stored = message.lifts.add(
            lift=lift.lift,
            tonnage_kg=lift.tonnage_kg,
            hard_sets=lift.hard_sets,
            best_e1rm_kg=lift.best_e1rm_kg,
            heaviest_load_kg=lift.heaviest_load_kg,
        )
        if lift.best_e1rm_set is not None:
            stored.best_e1rm_set.CopyFrom(_set_pb(lift.best_e1rm_set))
        if lift.heaviest_set is not None:
            stored.heaviest_set.CopyFrom(_set_pb(lift.heaviest_set))
    for group in figures.muscle_groups:
        message.muscle_groups.add(
            muscle_group=group.muscle_group, tonnage_kg=group.tonnage_kg, hard_sets=group.hard_sets
        )
    return message.SerializeToString()


def _adjustment_arrays(adjusted: Sequence[tuple[int, int, bytes]]) -> dict[str, list[Any]]:
    """Adjusted prescriptions (week, day, PlannedSession bytes) as _ADJUSTMENTS' parameters."""
    return {
        "week_numbers": [week for week, _, _ in adjusted],
        "day_numbers": [day for _, day, _ in adjusted],
        "adjusted_pbs": [prescription for _, _, prescription in adjusted],
    }


def performed_values(sets: Sequence[PerformedSet]) -> dict[str, Any]:
    """The columns that store performed sets: the sets and the figures computed from them,
    always written together (`update_log` refuses one without the other)."""
    return {"performed_pb": encode_performed_sets(sets), "figures_pb": encode_figures(session_figures(sets))}


def figures_for_stored_sets(performed_pb: bytes | None) -> bytes | None:
    """Figures of sets as stored in `performed_pb` (used to fill rows written before figures)."""
    return encode_figures(session_figures(decode_performed_sets(performed_pb)))


def effective_prescription(record: LogRecord) -> PlannedSession | None:
    """The prescription to train (the adjusted one, else the plan) as plain data; full view."""
    stored = record.adjusted_pb or record.planned_pb
    return session_from_pb(training_pb2.PlannedSession.FromString(stored)) if stored else None


def decode_performed_sets(stored: bytes | None) -> list[PerformedSet]:
    if not stored:
        return []
    return [
        PerformedSet(
            exercise_id=p.exercise_id,
            set_number=p.set_number,
            target_reps=p.target_reps,
            target_load_kg=p.target_load_kg,
            target_rpe=p.target_rpe,
            actual_reps=p.actual_reps,
            actual_load_kg=p.actual_load_kg,
            actual_rpe=p.actual_rpe if p.HasField("actual_rpe") else None,
        )
        for p in progress_pb2.SessionLog.FromString(stored).performed_sets
    ]


def _record(row: Row[Any]) -> LogRecord:
    values = row._mapping
    return LogRecord(**{k: values[k] for k in values.keys() if k != "notified"})  # noqa: SIM118 - RowMapping


def _key_clause(user_id: str, key: SessionKey) -> Any:
    return and_(
        _t.user_id == user_id,
        _t.program_id == uuid.UUID(key.program_id),
        _t.week_number == key.week_number,
        _t.day_number == key.day_number,
    )


class ProgressRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self._session = session

    async def insert_logs(self, user_id: str, program_id: str, logs: Sequence[NewLog]) -> tuple[int, int]:
        """Creates the logs that do not exist yet, in one statement: (created now, total for the
        program)."""
        row = await _INITIALIZE_LOGS.fetchrow(
            self._session,
            user_id=user_id,
            program_id=uuid.UUID(program_id),
            week_numbers=[log.week_number for log in logs],
            day_numbers=[log.day_number for log in logs],
            titles=[log.title for log in logs],
            planned_dates=[log.planned_date for log in logs],
            planned_pbs=[log.planned_pb for log in logs],
        )
        assert row is not None
        return row[0], row[1]

    async def program_exists(self, user_id: str, program_id: str) -> bool:
        statement = select(_t.week_number).where(_t.user_id == user_id, _t.program_id == uuid.UUID(program_id))
        return (await self._session.execute(statement.limit(1))).first() is not None

    async def program_logs(
        self, user_id: str, program_id: str, *, full: bool, week_number: int | None = None
    ) -> list[LogRecord]:
        params: dict[str, Any] = {"user_id": user_id, "program_id": uuid.UUID(program_id)}
        if week_number is None:
            statement = _PROGRAM_LOGS_FULL if full else _PROGRAM_LOGS_SUMMARY
        else:
            statement = _WEEK_LOGS_FULL if full else _WEEK_LOGS_SUMMARY
            params["week_number"] = week_number
        # The selected columns are LogRecord's fields in order.
        return [LogRecord(*row) for row in await statement.fetch(self._session, **params)]

    async def get_log(self, user_id: str, key: SessionKey, *, full: bool, lock: bool = False) -> LogRecord | None:
        statement = select(*(_FULL_COLUMNS if full else _SUMMARY_COLUMNS)).where(_key_clause(user_id, key))
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return _record(row) if row is not None else None

    async def list_logs(
        self,
        user_id: str,
        *,
        program_id: str | None,
        time_column: str | None,
        start: datetime | date | None,
        end: datetime | date | None,
        after: tuple[str, int, int] | None,
        limit: int,
        full: bool,
    ) -> list[LogRecord]:
        """Logs in (program, week, day) order, keyset-paginated after `after`."""
        query = _list_logs_query(
            full, program_id is not None, time_column, start is not None, end is not None, after is not None
        )
        params: dict[str, Any] = {"user_id": user_id, "limit": limit, "start": start, "end": end}
        if program_id is not None:
            params["program_id"] = uuid.UUID(program_id)
        if after is not None:
            params.update(after_program=uuid.UUID(after[0]), after_week=after[1], after_day=after[2])
        return [LogRecord(*row) for row in await query.fetch(self._session, **params)]

    async def complete_first_time(
        self,
        user_id: str,
        key: SessionKey,
        completed_at: datetime,
        performed_sets: Sequence[PerformedSet],
        session_rpe: float | None,
        extra_values: dict[str, Any] | None = None,
    ) -> LogRecord | None:
        """The common case in one statement: a session not completed yet becomes completed.
        None when the log is missing or already completed (then the caller merges)."""
        # A hot path (MarkSessionComplete, feedback): the statement is built once, only the values change.
        statement = _complete_first_time_with(frozenset(extra_values or ()))
        params = {
            "k_user_id": user_id,
            "k_program_id": uuid.UUID(key.program_id),
            "k_week_number": key.week_number,
            "k_day_number": key.day_number,
            "completed_at": completed_at,
            "session_rpe": session_rpe,
            **performed_values(performed_sets),
            **(extra_values or {}),
        }
        row = await statement.fetchrow(self._session, **params)
        return LogRecord(*row[:-1]) if row is not None else None

    async def complete_with_feedback_once(
        self,
        event_id: str,
        user_id: str,
        key: SessionKey,
        completed_at: datetime,
        performed_sets: Sequence[PerformedSet],
        session_rpe: float | None,
        feedback: bytes | None,
        adjusted: Sequence[tuple[int, int, bytes]],
    ) -> bool:
        """The common case of a feedback event, in one statement: completes a session not completed
        yet with its feedback, claims the event and stores the adjusted prescriptions (week, day,
        PlannedSession bytes). False, and nothing changed, when the session is completed already,
        its log is missing, or the event was claimed before: `claim_feedback_event` and a merge
        in one transaction handle those."""
        try:
            row = await _COMPLETE_WITH_FEEDBACK_ONCE.fetchrow(
                self._session,
                event_id=uuid.UUID(event_id),
                kind="session_feedback",
                k_user_id=user_id,
                k_program_id=uuid.UUID(key.program_id),
                k_week_number=key.week_number,
                k_day_number=key.day_number,
                completed_at=completed_at,
                session_rpe=session_rpe,
                feedback_pb=feedback,
                **performed_values(performed_sets),
                **_adjustment_arrays(adjusted),
            )
        except asyncpg.UniqueViolationError:  # claimed at the same moment by another delivery
            return False
        assert row is not None  # a SELECT without FROM: always one row
        return bool(row[0])

    async def claim_feedback_event(
        self, event_id: str, user_id: str, program_id: str, adjusted: Sequence[tuple[int, int, bytes]]
    ) -> bool:
        """Claims a feedback event and stores its adjusted prescriptions (week, day, PlannedSession
        bytes) on the logs of the program, a position with no log left out. False, and nothing
        changed, for a replay."""
        row = await _CLAIM_AND_ADJUST.fetchrow(
            self._session,
            event_id=uuid.UUID(event_id),
            kind="session_feedback",
            k_user_id=user_id,
            k_program_id=uuid.UUID(program_id),
            **_adjustment_arrays(adjusted),
        )
        assert row is not None  # a SELECT without FROM: always one row
        return bool(row[0])

    async def update_log(
        self, user_id: str, key: SessionKey, values: dict[str, Any], *, expected_version: int | None = None
    ) -> LogRecord | None:
        """Applies `values`; None when the log is missing or its version is not `expected_version`."""
        extra = _t.version == expected_version if expected_version is not None else None
        return await self._update(user_id, key, values, extra=extra)

    async def _update(self, user_id: str, key: SessionKey, values: dict[str, Any], extra: Any) -> LogRecord | None:
        if ("performed_pb" in values) != ("figures_pb" in values):
            raise ValueError("performed sets and their figures are written together: use performed_values()")
        where = _key_clause(user_id, key)
        if extra is not None:
            where = and_(where, extra)
        statement = (
            update(progress_logs)
            .where(where)
            .values(**values, version=_t.version + 1, updated_at=func.now())
            .returning(*_FULL_COLUMNS, _NOTIFY)
        )
        row = (await self._session.execute(statement)).first()
        return _record(row) if row is not None else None

    async def analytics_sessions(
        self, user_id: str, *, program_id: str | None = None, start: date | None = None, end: date | None = None
    ) -> list[LoggedSession[StoredSet]]:
        """Every log of one program, or every log of the user whose session date lies in
        [start, end]: position, status, day and stored figures only (never the sets)."""
        if program_id is not None:
            rows = await _PROGRAM_ANALYTICS.fetch(self._session, user_id=user_id, program_id=uuid.UUID(program_id))
        else:
            rows = await _RANGE_ANALYTICS.fetch(self._session, user_id=user_id, start=start, end=end)
        return [
            LoggedSession(week, status, day, monday, decode_figures(figures) if figures is not None else None)
            for week, status, day, monday, figures in rows
        ]

    async def claim_event(self, event_id: str, kind: str) -> bool:
        """True the first time an internal event id is seen; False for a replay."""
        params = {"event_id": uuid.UUID(event_id), "kind": kind}
        return (await self._session.execute(_CLAIM_EVENT, params)).first() is not None

    async def erase_user(self, user_id: str) -> dict[str, int]:
        """Deletes every row naming the user, in every table of this service (rows per table),
        and empties this process's memo of decoded figures, which may hold theirs."""
        deleted = await delete_user_rows(self._session, Base.metadata, user_id)
        decode_figures.cache_clear()
        return deleted
