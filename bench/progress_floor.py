"""The floors of the progress benchmark: the same reads and the same write as the progress
service, as single asyncpg statements with nothing in between.

Used in two places: straight from the benchmark's client (`asyncpg-floor`: fetch the rows,
build nothing) and inside `floor_server.py` (`grpc-asyncpg-floor`: the same statements behind
a bare grpc.aio server that builds the same response messages as the service's mappers).
The statements are the ones the service's repository sends (columns, WHERE, ORDER BY,
RETURNING with pg_notify, the idempotency claim and response update), except that a read is
one statement: the service first checks the caller owns the program (or asks the program
service for a coach grant), which a floor leaves out.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message

from ironpath.progress.v1 import progress_pb2 as pb

SUMMARY_COLUMNS = (
    "program_id, week_number, day_number, title, planned_date, status, scheduled_date, completed_at,"
    " skip_reason, session_rpe, version, created_at, updated_at"
)
FULL_COLUMNS = SUMMARY_COLUMNS + ", planned_pb, adjusted_pb, performed_pb, feedback_pb, notes"

SELECT_FULL = (
    f"SELECT {FULL_COLUMNS} FROM progress_logs WHERE user_id = $1 AND program_id = $2 ORDER BY week_number, day_number"
)
SELECT_SUMMARY = (
    f"SELECT {SUMMARY_COLUMNS} FROM progress_logs WHERE user_id = $1 AND program_id = $2"
    " ORDER BY week_number, day_number"
)

CLAIM_REQUEST = (
    "INSERT INTO processed_requests (user_id, request_id, method, request_hash) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING RETURNING request_id"
)
READ_REQUEST = "SELECT method, request_hash, response FROM processed_requests WHERE user_id = $1 AND request_id = $2"
STORE_RESPONSE = "UPDATE processed_requests SET response = $3 WHERE user_id = $1 AND request_id = $2"
COMPLETE_FIRST_TIME = f"""
UPDATE progress_logs
SET status = 'completed', completed_at = $5, performed_pb = $6, figures_pb = $7, session_rpe = $8,
    skip_reason = NULL, version = version + 1, updated_at = now()
WHERE user_id = $1 AND program_id = $2 AND week_number = $3 AND day_number = $4 AND status <> 'completed'
RETURNING {FULL_COLUMNS}, pg_notify('progress_changes', concat_ws(':', program_id, week_number, day_number))
"""

METHOD = "MarkSessionComplete"

_STATUS = {
    "planned": pb.SESSION_STATUS_PLANNED,
    "scheduled": pb.SESSION_STATUS_SCHEDULED,
    "completed": pb.SESSION_STATUS_COMPLETED,
    "skipped": pb.SESSION_STATUS_SKIPPED,
}


def fill_log(message: pb.SessionLog, row: Sequence[Any], full: bool) -> None:
    """The same fields, the same way, as `progress_svc.mappers.fill_log`, from a row in
    FULL_COLUMNS / SUMMARY_COLUMNS order."""
    message.program_id = str(row[0])
    message.week_number = row[1]
    message.day_number = row[2]
    message.title = row[3]
    if row[4] is not None:
        message.planned_date = row[4].isoformat()
    message.status = _STATUS[row[5]]
    if row[6] is not None:
        message.scheduled_date = row[6].isoformat()
    if row[7] is not None:
        message.complete_time.FromDatetime(row[7])
    if row[8]:
        message.skip_reason = row[8]
    if row[9] is not None:
        message.session_rpe = row[9]
    message.etag = str(row[10])
    message.create_time.FromDatetime(row[11])
    message.update_time.FromDatetime(row[12])
    if full:
        if row[16]:
            message.feedback.MergeFromString(row[16])
        prescription = row[14] or row[13]
        if prescription:
            message.prescription.MergeFromString(prescription)
        message.prescription_adjusted = row[14] is not None
        if row[15]:
            message.MergeFromString(row[15])
        if row[17]:
            message.notes = row[17]


def progress_response(program_id: str, rows: Sequence[Sequence[Any]], full: bool) -> pb.GetProgramProgressResponse:
    response = pb.GetProgramProgressResponse(program_id=program_id)
    completed = skipped = 0
    for row in rows:
        status = row[5]
        if status == "completed":
            completed += 1
        elif status == "skipped":
            skipped += 1
        fill_log(response.logs.add(), row, full)
    totals = response.totals
    totals.planned_sessions = len(rows)
    totals.completed_sessions = completed
    totals.skipped_sessions = skipped
    totals.completion_rate = completed / len(rows) if rows else 0.0
    return response


def fingerprint(request: Message) -> bytes:
    """The service's request hash (ironpath_common.idempotency.request_fingerprint)."""
    return hashlib.sha256(METHOD.encode() + b"\0" + request.SerializeToString(deterministic=True)).digest()


class AlreadyUsed(Exception):
    """The request id was seen before with another request."""


class SessionNotFound(Exception):
    pass


async def complete_session(
    pool: asyncpg.Pool,
    user_id: str,
    request_id: uuid.UUID,
    request_hash: bytes,
    key: tuple[uuid.UUID, int, int],
    completed_at: datetime,
    performed_pb: bytes | None,
    figures_pb: bytes | None,
    session_rpe: float | None,
    build: Callable[[asyncpg.Record], pb.MarkSessionCompleteResponse] | None = None,
    response_bytes: bytes = b"",
) -> pb.MarkSessionCompleteResponse | None:
    """The service's write in one transaction: claim the request id, complete the session with
    its sets and their figures (RETURNING the log and notifying), store the response.

    `build(row)` makes the response, which is stored serialized and returned; without it
    `response_bytes` is stored as they are and nothing is built (the floor with no gRPC)."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(CLAIM_REQUEST, user_id, request_id, METHOD, request_hash)
        if claimed is None:
            stored = await conn.fetchrow(READ_REQUEST, user_id, request_id)
            if stored is None or stored[0] != METHOD or stored[1] != request_hash or stored[2] is None:
                raise AlreadyUsed
            return pb.MarkSessionCompleteResponse.FromString(stored[2])
        row = await conn.fetchrow(
            COMPLETE_FIRST_TIME, user_id, *key, completed_at, performed_pb, figures_pb, session_rpe
        )
        if row is None:
            raise SessionNotFound
        if build is None:
            await conn.execute(STORE_RESPONSE, user_id, request_id, response_bytes)
            return None
        response = build(row)
        await conn.execute(STORE_RESPONSE, user_id, request_id, response.SerializeToString())
        return response


def completion_response(row: Sequence[Any]) -> pb.MarkSessionCompleteResponse:
    response = pb.MarkSessionCompleteResponse()
    fill_log(response.log, row, full=True)
    return response
