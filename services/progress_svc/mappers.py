"""Protobuf <-> domain for the progress service, with request validation that names fields."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath_common import pagination
from ironpath_common.errors import FieldViolation, InvalidArgument
from ironpath_training.proto import MAIN_LIFT_ENUMS
from progress_svc.analytics import check_date_range
from progress_svc.domain import (
    SessionKey,
    SessionStatus,
    Totals,
    View,
    check_position,
    parse_iso_date,
)
from progress_svc.repository import LogRecord
from progress_svc.service import AnalyticsQuery, TrainingAnalytics

STATUS_TO_PB = {
    SessionStatus.PLANNED: pb.SESSION_STATUS_PLANNED,
    SessionStatus.SCHEDULED: pb.SESSION_STATUS_SCHEDULED,
    SessionStatus.COMPLETED: pb.SESSION_STATUS_COMPLETED,
    SessionStatus.SKIPPED: pb.SESSION_STATUS_SKIPPED,
}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def program_id(value: str, field: str = "program_id") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a program id (UUID)") from None


def user_id(value: str) -> str:
    if not value or len(value) > 128:
        raise InvalidArgument("user_id", "must be 1-128 characters")
    return value


def event_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("event_id", "must be a UUID") from None


def session_key(ref: training_pb2.SessionRef, field: str = "session") -> SessionKey:
    key = SessionKey(program_id(ref.program_id, f"{field}.program_id"), ref.week_number, ref.day_number)
    check_position(field, key.week_number, key.day_number)
    return key


def view(value: int) -> View:
    if value == pb.PROGRESS_VIEW_FULL:
        return View.FULL
    if value in (pb.PROGRESS_VIEW_UNSPECIFIED, pb.PROGRESS_VIEW_SUMMARY):
        return View.SUMMARY
    raise InvalidArgument("view", "unknown view")


def etag(value: str) -> int | None:
    """The version an etag carries; None when the client sent none (unconditional)."""
    if not value:
        return None
    if not value.isdigit():
        raise InvalidArgument("etag", "is not an etag this service issued")
    return int(value)


def timestamp(value: Timestamp, field: str, default: datetime) -> datetime:
    if value.seconds == 0 and value.nanos == 0:
        return default
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is not a valid timestamp") from None


def page_size(value: int) -> int:
    return pagination.page_size(value, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(record: LogRecord) -> str:
    return pagination.encode_page_token(record.program_id, record.week_number, record.day_number)


def decode_page_token(token: str) -> tuple[str, int, int] | None:
    """The last log's (program, week, day) from a token of ours."""
    parts = pagination.decode_page_token(token, 3)
    if parts is None:
        return None
    try:
        return str(uuid.UUID(parts[0])), int(parts[1]), int(parts[2])
    except ValueError:
        raise InvalidArgument("page_token", pagination.NOT_OURS) from None


def totals_to_pb(totals: Totals, message: pb.ProgressTotals) -> None:
    message.planned_sessions = totals.planned_sessions
    message.completed_sessions = totals.completed_sessions
    message.skipped_sessions = totals.skipped_sessions
    message.completion_rate = totals.completion_rate


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS_BY_NAME = {status.value: value for status, value in STATUS_TO_PB.items()}


def set_timestamp(stamp: Timestamp, moment: datetime) -> None:
    """Timestamp.FromDatetime without its per-call overhead (it showed up in the profile)."""
    delta = moment - _EPOCH
    stamp.seconds = delta.days * 86400 + delta.seconds
    stamp.nanos = delta.microseconds * 1000


def fill_log(
    message: pb.SessionLog, record: LogRecord, *, full: bool, feedback: bool = False, program_id: str = ""
) -> None:
    """Fills `message` in place (cheaper than building and copying a new one).

    The summary view has status, dates and version; `feedback` adds the feedback summary;
    the full view adds the effective prescription, the performed sets and the notes.
    `program_id`, when the caller has it as text already, saves a conversion per log."""
    message.program_id = program_id or str(record.program_id)
    message.week_number = record.week_number
    message.day_number = record.day_number
    message.title = record.title
    if record.planned_date is not None:
        message.planned_date = record.planned_date.isoformat()
    message.status = _STATUS_BY_NAME[record.status]
    if record.scheduled_date is not None:
        message.scheduled_date = record.scheduled_date.isoformat()
    if record.completed_at is not None:
        set_timestamp(message.complete_time, record.completed_at)
    if record.skip_reason:
        message.skip_reason = record.skip_reason
    if record.session_rpe is not None:
        message.session_rpe = record.session_rpe
    message.etag = str(record.version)
    set_timestamp(message.create_time, record.created_at)
    set_timestamp(message.update_time, record.updated_at)
    if (full or feedback) and record.feedback_pb:
        message.feedback.MergeFromString(record.feedback_pb)
    if full:
        prescription = record.adjusted_pb or record.planned_pb
        if prescription:
            message.prescription.MergeFromString(prescription)
        message.prescription_adjusted = record.adjusted_pb is not None
        if record.performed_pb:
            message.MergeFromString(record.performed_pb)
        if record.notes:
            message.notes = record.notes


