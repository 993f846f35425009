"""Typed client for what the progress service asks the program service (service token and
deadline on every call; failures become domain errors)."""

from __future__ import annotations

from ironpath.common.v1 import training_pb2 as t
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath_common.clients import ServiceChannel
from ironpath_common.errors import DomainError, NotFound, Unavailable

UNITS = {t.WEIGHT_UNIT_KG: "kg", t.WEIGHT_UNIT_LB: "lb"}
_READ_ACCESS = (program_pb2.PROGRAM_ACCESS_OWNER, program_pb2.PROGRAM_ACCESS_COACH_READ)


class ProgramClient:
    def __init__(self, channel: ServiceChannel) -> None:
        self._channel = channel
        self._stub = program_pb2_grpc.ProgramInternalServiceStub(channel.channel)

    async def readable_owner(self, user_id: str, program_id: str) -> str:
        """The owner of a program the user may read (their own, or through a live coach grant).
        NotFound when they may not (missing program, no grant, revoked or expired grant);
        Unavailable for any other failure, since only the program service can say."""
        try:
            reply = await self._channel.call(
                self._stub.CheckProgramAccess,
                program_pb2.CheckProgramAccessRequest(user_id=user_id, program_id=program_id),
            )
        except NotFound:
            raise
        except DomainError as error:
            raise Unavailable(f"program access could not be checked ({error.code}); retry later") from None
        if reply.access not in _READ_ACCESS or not reply.owner_user_id:
            raise NotFound("program not found")
        return reply.owner_user_id

    async def display_unit(self, user_id: str) -> str:
        """The lifter's display unit from their profile: `kg` or `lb`."""
        try:
            reply = await self._channel.call(
                self._stub.GetLifterContext, program_pb2.GetLifterContextRequest(user_id=user_id)
            )
        except DomainError as error:
            raise Unavailable(f"the lifter's profile could not be read ({error.code}); retry later") from None
        return UNITS.get(reply.display_unit, "kg")
