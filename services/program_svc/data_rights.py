"""The lifter's data rights: export everything they have in every service, erase all of it.

The program service owns the account, so both start here. Export reads this service's rows and
streams the progress and feedback services' own exports (internal calls) into one file. Erase
deletes this service's rows and, in the same transaction, queues an erase event for each other
service in the outbox; each applies it idempotently by event id, whenever it is reachable.

No grpc here. Erase follows the usual rule (the RPC boundary owns the one transaction). Export
is a long read that streams to a client of unknown speed, so it takes the session factory and
reads in short transactions between the pieces it sends, never holding a connection while the
client reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ironpath_common.auth import User
from ironpath_common.db import transaction
from ironpath_common.outbox import Event, enqueue
from program_svc import export_formats as formats
from program_svc.domain import Account, Program, StoredProfile
from program_svc.models import outbox
from program_svc.repository import AccountDataRepository, ProfileRepository, ProgramRepository

# What DeleteMyAccount's `confirmation` must say, exactly.
DELETE_CONFIRMATION = "DELETE MY ACCOUNT"
ERASE_PROGRESS = "progress.EraseUserData"
ERASE_FEEDBACK = "feedback.EraseUserData"
# Outbox destinations whose events are deleted once delivered: their payload names the user.
FORGET_WHEN_DELIVERED = (ERASE_PROGRESS, ERASE_FEEDBACK)

T = TypeVar("T")


class ExportSource(Protocol):
    """Another service's export of one user: (table, row as a JSON object) per row."""

    def export_user_data(self, user_id: str) -> AsyncIterator[tuple[str, str]]: ...


@dataclass(frozen=True)
class ExportSources:
    progress: ExportSource
    feedback: ExportSource


async def erase_account(session: AsyncSession, user_id: str, erase_events: list[tuple[str, Message]]) -> list[Event]:
    """Deletes everything this service holds for the user (account, profile, programs and their
    sessions, grants given or held, stored request ids, the user's outbox events sent or not)
    and queues the erase events for the other services, in one transaction. Erasing an erased
    account changes nothing here and queues the events again, which erase nothing more there."""
    await AccountDataRepository(session).erase(user_id)
    return [await enqueue(session, outbox, destination, event, user_id) for destination, event in erase_events]


@dataclass(frozen=True)
class AccountSnapshot:
    account: Account
    profile: StoredProfile | None
    programs: list[Program]


async def account_snapshot(session: AsyncSession, user: User) -> AccountSnapshot:
    """The account (as the token names it if it was never stored), profile and programs."""
    repo = AccountDataRepository(session)
    account = await repo.user(user.user_id)
    if account is None:
        account = Account(user.user_id, user.email, datetime.now(UTC))
    profile = await ProfileRepository(session).get(user.user_id)
    return AccountSnapshot(account, profile, await repo.programs(user.user_id))


async def export(
    sessions: async_sessionmaker[AsyncSession],
    user: User,
    export_format: str,
    sources: ExportSources,
    exported_at: datetime,
) -> AsyncIterator[bytes]:
    """Everything the user has, in `export_format`, as chunks of the file in order.

    Both other services' streams are opened and their first row awaited before anything is
    produced, so a service that is down fails the export at once (Unavailable) rather than
    leaving the client with half a file. A failure later ends the stream with the error."""
    streams = (sources.progress.export_user_data(user.user_id), sources.feedback.export_user_data(user.user_id))
    try:
        progress, feedback = await _open_all(*streams)
        async with transaction(sessions) as session:
            snapshot = await account_snapshot(session, user)
        chunker = formats.Chunker()
        if export_format == formats.JSON:
            pieces = _json_pieces(sessions, snapshot, progress, feedback, exported_at)
        else:
            pieces = _strong_csv_pieces(snapshot, progress, feedback)
        async for piece in pieces:
            for chunk in chunker.add(piece):
                yield chunk
        for chunk in chunker.flush():
            yield chunk
    finally:
        await _close(*streams)


async def _json_pieces(
    sessions: async_sessionmaker[AsyncSession],
    snapshot: AccountSnapshot,
    progress: AsyncIterator[tuple[str, str]],
    feedback: AsyncIterator[tuple[str, str]],
    exported_at: datetime,
) -> AsyncIterator[str]:
    document = formats.JsonDocument()
    yield document.head(exported_at, formats.user_json(snapshot.account), formats.profile_json(snapshot.profile))
    for program in snapshot.programs:
        async with transaction(sessions) as session:
            planned = await ProgramRepository(session).sessions(program.program_id)
        yield document.item("programs", json.dumps(formats.program_json(program, planned), ensure_ascii=False))
    async for table, record_json in progress:
        yield document.item(table, record_json)
    async for table, record_json in feedback:
        yield document.item(table, record_json)
    yield document.end()


async def _strong_csv_pieces(
    snapshot: AccountSnapshot, progress: AsyncIterator[tuple[str, str]], feedback: AsyncIterator[tuple[str, str]]
) -> AsyncIterator[str]:
    # Workout notes come from feedback: read it first (keeping only each session's notes), then
    # stream the logs.
    notes = formats.workout_notes(
        [json.loads(record) async for table, record in feedback if table == "workout_feedback"]
    )
    unit = snapshot.profile.profile.unit if snapshot.profile is not None else "kg"
    csv = formats.StrongCsv(unit, notes)
    yield csv.header()
    async for table, record_json in progress:
        if table == "progress_logs":
            yield csv.rows(json.loads(record_json))


async def _open_all(*streams: AsyncIterator[T]) -> list[AsyncIterator[T]]:
    """Starts every stream and waits for its first item (or its end); raises the first failure.
    Returns each stream with its first item put back in front."""
    firsts = await asyncio.gather(*(anext(s, _END) for s in streams), return_exceptions=True)
    failure = next((f for f in firsts if isinstance(f, BaseException)), None)
    if failure is not None:
        raise failure
    return [_prepend(first, stream) for first, stream in zip(firsts, streams, strict=True)]


_END = object()


async def _prepend(first: object, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    if first is _END:
        return
    yield first  # type: ignore[misc]
    async for item in rest:
        yield item


async def _close(*streams: AsyncIterator[object]) -> None:
    """Ends streams early (a failed or cancelled export): each cancels its call to the other service."""
    for stream in streams:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