def log_to_pb(record: LogRecord, *, full: bool, feedback: bool = False) -> pb.SessionLog:
    message = pb.SessionLog()
    fill_log(message, record, full=full, feedback=feedback)
    return message


def _message_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def log_to_export_json(user_id: str, record: LogRecord) -> str:
    """One stored log as the data export shows it: every column, the protobuf columns decoded
    into readable JSON (planned and adjusted prescriptions, performed sets, feedback)."""
    performed = pb.SessionLog.FromString(record.performed_pb) if record.performed_pb else pb.SessionLog()
    row = {
        "user_id": user_id,
        "program_id": str(record.program_id),
        "week_number": record.week_number,
        "day_number": record.day_number,
        "title": record.title,
        "planned_date": record.planned_date.isoformat() if record.planned_date else None,
        "status": record.status,
        "scheduled_date": record.scheduled_date.isoformat() if record.scheduled_date else None,
        "completed_at": record.completed_at.isoformat() if record.completed_at else None,
        "skip_reason": record.skip_reason,
        "session_rpe": record.session_rpe,
        "notes": record.notes,
        "planned_session": _message_json(training_pb2.PlannedSession.FromString(record.planned_pb or b"")),
        "adjusted_session": (
            _message_json(training_pb2.PlannedSession.FromString(record.adjusted_pb)) if record.adjusted_pb else None
        ),
        "performed_sets": [_message_json(s) for s in performed.performed_sets],
        "feedback": _message_json(pb.FeedbackSummary.FromString(record.feedback_pb)) if record.feedback_pb else None,
        "version": record.version,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    return json.dumps(row, ensure_ascii=False)


def analytics_query(request: pb.GetTrainingAnalyticsRequest) -> AnalyticsQuery:
    """A program, or a date range (both ends, inclusive, at most 5 years); never both, never neither."""
    has_range = bool(request.start_date or request.end_date)
    if request.program_id:
        if has_range:
            raise InvalidArgument("program_id", "give a program_id or a start_date and end_date, not both")
        return AnalyticsQuery(program_id=program_id(request.program_id))
    if not has_range:
        raise InvalidArgument(
            [
                FieldViolation("program_id", "give a program_id, or a start_date and end_date"),
                FieldViolation("start_date", "give a program_id, or a start_date and end_date"),
            ]
        )
    for field, value in (("start_date", request.start_date), ("end_date", request.end_date)):
        if not value:
            raise InvalidArgument(field, "a date range needs both start_date and end_date")
    start = parse_iso_date("start_date", request.start_date)
    end = parse_iso_date("end_date", request.end_date)
    check_date_range(start, end)
    return AnalyticsQuery(start=start, end=end)


UNIT_ENUMS = {"kg": training_pb2.WEIGHT_UNIT_KG, "lb": training_pb2.WEIGHT_UNIT_LB}


def analytics_to_pb(result: TrainingAnalytics) -> pb.GetTrainingAnalyticsResponse:
    figures = result.figures
    response = pb.GetTrainingAnalyticsResponse(
        display_unit=UNIT_ENUMS[result.display_unit],
        rpe_drift=figures.rpe_drift,
        average_reported_rpe=figures.average_reported_rpe,
        average_target_rpe=figures.average_target_rpe,
        current_streak_weeks=figures.streaks.current_weeks,
        longest_streak_weeks=figures.streaks.longest_weeks,
        tonnage_kg=figures.tonnage_kg,
        hard_sets=figures.hard_sets,
        rpe_set_count=figures.rpe_set_count,
    )
    totals = response.totals
    totals.planned_sessions = figures.planned_sessions
    totals.completed_sessions = figures.completed_sessions
    totals.skipped_sessions = figures.skipped_sessions
    totals.completion_rate = figures.adherence_rate
    for week in figures.weeks:
        response.weeks.add(
            week_start_date=week.week_start.isoformat() if week.week_start is not None else "",
            week_number=week.week_number,
            planned_sessions=week.planned_sessions,
            completed_sessions=week.completed_sessions,
            skipped_sessions=week.skipped_sessions,
            adherence_rate=week.adherence_rate,
            tonnage_kg=week.tonnage_kg,
            hard_sets=week.hard_sets,
        )
    for lift in figures.lifts:
        lift_pb = response.lifts.add(
            main_lift=MAIN_LIFT_ENUMS[lift.lift],
            tonnage_kg=lift.tonnage_kg,
            hard_sets=lift.hard_sets,
            best_e1rm_kg=lift.best_e1rm_kg,
            heaviest_load_kg=lift.heaviest_load_kg,
        )
        trend = lift_pb.e1rm_trend
        for day, e1rm, best_set in lift.trend:
            trend.add(date=day.isoformat(), e1rm_kg=e1rm).best_set.CopyFrom(best_set)
    for group in figures.muscle_groups:
        response.muscle_groups.add(
            muscle_group=group.muscle_group, tonnage_kg=group.tonnage_kg, hard_sets=group.hard_sets
        )
    for record in figures.records:
        response.personal_records.add(
            main_lift=MAIN_LIFT_ENUMS[record.lift],
            exercise_id=record.set.exercise_id,
            kind=record.kind,
            value=record.value_kg,
            date=record.day.isoformat(),
            set=record.set,
        )
    return response
