"""Use cases of the feedback service. No grpc, no commit: the RPC boundary owns the transaction.
Reads from other services happen before the transaction (in the servicer), so no database
connection waits on the network."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from feedback_svc.domain import Adjusted, Feedback, PeriodFigures, Readiness, ReadinessResult, recommend
from feedback_svc.repository import EXPORT_TABLES, CheckInRecord, FeedbackRepository, ReadinessRecord
from ironpath_common.idempotency import parse_request_id, request_fingerprint
from ironpath_common.outbox import SENDER_HEAD_START, Event
from ironpath_common.tracing import current_traceparent

RECORD_FEEDBACK = "progress.RecordSessionFeedback"
# The tables the data export streams, in order.
EXPORTED_TABLES = tuple(EXPORT_TABLES)


async def record_feedback(
    connection: AsyncConnection,
    *,
    method: str,
    request: Message,
    response: Message,
    feedback_id: str,
    user_id: str,
    program_id: str,
    week: int,
    day: int,
    feedback: Feedback,
    notes: str,
    completed_at: datetime,
    created_at: datetime,
    adjusted: Adjusted,
    event: Message,
) -> Event | None:
    """Stores the feedback, the outbox event that completes the session in the progress service
    with the feedback and the adjusted prescriptions, and `response` for a retry of `request`,
    all at once. None, and nothing stored, when the request id was used before."""
    event_id = getattr(event, "event_id")  # noqa: B009 - every event message has one
    payload = event.SerializeToString()
    traceparent = current_traceparent()
    stored = await FeedbackRepository(connection).add_feedback_once(
        {
            "user_id": user_id,
            # The request id, claimed with its response (ironpath_common.idempotency's table).
            "request_id": parse_request_id(getattr(request, "request_id")),  # noqa: B009
            "method": method,
            "request_hash": request_fingerprint(method, request),
            "response": response.SerializeToString(),
            # The feedback as the lifter was told.
            "feedback_id": uuid.UUID(feedback_id),
            "program_id": uuid.UUID(program_id),
            "week_number": week,
            "day_number": day,
            "categories": sorted(c.value for c in feedback.categories),
            "pain_area": feedback.pain_area,
            "unavailable_equipment": sorted(feedback.unavailable_equipment),
            "notes": notes,
            "session_rpe": feedback.session_rpe,
            "completed_at": completed_at,
            "adjustments": [asdict(a) for a in adjusted.adjustments],
            "adjustment_reason": adjusted.reason,
            "created_at": created_at,
            # Its outbox event, as ironpath_common.outbox.enqueue writes one.
            "event_id": uuid.UUID(event_id),
            "destination": RECORD_FEEDBACK,
            "payload": payload,
            "next_attempt_at": datetime.now(UTC) + SENDER_HEAD_START,
            "traceparent": traceparent,
        }
    )
    return Event(event_id, RECORD_FEEDBACK, payload, traceparent) if stored else None


async def save_check_in(
    session: AsyncConnection,
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
    session: AsyncConnection, user_id: str, program_id: str | None, after: tuple[datetime, str] | None, limit: int
) -> list[CheckInRecord]:
    return await FeedbackRepository(session).check_ins(user_id, program_id, after, limit)


async def save_readiness(
    session: AsyncConnection,
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
    session: AsyncConnection,
    user_id: str,
    start: date | None,
    end: date | None,
    after: tuple[date, str] | None,
    limit: int,
) -> list[ReadinessRecord]:
    return await FeedbackRepository(session).readiness_checks(user_id, start, end, after, limit)


async def export_page(
    session: AsyncConnection, table: str, user_id: str, after: uuid.UUID | None, limit: int
) -> tuple[list[dict[str, Any]], uuid.UUID | None]:
    """One page of the user's rows of one table for the data export, and where the next page
    starts (None after the last). Short transactions: no connection waits on a slow reader."""
    return await FeedbackRepository(session).export_page(table, user_id, after, limit)


async def erase_user_data(session: AsyncConnection, event_id: str, user_id: str) -> int:
    """Applies an account-erase event once: deletes the user's feedback, check-ins, readiness
    checks, stored request ids and queued events. Returns rows deleted; 0 for a replay."""
    repo = FeedbackRepository(session)
    if not await repo.claim_event(event_id, "erase_user_data"):
        return 0
    return sum((await repo.erase_user(user_id)).values())
