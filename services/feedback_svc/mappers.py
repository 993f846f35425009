"""Protobuf <-> domain for the feedback service, with request validation that names fields."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from feedback_svc.domain import Adjusted, Adjustment, Category, Feedback, LoggedSession, Readiness
from feedback_svc.repository import CheckInRecord, ReadinessRecord
from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2 as pb
from ironpath.progress.v1 import progress_pb2
from ironpath_common import pagination
from ironpath_common.errors import InvalidArgument
from ironpath_training.plan import PlannedSession
from ironpath_training.proto import BODY_AREAS, EQUIPMENT, session_to_pb

CATEGORIES: dict[Any, Category] = {
    t.FEEDBACK_CATEGORY_TOO_EASY: Category.TOO_EASY,
    t.FEEDBACK_CATEGORY_TOO_HARD: Category.TOO_HARD,
    t.FEEDBACK_CATEGORY_JOINT_PAIN: Category.JOINT_PAIN,
    t.FEEDBACK_CATEGORY_EXCESSIVE_FATIGUE: Category.EXCESSIVE_FATIGUE,
    t.FEEDBACK_CATEGORY_SHORT_ON_TIME: Category.SHORT_ON_TIME,
    t.FEEDBACK_CATEGORY_EQUIPMENT_UNAVAILABLE: Category.EQUIPMENT_UNAVAILABLE,
    t.FEEDBACK_CATEGORY_POOR_SLEEP: Category.POOR_SLEEP,
    t.FEEDBACK_CATEGORY_FELT_GREAT: Category.FELT_GREAT,
    t.FEEDBACK_CATEGORY_TECHNIQUE_BREAKDOWN: Category.TECHNIQUE_BREAKDOWN,
}
CATEGORY_ENUMS = {v: k for k, v in CATEGORIES.items()}
CHECK_IN_RECOMMENDATIONS = {
    "progress": pb.CHECK_IN_RECOMMENDATION_PROGRESS,
    "hold": pb.CHECK_IN_RECOMMENDATION_HOLD,
    "deload": pb.CHECK_IN_RECOMMENDATION_DELOAD,
}
READINESS_ADVICE = {
    "as_planned": pb.READINESS_RECOMMENDATION_AS_PLANNED,
    "lighter": pb.READINESS_RECOMMENDATION_LIGHTER,
    "less_volume": pb.READINESS_RECOMMENDATION_LESS_VOLUME,
    "rest": pb.READINESS_RECOMMENDATION_REST,
}
STATUSES = {
    progress_pb2.SESSION_STATUS_PLANNED: "planned",
    progress_pb2.SESSION_STATUS_SCHEDULED: "scheduled",
    progress_pb2.SESSION_STATUS_COMPLETED: "completed",
    progress_pb2.SESSION_STATUS_SKIPPED: "skipped",
}
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def uuid_field(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None


def session_ref(ref: t.SessionRef, field: str = "session") -> t.SessionRef:
    program_id = uuid_field(ref.program_id, f"{field}.program_id")
    if ref.week_number < 1:
        raise InvalidArgument(f"{field}.week_number", "must be 1 or more")
    if ref.day_number < 1:
        raise InvalidArgument(f"{field}.day_number", "must be 1 or more")
    return t.SessionRef(program_id=program_id, week_number=ref.week_number, day_number=ref.day_number)


def iso_date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, "must be an ISO date (YYYY-MM-DD)") from None


def timestamp(value: Timestamp, field: str, default: datetime) -> datetime:
    if value.seconds == 0 and value.nanos == 0:
        return default
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is not a valid timestamp") from None


def feedback(request: pb.SubmitWorkoutFeedbackRequest) -> Feedback:
    categories = []
    for i, value in enumerate(request.categories):
        if value not in CATEGORIES:
            raise InvalidArgument(f"categories[{i}]", "unknown or unspecified category")
        categories.append(CATEGORIES[value])
    if len(set(categories)) != len(categories):
        raise InvalidArgument("categories", "lists a category twice")
    pain_area = None
    if request.pain_area != t.BODY_AREA_UNSPECIFIED:
        if request.pain_area not in BODY_AREAS:
            raise InvalidArgument("pain_area", "unknown body area")
        pain_area = BODY_AREAS[request.pain_area]
    missing = []
    for i, item in enumerate(request.unavailable_equipment):
        if item not in EQUIPMENT:
            raise InvalidArgument(f"unavailable_equipment[{i}]", "unknown equipment")
        missing.append(EQUIPMENT[item])
    return Feedback(
        categories=frozenset(categories),
        session_rpe=request.session_rpe or None,
        pain_area=pain_area,
        unavailable_equipment=frozenset(missing),
    )


def readiness(request: pb.SubmitReadinessCheckRequest) -> Readiness:
    return Readiness(
        sleep_hours=request.sleep_hours,
        sleep_quality=request.sleep_quality,
        stress=request.stress,
        soreness=request.soreness,
        energy=request.energy,
        motivation=request.motivation,
    )


def page_size(value: int) -> int:
    return pagination.page_size(value, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(*parts: object) -> str:
    return pagination.encode_page_token(*parts)


def decode_page_token(token: str) -> tuple[str, str] | None:
    """(the last row's sort value, its id) from a token of ours."""
    parts = pagination.decode_page_token(token, 2)
    if parts is None:
        return None
    try:
        return parts[0], str(uuid.UUID(parts[1]))
    except ValueError:
        raise InvalidArgument("page_token", pagination.NOT_OURS) from None


def adjustment_to_pb(a: Adjustment, program_id: str) -> pb.Adjustment:
    return pb.Adjustment(
        session=t.SessionRef(program_id=program_id, week_number=a.week_number, day_number=a.day_number),
        exercise_id=a.exercise_id,
        kind=a.kind,
        load_change_percent=a.load_change_percent,
        sets_change=a.sets_change,
        rpe_change=a.rpe_change,
        substitute_exercise_id=a.substitute_exercise_id,
        reason=a.reason,
    )


def feedback_response(
    feedback_id: str,
    ref: t.SessionRef,
    request: pb.SubmitWorkoutFeedbackRequest,
    completed_at: datetime,
    created_at: datetime,
    adjusted: Adjusted,
) -> pb.SubmitWorkoutFeedbackResponse:
    message = pb.WorkoutFeedback(
        feedback_id=feedback_id,
        session=ref,
        categories=request.categories,
        pain_area=request.pain_area,
        notes=request.notes,
        session_rpe=request.session_rpe,
        adjustments=[adjustment_to_pb(a, ref.program_id) for a in adjusted.adjustments],
        adjustment_reason=adjusted.reason,
        unavailable_equipment=request.unavailable_equipment,
    )
    message.complete_time.FromDatetime(completed_at)
    message.create_time.FromDatetime(created_at)
    return pb.SubmitWorkoutFeedbackResponse(
        feedback=message, adjusted_sessions=[session_to_pb(s) for s in adjusted.sessions]
    )


def record_feedback_event(
    event_id: str,
    user_id: str,
    response: pb.SubmitWorkoutFeedbackResponse,
    request: pb.SubmitWorkoutFeedbackRequest,
) -> progress_pb2.RecordSessionFeedbackRequest:
    """The event the progress service applies: the session completed with its feedback, and the
    adjusted prescriptions placed on the sessions they change."""
    feedback = response.feedback
    return progress_pb2.RecordSessionFeedbackRequest(
        event_id=event_id,
        user_id=user_id,
        session=feedback.session,
        complete_time=feedback.complete_time,
        feedback=progress_pb2.FeedbackSummary(
            feedback_id=feedback.feedback_id,
            categories=feedback.categories,
            session_rpe=feedback.session_rpe,
            adjustment_reason=feedback.adjustment_reason,
        ),
        performed_sets=request.performed_sets,
        adjusted_sessions=response.adjusted_sessions,
    )


def logged_sessions(logs: Iterable[progress_pb2.SessionLog]) -> list[LoggedSession]:
    sessions = []
    for log in logs:
        due = log.scheduled_date or log.planned_date
        sessions.append(
            LoggedSession(
                status=STATUSES.get(log.status, "planned"),
                due=date.fromisoformat(due) if due else None,
                session_rpe=log.session_rpe or None,
                set_rpes=tuple(s.actual_rpe for s in log.performed_sets if s.HasField("actual_rpe")),
                target_rpes=tuple(s.rpe_target for e in log.prescription.exercises for s in e.sets if s.rpe_target),
            )
        )
    return sessions


def check_in_to_pb(record: CheckInRecord) -> pb.CheckIn:
    message = pb.CheckIn(
        check_in_id=record.check_in_id,
        program_id=record.program_id,
        period_start_date=record.period_start.isoformat(),
        period_end_date=record.period_end.isoformat(),
        sessions_planned=record.sessions_planned,
        sessions_completed=record.sessions_completed,
        sessions_skipped=record.sessions_skipped,
        adherence_rate=record.adherence,
        average_rpe=record.average_rpe,
        adherence_change=record.adherence_change,
        average_rpe_change=record.average_rpe_change,
        recommendation=CHECK_IN_RECOMMENDATIONS[record.recommendation],
        reason=record.reason,
    )
    message.create_time.FromDatetime(record.created_at)
    return message


def readiness_to_pb(record: ReadinessRecord) -> pb.ReadinessCheck:
    message = pb.ReadinessCheck(
        readiness_check_id=record.readiness_check_id,
        date=record.date.isoformat(),
        sleep_hours=record.sleep_hours,
        sleep_quality=record.sleep_quality,
        stress=record.stress,
        soreness=record.soreness,
        energy=record.energy,
        motivation=record.motivation,
        score=record.score,
        recommendation=READINESS_ADVICE[record.recommendation],
        load_reduction_percent=record.load_reduction_percent,
        reason=record.reason,
    )
    if record.program_id is not None and record.week_number is not None and record.day_number is not None:
        message.session.CopyFrom(
            t.SessionRef(program_id=record.program_id, week_number=record.week_number, day_number=record.day_number)
        )
    if record.adjusted_pb:
        message.adjusted_session.MergeFromString(record.adjusted_pb)
    message.create_time.FromDatetime(record.created_at)
    return message


def adjusted_session_bytes(session: PlannedSession | None) -> bytes | None:
    return session_to_pb(session).SerializeToString() if session is not None else None


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def row_to_export_json(row: dict[str, Any]) -> str:
    """One stored row as the data export shows it: every column, ids and times as strings, a
    stored prescription (readiness `adjusted_pb`) decoded into readable JSON."""
    data = {name: _json_value(value) for name, value in row.items() if not isinstance(value, bytes)}
    if "adjusted_pb" in row:
        stored = row["adjusted_pb"]
        data.pop("adjusted_pb", None)
        data["adjusted_session"] = (
            json_format.MessageToDict(
                t.PlannedSession.FromString(stored),
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )
            if stored
            else None
        )
    return json.dumps(data, ensure_ascii=False)


def user_id(value: str) -> str:
    if not value or len(value) > 128:
        raise InvalidArgument("user_id", "must be 1-128 characters")
    return value
