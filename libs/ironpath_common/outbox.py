"""The transactional outbox: no dual writes between services.

An event is inserted in the same transaction as the sender's own rows. Right after that
transaction commits, the sender delivers it (`deliver_now`), so in the normal case the
receiver has applied it before the RPC returns. Whatever that attempt misses, the relay
retries with backoff until the receiver acknowledges. Receivers apply events idempotently
by event id, so a delivery repeated after a crash changes nothing.

Each event keeps the W3C `traceparent` of the RPC that wrote it, and its delivery runs in that
trace (`ironpath_common.tracing.continuing`), so the receiver's log lines, however late the
delivery, carry the trace id of the call that caused them.

A delivered event is normally kept (marked sent). Destinations named in the relay's `forget`
set have their events deleted once delivered instead: an erase event names the user it erases,
and must not outlive the erasure it carried. After the sender's own delivery that mark is made
in the background, for every event delivered meanwhile in one statement, so the RPC returns
without waiting for it. An event whose mark is lost (the process dies first) is delivered again
by the relay once its head start is over, and the receiver ignores the repeat.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ironpath_common.db import RawStatement, autocommit, transaction
from ironpath_common.errors import DomainError
from ironpath_common.tracing import continuing, current_traceparent

logger = logging.getLogger(__name__)

# The relay leaves a fresh event alone this long: the sender is delivering it itself.
SENDER_HEAD_START = timedelta(seconds=5)
# A sender's own attempt that failed leaves the event to the relay this soon.
RETRY_AFTER_DEFERRAL = timedelta(seconds=0.5)
MAX_BACKOFF_SECONDS = 60.0
BATCH_SIZE = 50

Handler = Callable[[bytes], Awaitable[None]]


def outbox_table(metadata: MetaData) -> Table:
    """Each sending service's own outbox table."""
    return Table(
        "outbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("destination", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("user_id", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        # Set when the receiver refused the event for good (it is kept, not retried).
        Column("failed_at", DateTime(timezone=True), nullable=True),
        Column("last_error", Text, nullable=True),
        # The W3C trace context of the RPC that wrote the event; its delivery continues that trace.
        Column("traceparent", Text, nullable=True),
        Index("ix_outbox_pending", "next_attempt_at", postgresql_where=text("sent_at IS NULL AND failed_at IS NULL")),
    )


@dataclass(frozen=True)
class Event:
    event_id: str
    destination: str
    payload: bytes
    traceparent: str | None = None


async def enqueue(session: AsyncSession, table: Table, destination: str, payload: Message, user_id: str) -> Event:
    """Adds an event to the outbox inside the caller's transaction. `payload` must already
    carry the event id the receiver deduplicates on (its `event_id` field)."""
    event_id = getattr(payload, "event_id")  # noqa: B009 - every event message has one
    data = payload.SerializeToString()
    traceparent = current_traceparent()
    await _insert_statement(table).execute(
        session,
        event_id=uuid.UUID(event_id),
        destination=destination,
        payload=data,
        user_id=user_id,
        next_attempt_at=datetime.now(UTC) + SENDER_HEAD_START,
        traceparent=traceparent,
    )
    return Event(event_id, destination, data, traceparent)


_INSERTS: dict[int, tuple[Table, RawStatement]] = {}


def _insert_statement(table: Table) -> RawStatement:
    """The outbox INSERT of one table, built once (every outbox-writing RPC runs it)."""
    found = _INSERTS.get(id(table))
    if found is None or found[0] is not table:
        columns = ("event_id", "destination", "payload", "user_id", "next_attempt_at", "traceparent")
        statement = RawStatement(
            table.insert().values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        )
        found = _INSERTS[id(table)] = (table, statement)
    return found[1]


def new_event_id() -> str:
    return str(uuid.uuid4())


# Receivers answer these for an event they will never accept; retrying cannot help.
PERMANENT = frozenset({"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED"})


