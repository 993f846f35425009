"""gRPC transport of the feedback service: validate, read what other services know (outside
any transaction), run a use case in one transaction, map; deliver outbox events after commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta

import grpc

from feedback_svc import domain, mappers, service
from feedback_svc.clients import ProgramClient, ProgressClient
from feedback_svc.models import processed_requests
from ironpath.feedback.v1 import feedback_pb2 as pb
from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from ironpath.progress.v1 import progress_pb2
from ironpath_common.db import Database
from ironpath_common.errors import DomainError, InvalidArgument
from ironpath_common.idempotency import parse_request_id, previous_response, run_once
from ironpath_common.interceptors import current_service, current_user
from ironpath_common.outbox import OutboxRelay, new_event_id
from ironpath_training.proto import performed_sets_from_pb
from ironpath_training.sets import check_completion_time

Clock = Callable[[], datetime]
DEFAULT_CHECK_IN_DAYS = 7
MAX_PERIOD_DAYS = 5 * 366
# Rows read per transaction by the data export.
EXPORT_PAGE_SIZE = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class FeedbackServicer(pb_grpc.FeedbackServiceServicer):
    def __init__(
        self,
        db: Database,
        programs: ProgramClient,
        progress: ProgressClient,
        relay: OutboxRelay,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._programs = programs
        self._progress = progress
        self._relay = relay
        self._clock = clock

    async def SubmitWorkoutFeedback(
        self, request: pb.SubmitWorkoutFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitWorkoutFeedbackResponse:
        user = current_user()
        now = self._clock()
        ref = mappers.session_ref(request.session)
        feedback = mappers.feedback(request)
        domain.check_feedback(feedback, request.notes)
        completed_at = mappers.timestamp(request.complete_time, "complete_time", default=now)
        check_completion_time("complete_time", completed_at, now)
        performed_sets_from_pb(request.performed_sets, "performed_sets")
        parse_request_id(request.request_id)
        method = "SubmitWorkoutFeedback"
        try:
            plan = await self._programs.planned_session(user.user_id, ref)
        except DomainError:
            # A retry gets the first response even when the program has changed or is out of
            # reach since; a new request gets the error.
            replay = await self._replay(user.user_id, method, request)
            if replay is not None:
                return replay
            raise
        adjusted = domain.adjust(plan.session, plan.following, feedback, plan.unit)
        feedback_id = str(uuid.uuid4())
        response = mappers.feedback_response(feedback_id, ref, request, completed_at, now, adjusted)
        # One statement, atomic by itself: autocommit saves the BEGIN and COMMIT round trips.
        async with self._db.autocommit() as connection:
            event = await service.record_feedback(
                connection,
                method=method,
                request=request,
                response=response,
                feedback_id=feedback_id,
                user_id=user.user_id,
                program_id=ref.program_id,
                week=ref.week_number,
                day=ref.day_number,
                feedback=feedback,
                notes=request.notes,
                completed_at=completed_at,
                created_at=now,
                adjusted=adjusted,
                # The event carries exactly what the lifter is told.
                event=mappers.record_feedback_event(new_event_id(), user.user_id, response, request),
            )
        if event is None:  # a retry: the first call stored its response with its claim
            replay = await self._replay(user.user_id, method, request)
            assert replay is not None  # the claim is committed (a concurrent one was waited for)
            return replay
        # Stored: complete the session in the progress service now, so it shows on return.
        await self._relay.deliver_now([event])
        return response

    async def _replay(
        self, user_id: str, method: str, request: pb.SubmitWorkoutFeedbackRequest
    ) -> pb.SubmitWorkoutFeedbackResponse | None:
        async with self._db.autocommit() as connection:
            return await previous_response(
                connection, processed_requests, user_id, method, request, pb.SubmitWorkoutFeedbackResponse
            )

    async def PerformCheckIn(
        self, request: pb.PerformCheckInRequest, context: grpc.aio.ServicerContext
    ) -> pb.PerformCheckInResponse:
        user = current_user()
        program_id = mappers.uuid_field(request.program_id, "program_id")
        end = mappers.iso_date(request.period_end_date, "period_end_date") or self._clock().date()
        start = mappers.iso_date(request.period_start_date, "period_start_date") or end - timedelta(
            days=DEFAULT_CHECK_IN_DAYS - 1
        )
        if start > end:
            raise InvalidArgument("period_start_date", "must not be after period_end_date")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise InvalidArgument("period_start_date", "a period covers at most 5 years")
        method = "PerformCheckIn"
        async with self._db.autocommit() as session:
            replay = await previous_response(
                session, processed_requests, user.user_id, method, request, pb.PerformCheckInResponse
            )
        if replay is not None:
            return replay
        await self._programs.check_access(user.user_id, program_id)
        length = (end - start).days + 1
        current = await self._period(user.user_id, program_id, start, end)
        previous = await self._period(
            user.user_id, program_id, start - timedelta(days=length), start - timedelta(days=1)
        )
        async with self._db.transaction() as session:

            async def effect() -> pb.PerformCheckInResponse:
                record = await service.save_check_in(session, user.user_id, program_id, start, end, current, previous)
                return pb.PerformCheckInResponse(check_in=mappers.check_in_to_pb(record))

            return await run_once(
                session, processed_requests, user.user_id, method, request, pb.PerformCheckInResponse, effect
            )

    async def _period(self, user_id: str, program_id: str, start: date, end: date) -> domain.PeriodFigures:
        """Sessions due in the period, read from the progress service (never from the client),
        plus undated sessions (a program without a start date) completed in it."""
        due = await self._progress.logs(user_id, program_id, progress_pb2.LOG_TIME_FIELD_DUE, start, end)
        done = await self._progress.logs(user_id, program_id, progress_pb2.LOG_TIME_FIELD_COMPLETED, start, end)
        undated = [log for log in done if not (log.scheduled_date or log.planned_date)]
        return domain.period_figures(mappers.logged_sessions([*due, *undated]))

    async def ListCheckIns(
        self, request: pb.ListCheckInsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCheckInsResponse:
        user = current_user()
        program_id = mappers.uuid_field(request.program_id, "program_id") if request.program_id else None
        limit = mappers.page_size(request.page_size)
        token = mappers.decode_page_token(request.page_token)
        after = None
        if token is not None:
            try:
                after = (datetime.fromisoformat(token[0]), token[1])
            except ValueError:
                raise InvalidArgument("page_token", "is not a page token this service issued") from None
        async with self._db.autocommit() as session:
            found = await service.list_check_ins(session, user.user_id, program_id, after, limit + 1)
        response = pb.ListCheckInsResponse(check_ins=[mappers.check_in_to_pb(r) for r in found[:limit]])
        if len(found) > limit:
            last = found[limit - 1]
            response.next_page_token = mappers.encode_page_token(last.created_at.isoformat(), last.check_in_id)
        return response

    async def SubmitReadinessCheck(
        self, request: pb.SubmitReadinessCheckRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitReadinessCheckResponse:
        user = current_user()
        day = mappers.iso_date(request.date, "date") or self._clock().date()
        answers = mappers.readiness(request)
        domain.check_readiness(answers)
        ref = mappers.session_ref(request.session) if request.HasField("session") else None
        method = "SubmitReadinessCheck"
        async with self._db.autocommit() as session:
            replay = await previous_response(
                session, processed_requests, user.user_id, method, request, pb.SubmitReadinessCheckResponse
            )
        if replay is not None:
            return replay
        result = domain.readiness(answers)
        adjusted = None
        if ref is not None:
            plan = await self._programs.planned_session(user.user_id, ref, following=0)
            adjusted = domain.apply_readiness(plan.session, result, plan.unit)
        async with self._db.transaction() as session:

            async def effect() -> pb.SubmitReadinessCheckResponse:
                record = await service.save_readiness(
                    session,
                    user.user_id,
                    day,
                    answers,
                    result,
                    (ref.program_id, ref.week_number, ref.day_number) if ref is not None else None,
                    mappers.adjusted_session_bytes(adjusted),
                )
                return pb.SubmitReadinessCheckResponse(readiness_check=mappers.readiness_to_pb(record))

            return await run_once(
                session, processed_requests, user.user_id, method, request, pb.SubmitReadinessCheckResponse, effect
            )

    async def ListReadinessChecks(
        self, request: pb.ListReadinessChecksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReadinessChecksResponse:
        user = current_user()
        start = mappers.iso_date(request.start_date, "start_date")
        end = mappers.iso_date(request.end_date, "end_date")
        if start is not None and end is not None and start > end:
            raise InvalidArgument("start_date", "must not be after end_date")
        limit = mappers.page_size(request.page_size)
        token = mappers.decode_page_token(request.page_token)
        after = None
        if token is not None:
            try:
                after = (date.fromisoformat(token[0]), token[1])
            except ValueError:
                raise InvalidArgument("page_token", "is not a page token this service issued") from None
        async with self._db.autocommit() as session:
            found = await service.list_readiness(session, user.user_id, start, end, after, limit + 1)
        response = pb.ListReadinessChecksResponse(readiness_checks=[mappers.readiness_to_pb(r) for r in found[:limit]])
        if len(found) > limit:
            last = found[limit - 1]
            response.next_page_token = mappers.encode_page_token(last.date.isoformat(), last.readiness_check_id)
        return response


class FeedbackInternalServicer(pb_grpc.FeedbackInternalServiceServicer):
    """The lifter's data rights, called by the program service (service token); each request
    names its user."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ExportUserData(
        self, request: pb.ExportUserDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportUserDataResponse]:
        """Every row of the user, one message per row: all workout feedback, then check-ins, then
        readiness checks, each read a page at a time."""
        current_service()
        user_id = mappers.user_id(request.user_id)
        for table in service.EXPORTED_TABLES:
            after: uuid.UUID | None = None
            while True:
                async with self._db.autocommit() as session:
                    rows, after = await service.export_page(session, table, user_id, after, EXPORT_PAGE_SIZE)
                for row in rows:
                    yield pb.ExportUserDataResponse(table=table, record_json=mappers.row_to_export_json(row))
                if after is None:
                    break

    async def EraseUserData(
        self, request: pb.EraseUserDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseUserDataResponse:
        current_service()
        event_id = mappers.uuid_field(request.event_id, "event_id")
        user_id = mappers.user_id(request.user_id)
        async with self._db.transaction() as session:
            deleted = await service.erase_user_data(session, event_id, user_id)
        return pb.EraseUserDataResponse(deleted_rows=deleted)
