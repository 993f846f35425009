"""Use cases of the feedback service. No grpc, no commit: the RPC boundary owns the transaction.
Reads from other services happen before the transaction (in the servicer), so no database
connection waits on the network."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_svc.domain import Adjusted, Feedback, PeriodFigures, Readiness, ReadinessResult, recommend
from feedback_svc.models import outbox
from feedback_svc.repository import EXPORT_TABLES, CheckInRecord, FeedbackRepository, ReadinessRecord
from ironpath_common.outbox import Event, enqueue

RECORD_FEEDBACK = "progress.RecordSessionFeedback"
# The tables the data export streams, in order.
EXPORTED_TABLES = tuple(EXPORT_TABLES)


async def record_feedback(
    session: AsyncSession,
    *,
    feedback_id: str,
    user_id: str,
    program_id: str,
    week: int,
    day: int,
    feedback: Feedback,
    notes: str,
    completed_at: datetime,
    adjusted: Adjusted,
    event: Message,
) -> tuple[datetime, Event]:
    """Stores the feedback and, in the same transaction, the event that completes the session
    in the progress service with the feedback and the adjusted prescriptions."""
    created_at = await FeedbackRepository(session).add_feedback(
        feedback_id=uuid.UUID(feedback_id),
        user_id=user_id,
        program_id=uuid.UUID(program_id),
        week_number=week,
        day_number=day,
        categories=sorted(c.value for c in feedback.categories),
        pain_area=feedback.pain_area,
        unavailable_equipment=sorted(feedback.unavailable_equipment),
        notes=notes,
        session_rpe=feedback.session_rpe,
        completed_at=completed_at,
        adjustments=[asdict(a) for a in adjusted.adjustments],
        adjustment_reason=adjusted.reason,
    )
    return created_at, await enqueue(session, outbox, RECORD_FEEDBACK, event, user_id)


async def save_check_in(
    session: AsyncSession,
    user_id: str,
    program_id: str,
    start: date,
    end: date,
    current: PeriodFigures,
    previous: PeriodFigures,
) -> CheckInRecord:
    """Stores a check-in: the period's figures, their change since the period before, and advice."""
    recommendation, reason = recommend(current, previous)
    return await FeedbackRepository(session).add_check_in(
        user_id,
        check_in_id=uuid.uuid4(),
        program_id=uuid.UUID(program_id),
        period_start=start,
        period_end=end,
        sessions_planned=current.planned,
        sessions_completed=current.completed,
        sessions_skipped=current.skipped,
        adherence=current.adherence,
        average_rpe=current.average_rpe,
        adherence_change=round(current.adherence - previous.adherence, 4),
        average_rpe_change=round(current.average_rpe - previous.average_rpe, 2) if previous.average_rpe else 0.0,
        recommendation=recommendation.value,
        reason=reason,
    )


async def list_check_ins(
    session: AsyncSession, user_id: str, program_id: str | None, after: tuple[datetime, str] | None, limit: int
) -> list[CheckInRecord]:
    return await FeedbackRepository(session).check_ins(user_id, program_id, after, limit)


async def save_readiness(
    session: AsyncSession,
    user_id: str,
    day: date,
    answers: Readiness,
    result: ReadinessResult,
    session_ref: tuple[str, int, int] | None,
    adjusted_session: bytes | None,
) -> ReadinessRecord:
    program_id, week, day_number = session_ref if session_ref else (None, None, None)
    return await FeedbackRepository(session).add_readiness(
        user_id,
        readiness_check_id=uuid.uuid4(),
        date=day,
        **asdict(answers),
        program_id=uuid.UUID(program_id) if program_id else None,
        week_number=week,
        day_number=day_number,
        score=result.score,
        recommendation=result.advice.value,
        load_reduction_percent=result.load_reduction_percent,
        reason=result.reason,
        adjusted_pb=adjusted_session,
    )


async def list_readiness(
    session: AsyncSession,
    user_id: str,
    start: date | None,
    end: date | None,
    after: tuple[date, str] | None,
    limit: int,
) -> list[ReadinessRecord]:
    return await FeedbackRepository(session).readiness_checks(user_id, start, end, after, limit)


async def export_page(
    session: AsyncSession, table: str, user_id: str, after: uuid.UUID | None, limit: int
) -> tuple[list[dict[str, Any]], uuid.UUID | None]:
    """One page of the user's rows of one table for the data export, and where the next page
    starts (None after the last). Short transactions: no connection waits on a slow reader."""
    return await FeedbackRepository(session).export_page(table, user_id, after, limit)


async def erase_user_data(session: AsyncSession, event_id: str, user_id: str) -> int:
    """Applies an account-erase event once: deletes the user's feedback, check-ins, readiness
    checks, stored request ids and queued events. Returns rows deleted; 0 for a replay."""
    repo = FeedbackRepository(session)
    if not await repo.claim_event(event_id, "erase_user_data"):
        return 0
    return sum((await repo.erase_user(user_id)).values())
