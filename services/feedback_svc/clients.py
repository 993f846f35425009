"""Typed clients for the services the feedback service calls (service token and deadline on
every call; failures become domain errors, a service that is down is Unavailable)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ironpath.common.v1 import training_pb2 as t
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.clients import ServiceChannel
from ironpath_common.errors import NotFound
from ironpath_training.plan import PlannedSession
from ironpath_training.proto import session_from_pb

UNITS = {t.WEIGHT_UNIT_KG: "kg", t.WEIGHT_UNIT_LB: "lb"}
# A week of sessions at most: pain and missing equipment change this many.
FOLLOWING_SESSIONS = 6
PAGE_SIZE = 500


@dataclass(frozen=True)
class PlannedContext:
    session: PlannedSession
    # The sessions after it, a week of them at most (days_per_week): all that feedback changes.
    following: list[PlannedSession]
    days_per_week: int
    unit: str


def planned_context(reply: program_pb2.GetPlannedSessionResponse) -> PlannedContext:
    # Only the week that feedback can change is converted (a 3-day program asks for 6 and uses 3).
    return PlannedContext(
        session=session_from_pb(reply.session),
        following=[session_from_pb(s) for s in reply.following_sessions[: reply.days_per_week]],
        days_per_week=reply.days_per_week,
        unit=UNITS.get(reply.display_unit, "kg"),
    )


class ProgramClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = program_pb2_grpc.ProgramInternalServiceStub(channel.channel)

    async def planned_session(
        self, user_id: str, ref: t.SessionRef, following: int = FOLLOWING_SESSIONS
    ) -> PlannedContext:
        """The session as planned and the ones after it: NOT_FOUND for a program the user
        cannot read, INVALID_ARGUMENT for a session outside the program."""
        reply = await self._channel.call(
            self._stub.GetPlannedSession,
            program_pb2.GetPlannedSessionRequest(user_id=user_id, session=ref, following_count=following),
        )
        return planned_context(reply)

    async def check_access(self, user_id: str, program_id: str) -> None:
        """Raises NotFound unless the user owns the program: a check-in is the lifter's own write,
        and a coach's read-only grant does not allow it (answered as for a missing program)."""
        reply = await self._channel.call(
            self._stub.CheckProgramAccess,
            program_pb2.CheckProgramAccessRequest(user_id=user_id, program_id=program_id),
        )
        if reply.access != program_pb2.PROGRAM_ACCESS_OWNER:
            raise NotFound("program not found")


class ProgressClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = progress_pb2_grpc.ProgressInternalServiceStub(channel.channel)
        self._record_feedback = channel.stored_request_call(
            progress_pb2.DESCRIPTOR.services_by_name["ProgressInternalService"].methods_by_name["RecordSessionFeedback"]
        )

    async def record_session_feedback(self, payload: bytes) -> None:
        """Delivers a stored RecordSessionFeedback event (idempotent on the receiving side)."""
        await self._channel.call(self._record_feedback, payload)

    async def logs(
        self, user_id: str, program_id: str, time_field: Any, start: date, end: date
    ) -> list[progress_pb2.SessionLog]:
        """Every log of the program whose `time_field` falls in [start, end] (dates, inclusive), full view."""
        request = progress_pb2.ListUserSessionLogsRequest(
            user_id=user_id,
            program_id=program_id,
            time_field=time_field,
            view=progress_pb2.PROGRESS_VIEW_FULL,
            page_size=PAGE_SIZE,
        )
        request.start_time.FromDatetime(_midnight(start))
        request.end_time.FromDatetime(_midnight(end + timedelta(days=1)))
        logs: list[progress_pb2.SessionLog] = []
        while True:
            reply = await self._channel.call(self._stub.ListUserSessionLogs, request)
            logs += reply.logs
            if not reply.next_page_token:
                return logs
            request.page_token = reply.next_page_token


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
