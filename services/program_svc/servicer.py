"""gRPC transport of the program service: validate, run a use case in one transaction, map."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath_common.db import Database, autocommit, transaction
from ironpath_common.errors import InvalidArgument
from ironpath_common.idempotency import parse_request_id, previous_response, run_once
from ironpath_common.interceptors import current_service, current_user
from ironpath_common.outbox import Event, OutboxRelay, new_event_id
from program_svc import data_rights, domain, export_formats, mappers, service
from program_svc.engines import ProgramEngine
from program_svc.models import processed_requests

MAX_FOLLOWING_SESSIONS = 12


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ProgramServicer(pb_grpc.ProgramServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: ProgramEngine, relay: OutboxRelay) -> None:
        self._sessions = sessions
        self._engine = engine
        self._relay = relay

    async def GetMe(self, request: pb.GetMeRequest, context: grpc.aio.ServicerContext) -> pb.GetMeResponse:
        user = current_user()
        async with transaction(self._sessions) as session:
            account = await service.get_me(session, user)
        return pb.GetMeResponse(user=mappers.user_to_pb(account))

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProfileResponse:
        user = current_user()
        async with transaction(self._sessions) as session:
            stored = await service.get_profile(session, user.user_id)
        return pb.GetProfileResponse(profile=mappers.profile_to_pb(stored))

    async def UpsertProfile(
        self, request: pb.UpsertProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertProfileResponse:
        user = current_user()
        changes = mappers.profile_changes(request.profile, request.update_mask.paths)
        version = mappers.etag(request.etag)
        async with transaction(self._sessions) as session:

            async def effect() -> pb.UpsertProfileResponse:
                stored = await service.upsert_profile(session, user, changes, version)
                return pb.UpsertProfileResponse(profile=mappers.profile_to_pb(stored))

            return await run_once(
                session, processed_requests, user.user_id, "UpsertProfile", request, pb.UpsertProfileResponse, effect
            )

    async def ListMethodologies(
        self, request: pb.ListMethodologiesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMethodologiesResponse:
        current_user()
        limit = mappers.page_size(request.page_size)
        after = mappers.decode_page_token(request.page_token, 1)
        async with transaction(self._sessions) as session:
            found = await service.list_methodologies(session, after[0] if after else None, limit + 1)
        response = pb.ListMethodologiesResponse(methodologies=[mappers.methodology_to_pb(m) for m in found[:limit]])
        if len(found) > limit:
            response.next_page_token = mappers.encode_page_token(found[limit - 1].methodology_id)
        return response

    async def GetMethodology(
        self, request: pb.GetMethodologyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMethodologyResponse:
        current_user()
        if not request.methodology_id:
            raise InvalidArgument("methodology_id", "is required")
        async with transaction(self._sessions) as session:
            methodology = await service.get_methodology(session, request.methodology_id)
        return pb.GetMethodologyResponse(methodology=mappers.methodology_to_pb(methodology))

    async def GenerateProgram(
        self, request: pb.GenerateProgramRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateProgramResponse:
        user = current_user()
        wanted = mappers.generation_request(request)
        method = "GenerateProgram"
        # Reads only, each on its own: no transaction to begin and commit.
        async with autocommit(self._sessions) as session:
            replay = await previous_response(
                session, processed_requests, user.user_id, method, request, pb.GenerateProgramResponse
            )
            if replay is not None:
                return replay
            generation = await service.prepare_generation(session, user.user_id, wanted)
        # Outside any transaction: a model may take seconds, and no connection waits on it.
        plan, metadata = await self._engine.write(generation.profile, wanted, generation.methodology)
        program_id = str(uuid.uuid4())
        planned = mappers.planned_sessions(plan)
        sessions = mappers.session_rows(planned)
        initialize_logs = mappers.initialize_logs_event(new_event_id(), user.user_id, program_id, planned)
        events: list[Event] = []
        async with transaction(self._sessions) as session:

            async def effect() -> pb.GenerateProgramResponse:
                program, event = await service.create_program(
                    session,
                    user=user,
                    program_id=program_id,
                    request=wanted,
                    generation=generation,
                    week_phases=mappers.week_phases(plan),
                    sessions=sessions,
                    metadata=mappers.metadata_to_json(metadata),
                    initialize_logs=initialize_logs,
                )
                events.append(event)
                return pb.GenerateProgramResponse(program=mappers.program_to_pb(program, planned))

            response = await run_once(
                session, processed_requests, user.user_id, method, request, pb.GenerateProgramResponse, effect
            )
        # Committed: give every session its progress log now, so it is there when we return.
        await self._relay.deliver_now(events)
        return response

    async def GetProgram(
        self, request: pb.GetProgramRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProgramResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        full = request.view != pb.PROGRAM_VIEW_BASIC
        async with transaction(self._sessions) as session:
            program, sessions = await service.get_program(session, user.user_id, program_id, full=full)
        planned = mappers.stored_sessions(sessions) if sessions is not None else None
        return pb.GetProgramResponse(program=mappers.program_to_pb(program, planned))

    async def ListPrograms(
        self, request: pb.ListProgramsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProgramsResponse:
        user = current_user()
        limit = mappers.page_size(request.page_size)
        token = mappers.decode_page_token(request.page_token, 2)
        after = None
        if token is not None:
            try:
                after = (datetime.fromisoformat(token[0]), mappers.program_id(token[1]))
            except ValueError:
                raise InvalidArgument("page_token", "is not a page token this service issued") from None
        async with transaction(self._sessions) as session:
            found = await service.list_programs(
                session, user.user_id, include_archived=request.include_archived, after=after, limit=limit + 1
            )
        response = pb.ListProgramsResponse(programs=[mappers.program_to_pb(p, None) for p in found[:limit]])
        if len(found) > limit:
            last = found[limit - 1]
            response.next_page_token = mappers.encode_page_token(last.created_at.isoformat(), last.program_id)
        return response

    async def ArchiveProgram(
        self, request: pb.ArchiveProgramRequest, context: grpc.aio.ServicerContext
    ) -> pb.ArchiveProgramResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        version = mappers.etag(request.etag)
        async with transaction(self._sessions) as session:

            async def effect() -> pb.ArchiveProgramResponse:
                program = await service.archive_program(session, user.user_id, program_id, version)
                return pb.ArchiveProgramResponse(program=mappers.program_to_pb(program, None))

            return await run_once(
                session, processed_requests, user.user_id, "ArchiveProgram", request, pb.ArchiveProgramResponse, effect
            )


class AccountServicer(pb_grpc.AccountServiceServicer):
    """The lifter's data rights (export, erase) and coach sharing."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        invite_code_key: bytes,
        relay: OutboxRelay,
        export_sources: data_rights.ExportSources,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._sessions = sessions
        self._invite_code_key = invite_code_key
        self._relay = relay
        self._export_sources = export_sources
        self._clock = clock

    async def ExportMyData(
        self, request: pb.ExportMyDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportMyDataResponse]:
        user = current_user()
        export_format = mappers.export_format(request.format)
        exported_at = self._clock()
        first = True
        async for chunk in data_rights.export(self._sessions, user, export_format, self._export_sources, exported_at):
            message = pb.ExportMyDataResponse(data=chunk)
            if first:
                message.content_type = export_formats.CONTENT_TYPES[export_format]
                message.file_name = export_formats.file_name(export_format, exported_at)
                first = False
            yield message

    async def DeleteMyAccount(
        self, request: pb.DeleteMyAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteMyAccountResponse:
        """Erases the caller everywhere. Not recorded under its request_id like other writes:
        that record would keep the user's id. A retry runs the erase again, which finds nothing
        left and answers the same."""
        user = current_user()
        parse_request_id(request.request_id)
        mappers.confirmation(request.confirmation)
        erase_events = mappers.erase_events(user.user_id, new_event_id(), new_event_id())
        async with transaction(self._sessions) as session:
            events = await data_rights.erase_account(session, user.user_id, erase_events)
        # Committed: erase in the other services now; the relay retries any that are down.
        await self._relay.deliver_now(events)
        return pb.DeleteMyAccountResponse()

    async def GrantProgramAccess(
        self, request: pb.GrantProgramAccessRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantProgramAccessResponse:
        user = current_user()
        program_id = mappers.program_id(request.program_id)
        expire_time = mappers.expire_time(request)
        async with transaction(self._sessions) as session:

            async def effect() -> pb.GrantProgramAccessResponse:
                grant = await service.grant_program_access(
                    session, user, program_id, request.grantee_email, expire_time, self._invite_code_key
                )
                return pb.GrantProgramAccessResponse(grant=mappers.grant_to_pb(grant))

            method = "GrantProgramAccess"
            response = await run_once(
                session, processed_requests, user.user_id, method, request, pb.GrantProgramAccessResponse, effect
            )
        # The stored response has no code (no table holds one); it is derived from the grant id, so
        # a replay of this request_id by this caller gets the same code back. Only the caller who
        # created the grant can replay it (processed requests are keyed by user), and a code that
        # was used or revoked is refused however it is obtained.
        response.grant.invite_code = domain.invite_code(self._invite_code_key, response.grant.grant_id)
        return response

    async def AcceptProgramGrant(
        self, request: pb.AcceptProgramGrantRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcceptProgramGrantResponse:
        user = current_user()
        code = mappers.invite_code(request.invite_code)
        async with transaction(self._sessions) as session:

            async def effect() -> pb.AcceptProgramGrantResponse:
                grant = await service.accept_program_grant(session, user.user_id, code)
                return pb.AcceptProgramGrantResponse(grant=mappers.grant_to_pb(grant))

            method = "AcceptProgramGrant"
            return await run_once(
                session, processed_requests, user.user_id, method, request, pb.AcceptProgramGrantResponse, effect
            )

    async def ListGrants(
        self, request: pb.ListGrantsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGrantsResponse:
        user = current_user()
        limit = mappers.page_size(request.page_size)
        after = mappers.keyset_after(request.page_token)
        async with transaction(self._sessions) as session:
            found = await service.list_grants(session, user.user_id, after=after, limit=limit + 1)
        response = pb.ListGrantsResponse(grants=[mappers.grant_to_pb(g) for g in found[:limit]])
        if len(found) > limit:
            last = found[limit - 1]
            response.next_page_token = mappers.encode_page_token(last.created_at.isoformat(), last.grant_id)
        return response

    async def RevokeGrant(
        self, request: pb.RevokeGrantRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeGrantResponse:
        user = current_user()
        grant_id = mappers.grant_id(request.grant_id)
        async with transaction(self._sessions) as session:

            async def effect() -> pb.RevokeGrantResponse:
                grant = await service.revoke_grant(session, user.user_id, grant_id)
                return pb.RevokeGrantResponse(grant=mappers.grant_to_pb(grant))

            return await run_once(
                session, processed_requests, user.user_id, "RevokeGrant", request, pb.RevokeGrantResponse, effect
            )


class ProgramInternalServicer(pb_grpc.ProgramInternalServiceServicer):
    """Reads for the progress and feedback services (service token); each request names its user.
    Reads only, of rows that are never edited or where a newer row is as good: autocommit spares
    each call its BEGIN and COMMIT round trips. GetPlannedSession, on the feedback write path,
    reads on a plain connection (`db`), without the ORM session's own work."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], db: Database) -> None:
        self._sessions = sessions
        self._db = db

    async def GetPlannedSession(
        self, request: pb.GetPlannedSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlannedSessionResponse:
        current_service()
        user_id = _user_id(request.user_id)
        program_id = mappers.program_id(request.session.program_id, "session.program_id")
        week, day = request.session.week_number, request.session.day_number
        if week < 1 or day < 1:
            raise InvalidArgument("session", "week_number and day_number start at 1")
        if not 0 <= request.following_count <= MAX_FOLLOWING_SESSIONS:
            raise InvalidArgument("following_count", f"must be between 0 and {MAX_FOLLOWING_SESSIONS}")
        async with self._db.autocommit() as connection:
            found = await service.planned_session(connection, user_id, program_id, week, day, request.following_count)
        return mappers.planned_session_response(found)

    async def CheckProgramAccess(
        self, request: pb.CheckProgramAccessRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckProgramAccessResponse:
        current_service()
        user_id = _user_id(request.user_id)
        program_id = mappers.program_id(request.program_id)
        async with autocommit(self._sessions) as session:
            program = await service.readable_program(session, user_id, program_id)
        return pb.CheckProgramAccessResponse(owner_user_id=program.user_id, access=mappers.ACCESS[program.access])

    async def GetLifterContext(
        self, request: pb.GetLifterContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLifterContextResponse:
        current_service()
        user_id = _user_id(request.user_id)
        async with autocommit(self._sessions) as session:
            profile = await service.lifter_context(session, user_id)
        return pb.GetLifterContextResponse(
            display_unit=mappers.UNIT_ENUMS[profile.unit], one_rep_maxes=mappers.one_rep_maxes_to_pb(profile)
        )


def _user_id(value: str) -> str:
    if not value or len(value) > 128:
        raise InvalidArgument("user_id", "must be 1-128 characters")
    return value
