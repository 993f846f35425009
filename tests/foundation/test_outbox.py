"""The outbox relay against a real PostgreSQL: the sender's own delivery returns before its mark
is written, the marks of deliveries made meanwhile go out in one statement, a destination whose
events are forgotten has them deleted, a failed delivery is deferred to the relay, and an event
whose mark never came is delivered again by the relay once its head start is over."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from ironpath.progress.v1 import progress_pb2
from ironpath_common import outbox as outbox_module
from ironpath_common.db import create_engine, create_sessionmaker, ensure_database, new_metadata
from ironpath_common.errors import Unavailable
from ironpath_common.outbox import Event, OutboxRelay, enqueue, outbox_table
from tests.support.services import _drop_databases, scratch_database_url

DATABASE = os.environ.get("IRONPATH_TEST_DATABASE_PREFIX", "ironpath_test") + "_outbox"
metadata = new_metadata()
table = outbox_table(metadata)
KEPT, FORGOTTEN, FAILING = "test.Kept", "test.Forgotten", "test.Failing"


class Receiver:
    """The other side: records what arrives; the failing destination answers UNAVAILABLE."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def accept(self, payload: bytes) -> None:
        self.received.append(payload)

    async def refuse(self, payload: bytes) -> None:
        raise Unavailable("down")


@pytest.fixture
async def relay() -> AsyncIterator[tuple[OutboxRelay, Receiver, list[str]]]:
    """A relay on a scratch database, the receiver, and every statement sent to the database."""
    await _drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    await ensure_database(url)
    engine = create_engine(url, pool_size=4, application_name="test")
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def log_statements(adapted: Any, record: Any) -> None:
        adapted.driver_connection.add_query_logger(lambda query: statements.append(query.query))

    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    receiver = Receiver()
    handlers = {KEPT: receiver.accept, FORGOTTEN: receiver.accept, FAILING: receiver.refuse}
    relay = OutboxRelay(create_sessionmaker(engine), table, handlers, forget={FORGOTTEN})
    try:
        yield relay, receiver, statements
    finally:
        await engine.dispose()
        await _drop_databases([DATABASE])


async def stored(relay: OutboxRelay, destination: str = KEPT) -> list[asyncpg.Record]:
    url = relay.sessions.kw["bind"].url.set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(
            "SELECT event_id, attempts, sent_at, next_attempt_at - created_at AS wait, last_error"
            " FROM outbox WHERE destination = $1",
            destination,
        )
    finally:
        await connection.close()


async def add(relay: OutboxRelay, destination: str = KEPT) -> Event:
    """An event stored as a sender stores one (its transaction committed)."""
    async with relay.sessions() as session, session.begin():
        payload = progress_pb2.RecordSessionFeedbackRequest(event_id=str(uuid.uuid4()), user_id="lifter-1")
        return await enqueue(session, table, destination, payload, "lifter-1")


async def test_a_delivery_returns_before_its_mark_which_comes_right_after(relay):
    relay, receiver, statements = relay
    sent = await add(relay)
    statements.clear()
    await relay.deliver_now([sent])
    assert receiver.received == [sent.payload]
    assert not any(s.startswith("UPDATE outbox") for s in statements), "the RPC waited for the mark"
    await relay.flush()
    [row] = await stored(relay)
    assert row["sent_at"] is not None and row["attempts"] == 1
    assert sum(s.startswith("UPDATE outbox") for s in statements) == 1


async def test_marks_of_deliveries_made_meanwhile_go_out_in_one_statement(relay):
    relay, _, statements = relay
    events = [await add(relay) for _ in range(16)]
    statements.clear()
    # Sixteen requests delivering at once: all marks wait for the first one's statement.
    await asyncio.gather(*(relay.deliver_now([e]) for e in events))
    await relay.flush()
    rows = await stored(relay)
    assert len(rows) == 16 and all(row["sent_at"] is not None and row["attempts"] == 1 for row in rows)
    marks = sum(s.startswith("UPDATE outbox") for s in statements)
    assert 1 <= marks <= 2, f"{marks} statements marked 16 deliveries"


async def test_a_forgotten_destination_has_its_delivered_events_deleted(relay):
    relay, receiver, _ = relay
    kept, forgotten = await add(relay), await add(relay, FORGOTTEN)
    await relay.deliver_now([forgotten, kept])
    await relay.flush()
    assert await stored(relay, FORGOTTEN) == []
    assert [row["sent_at"] is not None for row in await stored(relay)] == [True]
    assert receiver.received == [forgotten.payload, kept.payload]


async def test_a_failed_delivery_is_left_to_the_relay_soon(relay):
    relay, _, _ = relay
    failing = await add(relay, FAILING)
    await relay.deliver_now([failing])
    await relay.flush()
    [row] = await stored(relay, FAILING)
    assert row["sent_at"] is None and row["attempts"] == 1 and row["last_error"] == "UNAVAILABLE"
    # Due half a second after the failure, not after the sender's five-second head start.
    assert row["wait"] < outbox_module.SENDER_HEAD_START
    assert relay.outcomes[FAILING, "retry"] == 1


async def test_an_event_whose_mark_was_lost_is_delivered_again_after_its_head_start(relay, monkeypatch):
    relay, receiver, _ = relay
    sent = await add(relay)

    async def lost() -> None:  # as if the process died before marking it
        relay._unmarked = ([], [])

    monkeypatch.setattr(relay, "_mark_delivered", lost)
    await relay.deliver_now([sent])
    await relay.flush()
    assert await relay.deliver_due() == 0, "redelivered during the sender's head start"
    url = relay.sessions.kw["bind"].url.set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(url)
    try:  # the head start is over
        await connection.execute("UPDATE outbox SET next_attempt_at = now() - $1::interval", timedelta(seconds=1))
    finally:
        await connection.close()
    assert await relay.deliver_due() == 1
    assert receiver.received == [sent.payload, sent.payload]  # the receiver deduplicates on the event id
    [row] = await stored(relay)
    assert row["sent_at"] is not None
