"""gRPC transport of the progress service: validate, run a use case in one transaction, map.

Mutating public RPCs run through `run_once`, so a retried `request_id` returns the first
response and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

import grpc

from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from ironpath_common.db import Database
from ironpath_common.errors import InvalidArgument, NotFound
from ironpath_common.idempotency import run_once
from ironpath_common.interceptors import current_service, current_user
from ironpath_training.proto import performed_sets_from_pb
from ironpath_training.sets import check_completion_time, check_rpe
from progress_svc import legacy_import, mappers, service
from progress_svc.domain import (
    MAX_REASON_CHARS,
    MAX_SESSIONS_PER_PROGRAM,
    MAX_TITLE_CHARS,
    SessionKey,
    View,
    check_position,
    check_text,
    parse_iso_date,
)
from progress_svc.models import processed_requests
from progress_svc.repository import NewLog
from progress_svc.watch import RESYNC, ChangeFeed

Clock = Callable[[], datetime]
# Logs read per transaction by the data export.
EXPORT_PAGE_SIZE = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProgressServicer(pb_grpc.ProgressServiceServicer):
    def __init__(
        self,
        db: Database,
        feed: ChangeFeed,
        programs: service.ProgramDirectory,
        clock: Clock = utc_now,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self._db = db
        self._feed = feed
        self._programs = programs
        self._clock = clock
        self._keepalive_seconds = keepalive_seconds

    async def ScheduleWorkout(
        self, request: pb.ScheduleWorkoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.ScheduleWorkoutResponse:
        user = current_user()
        key = mappers.session_key(request.session)
        scheduled = parse_iso_date("scheduled_date", request.scheduled_date)
        version = mappers.etag(request.etag)
        async with self._db.transaction() as session:

            async def effect() -> pb.ScheduleWorkoutResponse:
                record = await service.schedule_session(session, user.user_id, key, scheduled, version)
                return pb.ScheduleWorkoutResponse(log=mappers.log_to_pb(record, full=False))

            return await run_once(
                session,
                processed_requests,
                user.user_id,
                "ScheduleWorkout",
                request,
                pb.ScheduleWorkoutResponse,
                effect,
            )

    async def MarkSessionComplete(
        self, request: pb.MarkSessionCompleteRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkSessionCompleteResponse:
        user = current_user()
        now = self._clock()
        completion = service.Completion(
            key=mappers.session_key(request.session),
            completed_at=_completion_time(request.complete_time, "complete_time", now),
            performed_sets=performed_sets_from_pb(request.performed_sets, "performed_sets"),
            session_rpe=_session_rpe(request.session_rpe),
        )
        async with self._db.transaction() as session:

            async def effect() -> pb.MarkSessionCompleteResponse:
                record = await service.complete_session(session, user.user_id, completion)
                return pb.MarkSessionCompleteResponse(log=mappers.log_to_pb(record, full=True))

            return await run_once(
                session,
                processed_requests,
                user.user_id,
                "MarkSessionComplete",
                request,
                pb.MarkSessionCompleteResponse,
                effect,
            )

    async def SkipSession(
        self, request: pb.SkipSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SkipSessionResponse:
        user = current_user()
        key = mappers.session_key(request.session)
        check_text("skip_reason", request.skip_reason, MAX_REASON_CHARS)
        async with self._db.transaction() as session:

            async def effect() -> pb.SkipSessionResponse:
                record = await service.skip_session(session, user.user_id, key, request.skip_reason)
                return pb.SkipSessionResponse(log=mappers.log_to_pb(record, full=False))

            return await run_once(
                session, processed_requests, user.user_id, "SkipSession", request, pb.SkipSessionResponse, effect
            )

    async def ImportLegacyProgress(
        self, request: pb.ImportLegacyProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportLegacyProgressResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        state = legacy_import.parse_state(request.legacy_state_json, self._clock())
        async with self._db.transaction() as session:

            async def effect() -> pb.ImportLegacyProgressResponse:
                results = await service.import_legacy_progress(session, user.user_id, program_id, state)
                accepted = sum(result.accepted for result in results)
                return pb.ImportLegacyProgressResponse(
                    accepted_count=accepted,
                    refused_count=len(results) - accepted,
                    items=[pb.ImportItemResult(path=r.path, accepted=r.accepted, reason=r.reason) for r in results],
                )

            return await run_once(
                session,
                processed_requests,
                user.user_id,
                "ImportLegacyProgress",
                request,
                pb.ImportLegacyProgressResponse,
                effect,
            )

    async def GetProgramProgress(
        self, request: pb.GetProgramProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProgramProgressResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        full = mappers.view(request.view) is View.FULL
        async with self._db.autocommit() as session:
            progress = await service.readable_progress(session, self._programs, user.user_id, program_id, full=full)
        response = pb.GetProgramProgressResponse(program_id=program_id)
        mappers.totals_to_pb(progress.totals, response.totals)
        logs = response.logs
        for record in progress.logs:
            mappers.fill_log(logs.add(), record, full=full, program_id=program_id)
        return response

    async def GetWeekProgress(
        self, request: pb.GetWeekProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWeekProgressResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        check_position("", request.week_number, 1)
        full = mappers.view(request.view) is View.FULL
        async with self._db.transaction() as session:
            owner = await service.readable_owner(session, self._programs, user.user_id, program_id)
            progress = await service.week_progress(session, owner, program_id, request.week_number, full=full)
        response = pb.GetWeekProgressResponse(program_id=program_id, week_number=request.week_number)
        mappers.totals_to_pb(progress.totals, response.totals)
        for record in progress.logs:
            mappers.fill_log(response.logs.add(), record, full=full)
        return response

    async def ListSessionLogs(
        self, request: pb.ListSessionLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionLogsResponse:
        user = current_user()
        logs, token = await _list_logs(self._db, user.user_id, request, self._programs)
        return pb.ListSessionLogsResponse(logs=logs, next_page_token=token)

    async def WatchProgress(
        self, request: pb.WatchProgressRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchProgressResponse]:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        # Subscribe before the access check, so no change slips between the two.
        with self._feed.subscribe(program_id) as changes:
            async with self._db.transaction() as session:
                owner = await service.readable_owner(session, self._programs, user.user_id, program_id)
                if owner == user.user_id and not await service.program_exists(session, owner, program_id):
                    raise NotFound(service.PROGRAM_NOT_FOUND)
            # The first message flushes response headers through proxies at once.
            yield self._keepalive()
            while True:
                try:
                    first = await asyncio.wait_for(changes.get(), timeout=self._keepalive_seconds)
                except TimeoutError:
                    yield self._keepalive()
                    continue
                changed = {first}
                while not changes.empty():
                    changed.add(changes.get_nowait())
                if owner != user.user_id:
                    # A coach's stream ends with NOT_FOUND once the grant is revoked or expires.
                    async with self._db.transaction() as session:
                        await service.readable_owner(session, self._programs, user.user_id, program_id)
                for message in await self._changed_logs(owner, program_id, changed):
                    yield message

    async def _changed_logs(
        self, user_id: str, program_id: str, changed: set[tuple[int, int]]
    ) -> list[pb.WatchProgressResponse]:
        async with self._db.transaction() as session:
            if RESYNC in changed:
                records = (await service.program_progress(session, user_id, program_id, full=False)).logs
            else:
                records = await service.logs_at(
                    session, user_id, [SessionKey(program_id, week, day) for week, day in sorted(changed)]
                )
        return [
            pb.WatchProgressResponse(log_changed=mappers.log_to_pb(record, full=False, feedback=True))
            for record in records
        ]

    async def GetTrainingAnalytics(
        self, request: pb.GetTrainingAnalyticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTrainingAnalyticsResponse:
        user = current_user()
        query = mappers.analytics_query(request)
        today = self._clock().date()
        # Reads only: autocommit saves the BEGIN and COMMIT round trips.
        async with self._db.autocommit() as session:
            result = await service.training_analytics(session, self._programs, user.user_id, query, today)
        return mappers.analytics_to_pb(result)

    def _keepalive(self) -> pb.WatchProgressResponse:
        message = pb.WatchProgressResponse(keep_alive=pb.KeepAlive())
        message.keep_alive.send_time.FromDatetime(self._clock())
        return message


class ProgressInternalServicer(pb_grpc.ProgressInternalServiceServicer):
    """Called by the program and feedback services (service token); each request names its user."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def InitializeProgramLogs(
        self, request: pb.InitializeProgramLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.InitializeProgramLogsResponse:
        current_service()
        user_id = mappers.user_id(request.user_id)
        program_id = mappers.program_id(request.program_id)
        if not 1 <= len(request.sessions) <= MAX_SESSIONS_PER_PROGRAM:
            raise InvalidArgument("sessions", f"must hold 1-{MAX_SESSIONS_PER_PROGRAM} sessions")
        logs = []
        for i, planned in enumerate(request.sessions):
            check_position(f"sessions[{i}]", planned.week_number, planned.day_number)
            check_text(f"sessions[{i}].title", planned.title, MAX_TITLE_CHARS)
            planned_date = (
                parse_iso_date(f"sessions[{i}].planned_date", planned.planned_date) if planned.planned_date else None
            )
            logs.append(
                NewLog(
                    planned.week_number, planned.day_number, planned.title, planned_date, planned.SerializeToString()
                )
            )
        async with self._db.autocommit() as session:  # one statement, atomic on its own
            created, total = await service.initialize_program_logs(session, user_id, program_id, logs)
        return pb.InitializeProgramLogsResponse(created_count=created, total_count=total)

    async def RecordSessionFeedback(
        self, request: pb.RecordSessionFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordSessionFeedbackResponse:
        current_service()
        event_id = mappers.event_id(request.event_id)
        user_id = mappers.user_id(request.user_id)
        completion = service.Completion(
            key=mappers.session_key(request.session),
            completed_at=_completion_time(request.complete_time, "complete_time", self._clock()),
            performed_sets=performed_sets_from_pb(request.performed_sets, "performed_sets"),
            session_rpe=_session_rpe(request.feedback.session_rpe),
            feedback=request.feedback.SerializeToString() if request.HasField("feedback") else None,
        )
        adjusted = []
        for i, planned in enumerate(request.adjusted_sessions):
            check_position(f"adjusted_sessions[{i}]", planned.week_number, planned.day_number)
            adjusted.append((planned.week_number, planned.day_number, planned.SerializeToString()))
        async with self._db.autocommit() as connection:  # the common case is one statement
            done = await service.record_first_completion_with_feedback(
                connection, event_id, user_id, completion, adjusted
            )
        if not done:  # completed before (a merge), a replay, or no such session
            async with self._db.transaction() as session:
                await service.record_session_feedback(session, event_id, user_id, completion, adjusted)
        return pb.RecordSessionFeedbackResponse()

    async def ListUserSessionLogs(
        self, request: pb.ListUserSessionLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListUserSessionLogsResponse:
        current_service()
        user_id = mappers.user_id(request.user_id)
        logs, token = await _list_logs(self._db, user_id, request)
        return pb.ListUserSessionLogsResponse(logs=logs, next_page_token=token)

    async def ExportUserData(
        self, request: pb.ExportUserDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportUserDataResponse]:
        """Every log of the user, one message per row, read a page at a time."""
        current_service()
        user_id = mappers.user_id(request.user_id)
        after: tuple[str, int, int] | None = None
        while True:
            async with self._db.transaction() as session:
                records = await service.export_logs(session, user_id, after, EXPORT_PAGE_SIZE)
            for record in records:
                yield pb.ExportUserDataResponse(
                    table="progress_logs", record_json=mappers.log_to_export_json(user_id, record)
                )
            if len(records) < EXPORT_PAGE_SIZE:
                return
            last = records[-1]
            after = (str(last.program_id), last.week_number, last.day_number)

    async def EraseUserData(
        self, request: pb.EraseUserDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseUserDataResponse:
        current_service()
        event_id = mappers.event_id(request.event_id)
        user_id = mappers.user_id(request.user_id)
        async with self._db.transaction() as session:
            deleted = await service.erase_user_data(session, event_id, user_id)
        return pb.EraseUserDataResponse(deleted_rows=deleted)


def _completion_time(value: object, field: str, now: datetime) -> datetime:
    moment = mappers.timestamp(value, field, default=now)  # type: ignore[arg-type]
    check_completion_time(field, moment, now)
    return moment


def _session_rpe(value: float) -> float | None:
    check_rpe("session_rpe", value, optional=True)
    return value or None


_TIME_COLUMNS = {
    pb.LOG_TIME_FIELD_UNSPECIFIED: None,
    pb.LOG_TIME_FIELD_COMPLETED: "completed_at",
    pb.LOG_TIME_FIELD_SCHEDULED: "scheduled_date",
    pb.LOG_TIME_FIELD_DUE: "due_date",
}


async def _list_logs(
    db: Database,
    user_id: str,
    request: pb.ListSessionLogsRequest | pb.ListUserSessionLogsRequest,
    programs: service.ProgramDirectory | None = None,
) -> tuple[list[pb.SessionLog], str]:
    """`programs` set: a public call, where a program id may name a program the caller reads
    as a coach. Unset: an internal call, which names the user whose logs it wants."""
    program_id = mappers.program_id(request.program_id) if request.program_id else None
    if request.time_field not in _TIME_COLUMNS:
        raise InvalidArgument("time_field", "unknown time field")
    time_column = _TIME_COLUMNS[request.time_field]
    start: datetime | date | None = None
    end: datetime | date | None = None
    if request.HasField("start_time"):
        start = mappers.timestamp(request.start_time, "start_time", default=datetime.min.replace(tzinfo=UTC))
    if request.HasField("end_time"):
        end = mappers.timestamp(request.end_time, "end_time", default=datetime.max.replace(tzinfo=UTC))
    if start is not None and end is not None and end < start:
        raise InvalidArgument("end_time", "must not be before start_time")
    if time_column in ("scheduled_date", "due_date"):
        start = start.date() if isinstance(start, datetime) else start
        end = end.date() if isinstance(end, datetime) else end
    limit = mappers.page_size(request.page_size)
    full = mappers.view(request.view) is View.FULL
    after = mappers.decode_page_token(request.page_token)
    async with db.transaction() as session:
        if programs is not None and program_id is not None:
            user_id = await service.readable_owner(session, programs, user_id, program_id)
        records = await service.list_logs(
            session,
            user_id,
            program_id=program_id,
            time_column=time_column,
            start=start,
            end=end,
            after=after,
            limit=limit + 1,
            full=full,
        )
    token = mappers.encode_page_token(records[limit - 1]) if len(records) > limit else ""
    return [mappers.log_to_pb(r, full=full, feedback=True) for r in records[:limit]], token
