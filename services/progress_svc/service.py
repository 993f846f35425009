"""Use cases of the progress service. No grpc, no commit: the RPC boundary owns the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from ironpath_common.errors import Aborted, DomainError, InvalidArgument, NotFound
from progress_svc import legacy_import
from progress_svc.analytics import Analytics, WeekBy, aggregate
from progress_svc.domain import (
    PerformedSet,
    SessionKey,
    SessionStatus,
    Totals,
    earliest,
    merge_performed_sets,
    totals,
)
from progress_svc.repository import (
    LogRecord,
    NewLog,
    ProgressRepository,
    StoredSet,
    decode_performed_sets,
    effective_prescription,
    performed_values,
)

PROGRAM_NOT_FOUND = "program not found"


class ProgramDirectory(Protocol):
    """What the progress service asks the program service (`clients.ProgramClient`)."""

    async def readable_owner(self, user_id: str, program_id: str) -> str:
        """The owner of a program the user may read; NotFound when they may not."""
        ...

    async def display_unit(self, user_id: str) -> str:
        """`kg` or `lb`, from the lifter's profile."""
        ...


@dataclass(frozen=True)
class Completion:
    key: SessionKey
    completed_at: datetime
    performed_sets: Sequence[PerformedSet]
    session_rpe: float | None
    # Set when the feedback service completes the session (opaque FeedbackSummary bytes).
    feedback: bytes | None = None


@dataclass(frozen=True)
class Progress:
    totals: Totals
    logs: list[LogRecord]


async def _missing_session(repo: ProgressRepository, user_id: str, key: SessionKey) -> DomainError:
    """NOT_FOUND for a program the user has no logs of (missing or someone else's), else the
    session lies outside the program: INVALID_ARGUMENT naming the position."""
    if not await repo.program_exists(user_id, key.program_id):
        return NotFound(PROGRAM_NOT_FOUND)
    return InvalidArgument("session", f"week {key.week_number} day {key.day_number} is not a session of this program")


async def initialize_program_logs(
    session: AsyncConnection, user_id: str, program_id: str, logs: Sequence[NewLog]
) -> tuple[int, int]:
    """Creates a log per planned session; replays and overlaps end with one log per session.
    Returns (created now, total for the program)."""
    return await ProgressRepository(session).insert_logs(user_id, program_id, logs)


async def complete_session(session: AsyncConnection, user_id: str, completion: Completion) -> LogRecord:
    """Marks a session completed. Completing a completed session merges into the one log:
    the earliest completion time stays, performed sets are united by (exercise, set)."""
    repo = ProgressRepository(session)
    extra = {"feedback_pb": completion.feedback} if completion.feedback is not None else None
    record = await repo.complete_first_time(
        user_id, completion.key, completion.completed_at, completion.performed_sets, completion.session_rpe, extra
    )
    if record is not None:
        return record
    current = await repo.get_log(user_id, completion.key, full=True, lock=True)
    if current is None:
        raise await _missing_session(repo, user_id, completion.key)
    values: dict[str, object] = {
        "status": SessionStatus.COMPLETED.value,
        "completed_at": earliest(current.completed_at, completion.completed_at),
        **performed_values(
            merge_performed_sets(decode_performed_sets(current.performed_pb), list(completion.performed_sets))
        ),
    }
    if completion.session_rpe is not None:
        values["session_rpe"] = completion.session_rpe
    if extra:
        values.update(extra)
    updated = await repo.update_log(user_id, completion.key, values)
    assert updated is not None  # the row is locked
    return updated


async def import_legacy_progress(
    session: AsyncConnection, user_id: str, program_id: str, state: legacy_import.LegacyState
) -> list[legacy_import.ItemResult]:
    """Merges the old app's completed sessions into one of the caller's own programs
    (docs/import.md). A session the server has not completed is completed with the imported
    time, sets, session RPE and notes; one it has completed keeps the server's record. Returns a
    result per item in input order. Importing the same state again changes nothing: every
    session it took is completed at exactly the imported time by then."""
    repo = ProgressRepository(session)
    logs = {(r.week_number, r.day_number): r for r in await repo.program_logs(user_id, program_id, full=True)}
    if not logs:
        raise NotFound(PROGRAM_NOT_FOUND)
    results = {result.path: result for result in state.refused}
    for item in state.sessions:
        current = logs.get((item.week_number, item.day_number))
        reason = legacy_import.refusal(item, *((current.status, current.completed_at) if current else (None, None)))
        if reason is None and current is not None:
            key = SessionKey(program_id, item.week_number, item.day_number)
            sets = legacy_import.performed_sets(item, effective_prescription(current))
            notes = {"notes": item.notes} if item.notes else None
            if await repo.complete_first_time(user_id, key, item.completed_at, sets, item.session_rpe, notes) is None:
                # Another call completed it since the logs were read: that completion stays.
                latest = await repo.get_log(user_id, key, full=False)
                reason = (
                    legacy_import.refusal(item, *((latest.status, latest.completed_at) if latest else (None, None)))
                    or "completed by another call during the import; it is kept"
                )
        accepted = f"completed week {item.week_number} day {item.day_number}"
        results[item.path] = legacy_import.ItemResult(item.path, reason is None, reason or accepted)
    return [results[path] for path in state.paths]


