"""gRPC transport of the program service: validate, call a use case in one transaction, map."""

from __future__ import annotations

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath_common.db import transaction
from ironpath_common.interceptors import current_user
from program_svc import mappers, service


class ProgramServicer(pb_grpc.ProgramServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def GetMe(self, request: pb.GetMeRequest, context: grpc.aio.ServicerContext) -> pb.GetMeResponse:
        user = current_user()
        async with transaction(self._sessions) as session:
            account = await service.get_me(session, user)
        return pb.GetMeResponse(user=mappers.user_to_pb(account))


class AccountServicer(pb_grpc.AccountServiceServicer):
    """Export, erase and coach sharing: built by the lifter's-data issue; UNIMPLEMENTED until then."""


class ProgramInternalServicer(pb_grpc.ProgramInternalServiceServicer):
    """Internal reads for the progress and feedback services; built with the program issue."""
