"""The `grpc-asyncpg-floor` of the feedback benchmark: SubmitWorkoutFeedback's chain as three bare
grpc.aio servers, one process each like the services. The feedback floor reads the plan from the
program floor, adjusts it by the service's rules, stores the feedback, its outbox event and the
request's response in the service's one statement, delivers the event to the progress floor
through the service's outbox (`OutboxRelay.deliver_now`, which marks it delivered in the
background), the progress floor completes the session in the progress service's one statement,
and the feedback floor answers with the same message as the service.

Each floor runs the services' own use cases and statements (service and repository modules) on a
SQLAlchemy autocommit connection, which costs what an asyncpg pool does (about 0.23 ms per
statement either way here). Left out: the interceptor (token checks, request ids, logs, metrics,
spans, rate limits), the clients' tokens, spans and error mapping, the outbox's background
relay, the replay of a reused request id, and validation beyond building the same objects. The caller
is read from the bearer token's `sub` WITHOUT verifying the signature: a floor for the work the
services cannot avoid, not something to deploy.

    python -m bench.feedback_floor program --port 50101 --database-url postgresql+asyncpg://...
    python -m bench.feedback_floor progress --port 50102 --database-url ...
    python -m bench.feedback_floor feedback --port 50103 --database-url ... \
        --program 127.0.0.1:50101 --progress 127.0.0.1:50102
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.core import REPO
from bench.floor_server import bare_server, caller, run_until_stopped
from feedback_svc import domain, mappers
from feedback_svc import service as feedback_service
from feedback_svc.clients import FOLLOWING_SESSIONS, planned_context
from feedback_svc.models import outbox
from feedback_svc.service import RECORD_FEEDBACK
from ironpath.feedback.v1 import feedback_pb2 as fpb
from ironpath.feedback.v1 import feedback_pb2_grpc as fpb_grpc
from ironpath.program.v1 import program_pb2 as ppb
from ironpath.program.v1 import program_pb2_grpc as ppb_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from ironpath_common.db import Database, create_engine, create_sessionmaker
from ironpath_common.outbox import OutboxRelay, new_event_id
from ironpath_training.proto import performed_sets_from_pb
from program_svc import mappers as program_mappers
from program_svc import service as program_service
from progress_svc import service as progress_service
from progress_svc.domain import SessionKey

ROLES = ("program", "progress", "feedback")
DEADLINE_SECONDS = 5.0


class ProgramFloor(ppb_grpc.ProgramInternalServiceServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def GetPlannedSession(
        self, request: ppb.GetPlannedSessionRequest, context: grpc.aio.ServicerContext
    ) -> ppb.GetPlannedSessionResponse:
        ref = request.session
        async with self._db.autocommit() as connection:
            found = await program_service.planned_session(
                connection, request.user_id, ref.program_id, ref.week_number, ref.day_number, request.following_count
            )
        return program_mappers.planned_session_response(found)


class ProgressFloor(pb_grpc.ProgressInternalServiceServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def RecordSessionFeedback(
        self, request: pb.RecordSessionFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordSessionFeedbackResponse:
        ref = request.session
        completion = progress_service.Completion(
            key=SessionKey(ref.program_id, ref.week_number, ref.day_number),
            completed_at=request.complete_time.ToDatetime(tzinfo=UTC),
            performed_sets=performed_sets_from_pb(request.performed_sets, "performed_sets"),
            session_rpe=request.feedback.session_rpe or None,
            feedback=request.feedback.SerializeToString(),
        )
        adjusted = [(s.week_number, s.day_number, s.SerializeToString()) for s in request.adjusted_sessions]
        async with self._db.autocommit() as connection:
            done = await progress_service.record_first_completion_with_feedback(
                connection, request.event_id, request.user_id, completion, adjusted
            )
        if not done:  # the benchmark completes each session once; the service's merge is not here
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "session completed before")
        return pb.RecordSessionFeedbackResponse()


def _as_stored(payload: bytes) -> bytes:
    return payload


class FeedbackFloor(fpb_grpc.FeedbackServiceServicer):
    def __init__(self, engine: AsyncEngine, program: grpc.aio.Channel, progress: grpc.aio.Channel) -> None:
        self._db = Database(engine)
        self._planned = ppb_grpc.ProgramInternalServiceStub(program).GetPlannedSession
        # The stored event goes as its bytes, as the service's outbox sends it.
        record = progress.unary_unary(
            "/ironpath.progress.v1.ProgressInternalService/RecordSessionFeedback",
            request_serializer=_as_stored,
            response_deserializer=pb.RecordSessionFeedbackResponse.FromString,
        )

        async def deliver(payload: bytes) -> None:
            await record(payload, timeout=DEADLINE_SECONDS)

        self._outbox = OutboxRelay(create_sessionmaker(engine), outbox, {RECORD_FEEDBACK: deliver})

    async def SubmitWorkoutFeedback(
        self, request: fpb.SubmitWorkoutFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> fpb.SubmitWorkoutFeedbackResponse:
        user_id = await caller(context)
        now = datetime.now(UTC)
        ref = mappers.session_ref(request.session)
        feedback = mappers.feedback(request)
        completed_at = mappers.timestamp(request.complete_time, "complete_time", default=now)
        reply = await self._planned(
            ppb.GetPlannedSessionRequest(user_id=user_id, session=ref, following_count=FOLLOWING_SESSIONS),
            timeout=DEADLINE_SECONDS,
        )
        plan = planned_context(reply)
        adjusted = domain.adjust(plan.session, plan.following, feedback, plan.unit)
        feedback_id = str(uuid.uuid4())
        response = mappers.feedback_response(feedback_id, ref, request, completed_at, now, adjusted)
        async with self._db.autocommit() as connection:
            event = await feedback_service.record_feedback(
                connection,
                method="SubmitWorkoutFeedback",
                request=request,
                response=response,
                feedback_id=feedback_id,
                user_id=user_id,
                program_id=ref.program_id,
                week=ref.week_number,
                day=ref.day_number,
                feedback=feedback,
                notes=request.notes,
                completed_at=completed_at,
                created_at=now,
                adjusted=adjusted,
                event=mappers.record_feedback_event(new_event_id(), user_id, response, request),
            )
        if event is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id was already used")
            raise AssertionError("unreachable")
        await self._outbox.deliver_now([event])
        return response

    async def flush(self) -> None:
        await self._outbox.flush()


async def serve(role: str, port: int, database_url: str, pool_size: int, peers: dict[str, str]) -> None:
    engine = create_engine(database_url, pool_size=pool_size, application_name=f"{role}_floor")
    db = Database(engine)
    floor: FeedbackFloor | None = None
    channels: list[grpc.aio.Channel] = []
    server = bare_server()
    if role == "program":
        ppb_grpc.add_ProgramInternalServiceServicer_to_server(ProgramFloor(db), server)
    elif role == "progress":
        pb_grpc.add_ProgressInternalServiceServicer_to_server(ProgressFloor(db), server)
    else:
        channels = [grpc.aio.insecure_channel(peers["program"]), grpc.aio.insecure_channel(peers["progress"])]
        floor = FeedbackFloor(engine, *channels)
        fpb_grpc.add_FeedbackServiceServicer_to_server(floor, server)
    await run_until_stopped(server, port)
    if floor is not None:
        await floor.flush()
    for channel in channels:
        await channel.close()
    await engine.dispose()


@dataclass(frozen=True)
class Floors:
    """The three floor processes (by role) and where the chain's front, the feedback floor, listens."""

    address: str
    processes: dict[str, subprocess.Popen[bytes]]

    def pids(self) -> dict[str, list[int]]:
        return {f"{role}_floor": [process.pid] for role, process in self.processes.items()}


@contextmanager
def running_floors(
    database_urls: dict[str, str], ports: dict[str, int], env: dict[str, str], log: Path, pool_size: int
) -> Iterator[Floors]:
    """The three floors on the services' databases (`database_urls` by role), stopped on exit."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    address = {role: f"127.0.0.1:{ports[role]}" for role in ROLES}
    with log.open("ab") as out:
        try:
            for role in ROLES:
                command = [sys.executable, "-m", "bench.feedback_floor", role, "--port", str(ports[role])]
                command += ["--database-url", database_urls[role], "--pool-size", str(pool_size)]
                if role == "feedback":
                    command += ["--program", address["program"], "--progress", address["progress"]]
                processes[role] = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
            yield Floors(address["feedback"], processes)
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="a SQLAlchemy asyncpg URL: the service's database")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--program", default="", help="the program floor's address (feedback role)")
    parser.add_argument("--progress", default="", help="the progress floor's address (feedback role)")
    args = parser.parse_args()
    if args.role == "feedback" and not (args.program and args.progress):
        parser.error("the feedback floor needs --program and --progress")
    peers = {"program": args.program, "progress": args.progress}
    asyncio.run(serve(args.role, args.port, args.database_url, args.pool_size, peers))


if __name__ == "__main__":
    main()