async def skip_session(session: AsyncConnection, user_id: str, key: SessionKey, reason: str) -> LogRecord:
    """Marks a session skipped. A completed session stays completed (completion wins, so
    an offline queue replayed in any order ends the same way)."""
    repo = ProgressRepository(session)
    current = await repo.get_log(user_id, key, full=True, lock=True)
    if current is None:
        raise await _missing_session(repo, user_id, key)
    if current.status == SessionStatus.COMPLETED:
        return current
    updated = await repo.update_log(user_id, key, {"status": SessionStatus.SKIPPED.value, "skip_reason": reason})
    assert updated is not None
    return updated


async def schedule_session(
    session: AsyncConnection, user_id: str, key: SessionKey, scheduled: date, expected_version: int | None
) -> LogRecord:
    """Sets or moves a session's date; with a version, only if nobody changed the log since."""
    repo = ProgressRepository(session)
    current = await repo.get_log(user_id, key, full=False, lock=True)
    if current is None:
        raise await _missing_session(repo, user_id, key)
    if expected_version is not None and current.version != expected_version:
        raise Aborted("the session changed since it was read; read it again")
    status = SessionStatus.SCHEDULED.value if current.status == SessionStatus.PLANNED else current.status
    updated = await repo.update_log(user_id, key, {"scheduled_date": scheduled, "status": status})
    assert updated is not None
    return updated


async def program_progress(session: AsyncConnection, user_id: str, program_id: str, *, full: bool) -> Progress:
    logs = await ProgressRepository(session).program_logs(user_id, program_id, full=full)
    if not logs:
        raise NotFound(PROGRAM_NOT_FOUND)
    return Progress(totals([log.status for log in logs]), logs)


async def readable_progress(
    session: AsyncConnection, programs: ProgramDirectory, caller: str, program_id: str, *, full: bool
) -> Progress:
    """Every log of a program the caller may read. The owner's read is one query: the logs are
    read first and access is asked only when the caller has none (a coach, or nobody)."""
    repo = ProgressRepository(session)
    logs = await repo.program_logs(caller, program_id, full=full)
    if not logs:
        owner = await readable_owner(session, programs, caller, program_id)
        logs = await repo.program_logs(owner, program_id, full=full)
        if not logs:
            raise NotFound(PROGRAM_NOT_FOUND)
    return Progress(totals([log.status for log in logs]), logs)


async def week_progress(session: AsyncConnection, user_id: str, program_id: str, week: int, *, full: bool) -> Progress:
    repo = ProgressRepository(session)
    logs = await repo.program_logs(user_id, program_id, full=full, week_number=week)
    if not logs:
        if not await repo.program_exists(user_id, program_id):
            raise NotFound(PROGRAM_NOT_FOUND)
        raise InvalidArgument("week_number", f"week {week} is not part of this program")
    return Progress(totals([log.status for log in logs]), logs)


async def record_first_completion_with_feedback(
    connection: AsyncConnection,
    event_id: str,
    user_id: str,
    completion: Completion,
    adjusted: Sequence[tuple[int, int, bytes]],
) -> bool:
    """The common case of a feedback event in one statement, atomic by itself: the session was
    not completed yet and the event is new. False, and nothing changed, otherwise: then
    `record_session_feedback` in a transaction."""
    key = completion.key
    if any((week, day) == (key.week_number, key.day_number) for week, day, _ in adjusted):
        return False  # one statement may not change one log twice
    return await ProgressRepository(connection).complete_with_feedback_once(
        event_id,
        user_id,
        key,
        completion.completed_at,
        completion.performed_sets,
        completion.session_rpe,
        completion.feedback,
        adjusted,
    )