class OutboxRelay:
    """Delivers a service's outbox events to their handlers, by destination."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        handlers: Mapping[str, Handler],
        poll_seconds: float = 1.0,
        forget: Collection[str] = (),
    ) -> None:
        self.sessions = sessions
        self.table = table
        self._handlers = dict(handlers)
        self._poll_seconds = poll_seconds
        # Destinations whose events are deleted once delivered rather than marked sent.
        self._forget = frozenset(forget)
        self._wake = asyncio.Event()
        # Delivery attempts by (destination, result): what the metrics endpoint reports.
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        # After the sender's own attempts (every outbox-writing RPC): statements built once.
        t = table
        pending = and_(t.c.event_id == bindparam("event_id"), t.c.sent_at.is_(None))
        self._defer = RawStatement(
            update(t)
            .where(pending)
            .values(
                attempts=t.c.attempts + 1,
                next_attempt_at=func.now() + bindparam("delay", type_=Interval),
                last_error=bindparam("reason"),
            )
        )
        any_pending = and_(t.c.event_id == any_(bindparam("event_ids", type_=ARRAY(Uuid))), t.c.sent_at.is_(None))
        self._mark_sent = RawStatement(
            update(t).where(any_pending).values(attempts=t.c.attempts + 1, sent_at=func.now())
        )
        self._delete_sent = RawStatement(delete(t).where(any_pending))
        # Delivered by the sender, not marked yet: (sent, to delete), and the task marking them.
        self._unmarked: tuple[list[uuid.UUID], list[uuid.UUID]] = ([], [])
        self._marking: asyncio.Task[None] | None = None

    @property
    def destinations(self) -> list[str]:
        return list(self._handlers)

    async def deliver_now(self, events: list[Event]) -> None:
        """The sender's own attempt right after its commit. A failure is left to the relay; a
        delivery is marked in the background (`flush` waits for that)."""
        for event in events:
            event_id = uuid.UUID(event.event_id)
            try:
                with continuing(event.traceparent):
                    await self._handlers[event.destination](event.payload)
            except Exception as error:  # the caller's transaction is committed: never fail the RPC now
                reason = str(getattr(error, "code", type(error).__name__))
                logger.warning("outbox delivery deferred: %s %s", event.destination, reason)
                self.outcomes[event.destination, "retry"] += 1
                async with autocommit(self.sessions) as session:  # one statement: atomic by itself
                    await self._defer.execute(session, event_id=event_id, delay=RETRY_AFTER_DEFERRAL, reason=reason)
            else:
                self.outcomes[event.destination, "delivered"] += 1
                self._unmarked[event.destination in self._forget].append(event_id)
                if self._marking is None or self._marking.done():
                    self._marking = asyncio.create_task(self._mark_delivered())

    async def _mark_delivered(self) -> None:
        """Marks what the sender delivered, in one statement for all delivered since the last
        one. A failure leaves them to the relay, which delivers them again after their head start."""
        while any(self._unmarked):
            (sent, gone), self._unmarked = self._unmarked, ([], [])
            try:
                async with autocommit(self.sessions) as session:
                    if sent:
                        await self._mark_sent.execute(session, event_ids=sent)
                    if gone:
                        await self._delete_sent.execute(session, event_ids=gone)
            except Exception:
                logger.exception("marking %d delivered events failed; the relay delivers them again", len(sent + gone))

    async def flush(self) -> None:
        """Waits until every event the sender delivered so far is marked (on stop, and in tests)."""
        while self._marking is not None and not self._marking.done():
            await asyncio.shield(self._marking)

    async def run(self) -> None:
        """Background loop: deliver what is due, then sleep until woken or the poll interval."""
        while True:
            try:
                delivered = await self.deliver_due()
            except Exception:  # the database may be away; keep the loop alive and try again
                logger.exception("outbox relay pass failed")
                delivered = 0
            if delivered == BATCH_SIZE:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    async def deliver_due(self) -> int:
        """One pass over due events, locked so concurrent relays (replicas) never share one."""
        t = self.table
        async with transaction(self.sessions) as session:
            rows = (
                await session.execute(
                    select(t.c.event_id, t.c.destination, t.c.payload, t.c.attempts, t.c.traceparent)
                    .where(t.c.sent_at.is_(None), t.c.failed_at.is_(None), t.c.next_attempt_at <= func.now())
                    .order_by(t.c.next_attempt_at)
                    .limit(BATCH_SIZE)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                with continuing(row.traceparent):
                    values = await self._attempt(row.destination, row.payload, row.attempts)
                if "sent_at" in values and row.destination in self._forget:
                    await session.execute(delete(t).where(t.c.event_id == row.event_id))
                else:
                    await session.execute(update(t).where(t.c.event_id == row.event_id).values(**values))
        return len(rows)

    async def _attempt(self, destination: str, payload: bytes, attempts: int) -> dict[str, object]:
        handler = self._handlers.get(destination)
        if handler is None:
            self.outcomes[destination, "refused"] += 1
            return {"failed_at": func.now(), "last_error": f"no handler for {destination}"}
        try:
            await handler(payload)
        except DomainError as error:
            if error.code in PERMANENT:
                logger.error("outbox event refused for good: %s %s", destination, error.code)
                self.outcomes[destination, "refused"] += 1
                return {
                    "failed_at": func.now(),
                    "attempts": attempts + 1,
                    "last_error": f"{error.code}: {error.message}",
                }
            delay = min(0.5 * 2**attempts, MAX_BACKOFF_SECONDS)
            self.outcomes[destination, "retry"] += 1
            return {
                "attempts": attempts + 1,
                "next_attempt_at": func.now() + timedelta(seconds=delay),
                "last_error": f"{error.code}: {error.message}"[:500],
            }
        self.outcomes[destination, "delivered"] += 1
        return {"sent_at": func.now(), "attempts": attempts + 1, "last_error": None}
