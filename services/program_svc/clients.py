"""Typed clients for the services the program service calls (service token, deadline, errors
mapped to domain errors by ServiceChannel)."""

from __future__ import annotations

from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.clients import ServiceChannel

# Initializing 300+ logs is one statement on the other side; this leaves room for a busy moment.
INITIALIZE_DEADLINE_SECONDS = 10.0


class ProgressClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = progress_pb2_grpc.ProgressInternalServiceStub(channel.channel)

    async def initialize_program_logs(self, payload: bytes) -> None:
        """Delivers a stored InitializeProgramLogs event (idempotent on the receiving side)."""
        request = progress_pb2.InitializeProgramLogsRequest.FromString(payload)
        await self._channel.call(self._stub.InitializeProgramLogs, request, INITIALIZE_DEADLINE_SECONDS)
