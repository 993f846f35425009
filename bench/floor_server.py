"""The `grpc-asyncpg-floor`: a bare grpc.aio server answering GetProgramProgress and
MarkSessionComplete from one asyncpg statement each (the write: the service's one
transaction), with no ORM, no interceptors, no validation beyond what the statements need,
building the same response messages as the progress service.

The caller is read from the bearer token's `sub` WITHOUT verifying the signature: a floor
for the work the service cannot avoid, not something to deploy.

    python -m bench.floor_server --port 50099 --dsn postgresql://postgres@127.0.0.1/ironpath_bench_progress
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import signal
import uuid
from datetime import UTC

import asyncpg
import grpc

from bench.progress_floor import (
    SELECT_FULL,
    SELECT_SUMMARY,
    AlreadyUsed,
    SessionNotFound,
    complete_session,
    completion_response,
    fingerprint,
    progress_response,
)
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from progress_svc.repository import figures_for_stored_sets


async def caller(context: grpc.aio.ServicerContext) -> str:
    """The bearer token's `sub`, unverified (a floor's caller)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            payload = value.partition(" ")[2].split(".")[1]
            return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
    raise AssertionError("unreachable")


class FloorServicer(pb_grpc.ProgressServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def GetProgramProgress(
        self, request: pb.GetProgramProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProgramProgressResponse:
        user_id = await caller(context)
        full = request.view == pb.PROGRESS_VIEW_FULL
        rows = await self._pool.fetch(SELECT_FULL if full else SELECT_SUMMARY, user_id, uuid.UUID(request.program_id))
        if not rows:
            await context.abort(grpc.StatusCode.NOT_FOUND, "program not found")
        return progress_response(request.program_id, rows, full)

    async def MarkSessionComplete(
        self, request: pb.MarkSessionCompleteRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkSessionCompleteResponse:
        user_id = await caller(context)
        ref = request.session
        performed = pb.SessionLog(performed_sets=request.performed_sets).SerializeToString() or None
        # The figures the service stores beside the sets, by the service's own rules.
        figures = figures_for_stored_sets(performed)
        try:
            response = await complete_session(
                self._pool,
                user_id,
                uuid.UUID(request.request_id),
                fingerprint(request),
                (uuid.UUID(ref.program_id), ref.week_number, ref.day_number),
                request.complete_time.ToDatetime(tzinfo=UTC),
                performed,
                figures,
                request.session_rpe or None,
                build=completion_response,
            )
        except SessionNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, "session not found or already completed")
        except AlreadyUsed:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id was already used")
        assert response is not None
        return response


def bare_server() -> grpc.aio.Server:
    """A grpc.aio server with the services' options and nothing else (no interceptor)."""
    return grpc.aio.server(options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 * 1024 * 1024)])


async def run_until_stopped(server: grpc.aio.Server, port: int) -> None:
    """Serves on 127.0.0.1:`port` until SIGTERM or SIGINT, then stops with a 1 s grace."""
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Like the service's server factory: start-up objects stay out of GC scans.
    gc.collect()
    gc.freeze()
    await stop.wait()
    await server.stop(1)


async def serve(port: int, dsn: str, pool_size: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
    server = bare_server()
    pb_grpc.add_ProgressServiceServicer_to_server(FloorServicer(pool), server)
    await run_until_stopped(server, port)
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.dsn, args.pool_size))


if __name__ == "__main__":
    main()
