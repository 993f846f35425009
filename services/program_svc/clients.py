"""Typed clients for the services the program service calls (service token, deadline, errors
mapped to domain errors by ServiceChannel)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.clients import ServiceChannel

# Initializing 300+ logs is one statement on the other side; this leaves room for a busy moment.
INITIALIZE_DEADLINE_SECONDS = 10.0
# A whole export stream: years of logs take well under a second to read, but the stream moves at
# the pace of the client downloading the file.
EXPORT_DEADLINE_SECONDS = 600.0


_PROGRESS_INTERNAL = progress_pb2.DESCRIPTOR.services_by_name["ProgressInternalService"].methods_by_name
_FEEDBACK_INTERNAL = feedback_pb2.DESCRIPTOR.services_by_name["FeedbackInternalService"].methods_by_name


class ProgressClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = progress_pb2_grpc.ProgressInternalServiceStub(channel.channel)
        self._initialize_logs = channel.stored_request_call(_PROGRESS_INTERNAL["InitializeProgramLogs"])
        self._erase = channel.stored_request_call(_PROGRESS_INTERNAL["EraseUserData"])

    async def initialize_program_logs(self, payload: bytes) -> None:
        """Delivers a stored InitializeProgramLogs event (idempotent on the receiving side)."""
        await self._channel.call(self._initialize_logs, payload, INITIALIZE_DEADLINE_SECONDS)

    async def erase_user_data(self, payload: bytes) -> None:
        """Delivers a stored EraseUserData event (idempotent on the receiving side)."""
        await self._channel.call(self._erase, payload)

    async def export_user_data(self, user_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every row the progress service holds for the user: (table, row as JSON)."""
        request = progress_pb2.ExportUserDataRequest(user_id=user_id)
        async for reply in self._channel.stream(self._stub.ExportUserData, request, EXPORT_DEADLINE_SECONDS):
            yield reply.table, reply.record_json


class FeedbackClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = feedback_pb2_grpc.FeedbackInternalServiceStub(channel.channel)
        self._erase = channel.stored_request_call(_FEEDBACK_INTERNAL["EraseUserData"])

    async def erase_user_data(self, payload: bytes) -> None:
        """Delivers a stored EraseUserData event (idempotent on the receiving side)."""
        await self._channel.call(self._erase, payload)

    async def export_user_data(self, user_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every row the feedback service holds for the user: (table, row as JSON)."""
        request = feedback_pb2.ExportUserDataRequest(user_id=user_id)
        async for reply in self._channel.stream(self._stub.ExportUserData, request, EXPORT_DEADLINE_SECONDS):
            yield reply.table, reply.record_json