async def record_session_feedback(
    session: AsyncConnection,
    event_id: str,
    user_id: str,
    completion: Completion,
    adjusted: Sequence[tuple[int, int, bytes]],
) -> bool:
    """Applies a feedback event once: completes the session with its feedback and stores each
    adjusted prescription (week, day, PlannedSession bytes) on its log. False for a replay."""
    # An adjustment aimed past the program's end has no log to land on; the rest still apply.
    repo = ProgressRepository(session)
    if not await repo.claim_feedback_event(event_id, user_id, completion.key.program_id, adjusted):
        return False
    await complete_session(session, user_id, completion)
    return True


async def list_logs(
    session: AsyncConnection,
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
    return await ProgressRepository(session).list_logs(
        user_id,
        program_id=program_id,
        time_column=time_column,
        start=start,
        end=end,
        after=after,
        limit=limit,
        full=full,
    )


async def program_exists(session: AsyncConnection, user_id: str, program_id: str) -> bool:
    return await ProgressRepository(session).program_exists(user_id, program_id)


async def logs_at(session: AsyncConnection, user_id: str, keys: Sequence[SessionKey]) -> list[LogRecord]:
    """The current state of each named log that exists (full, so feedback is included)."""
    repo = ProgressRepository(session)
    records = [await repo.get_log(user_id, key, full=True) for key in keys]
    return [r for r in records if r is not None]


async def export_logs(
    session: AsyncConnection, user_id: str, after: tuple[str, int, int] | None, limit: int
) -> list[LogRecord]:
    """One page of every log the user has, full view, in (program, week, day) order: the data
    export reads page by page in short transactions, so no connection waits on a slow reader."""
    return await ProgressRepository(session).list_logs(
        user_id, program_id=None, time_column=None, start=None, end=None, after=after, limit=limit, full=True
    )


async def erase_user_data(session: AsyncConnection, event_id: str, user_id: str) -> int:
    """Applies an account-erase event once: deletes every row naming the user (logs, stored
    request ids, anything added later with a user id). Returns rows deleted; 0 for a replay."""
    repo = ProgressRepository(session)
    if not await repo.claim_event(event_id, "erase_user_data"):
        return 0
    return sum((await repo.erase_user(user_id)).values())


async def readable_owner(session: AsyncConnection, programs: ProgramDirectory, caller: str, program_id: str) -> str:
    """Whose logs of `program_id` the caller may read: every read RPC that takes a program id
    asks here. The caller's own when they have any (no network call). Otherwise the program
    service decides, on every call (a revoked or expired grant stops the next read): a live
    coach grant gives the owner's logs read-only. Anything else is NOT_FOUND, worded exactly
    as a missing program. Writes never come here: they touch only the caller's own logs."""
    if await ProgressRepository(session).program_exists(caller, program_id):
        return caller
    try:
        return await programs.readable_owner(caller, program_id)
    except NotFound:
        raise NotFound(PROGRAM_NOT_FOUND) from None


@dataclass(frozen=True)
class AnalyticsQuery:
    """A program (`program_id`), or a date range (`start`, `end`, inclusive) over the caller's programs."""

    program_id: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class TrainingAnalytics:
    display_unit: str
    figures: Analytics[StoredSet]


async def training_analytics(
    session: AsyncConnection, programs: ProgramDirectory, caller: str, query: AnalyticsQuery, today: date
) -> TrainingAnalytics:
    """Weeks, lifts, muscle groups, records, RPE drift and streaks, added up from the figures
    stored with each log (one query, never the sets). A program may be read by a coach; a date
    range covers only the caller's own programs. The display unit is the lifter's, asked of the
    program service while the figures are read: if it cannot answer, neither can this."""
    repo = ProgressRepository(session)
    if query.program_id is not None:
        owner = await readable_owner(session, programs, caller, query.program_id)
    else:
        owner = caller
    unit = asyncio.create_task(programs.display_unit(owner))
    try:
        if query.program_id is not None:
            sessions = await repo.analytics_sessions(owner, program_id=query.program_id)
            if not sessions:
                raise NotFound(PROGRAM_NOT_FOUND)
            figures = aggregate(sessions, week_by=WeekBy.PROGRAM_WEEK, as_of=today)
        else:
            assert query.start is not None and query.end is not None
            sessions = await repo.analytics_sessions(owner, start=query.start, end=query.end)
            figures = aggregate(sessions, week_by=WeekBy.CALENDAR_WEEK, as_of=min(today, query.end))
    except BaseException:
        unit.cancel()
        await asyncio.gather(unit, return_exceptions=True)
        raise
    return TrainingAnalytics(display_unit=await unit, figures=figures)
