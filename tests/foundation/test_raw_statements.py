"""RawStatement against a real PostgreSQL: a statement run on the asyncpg driver belongs to the
transaction it runs in (committed or rolled back with the SQLAlchemy statements beside it), a
read on an autocommit connection opens none, and a statement interrupted by a cancelled request
never leaves its connection to the next request inside an open transaction."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, func, insert, select

from ironpath_common.db import Database, RawStatement, StaleTransaction, create_engine, ensure_database
from tests.support.services import _drop_databases, scratch_database_url

DATABASE = os.environ.get("IRONPATH_TEST_DATABASE_PREFIX", "ironpath_test") + "_raw_statements"
metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", Text, nullable=False))
ADD = RawStatement(insert(notes).values(id=bindparam("id"), body=bindparam("body")).returning(notes.c.id))
ALL = RawStatement(select(notes.c.id, notes.c.body).order_by(notes.c.id))
SLEEP = RawStatement(select(func.pg_sleep(bindparam("seconds"))))


class Boom(Exception):
    pass


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    await _drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    await ensure_database(url)
    engine = create_engine(url, pool_size=1, application_name="test")  # every request gets the same slot
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield Database(engine)
    finally:
        await engine.dispose()
        await _drop_databases([DATABASE])


async def stored(db: Database) -> list[tuple[int, str]]:
    """What is committed, read on a connection of its own (outside the pool under test)."""
    connection = await asyncpg.connect(db.engine.url.set(drivername="postgresql").render_as_string(False))
    try:
        return [tuple(row) for row in await connection.fetch(ALL.sql)]
    finally:
        await connection.close()


async def test_raw_and_core_statements_commit_together(db: Database):
    async with db.transaction() as connection:
        assert (await ADD.fetchrow(connection, id=1, body="raw first"))[0] == 1
        await connection.execute(insert(notes).values(id=2, body="core after"))
        await ADD.execute(connection, id=3, body="raw after core")
    assert await stored(db) == [(1, "raw first"), (2, "core after"), (3, "raw after core")]


async def test_a_failure_rolls_back_raw_statements_too(db: Database):
    with pytest.raises(Boom):
        async with db.transaction() as connection:
            await ADD.execute(connection, id=1, body="raw")  # before any SQLAlchemy statement
            await connection.execute(insert(notes).values(id=2, body="core"))
            raise Boom
    assert await stored(db) == []


async def test_a_read_on_an_autocommit_connection_opens_no_transaction(db: Database):
    async with db.autocommit() as connection:
        assert await ALL.fetch(connection) == []
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()


async def test_a_missing_parameter_is_refused_not_sent_as_null(db: Database):
    async with db.transaction() as connection:
        with pytest.raises(KeyError):
            await ADD.execute(connection, id=1)


async def test_a_request_cancelled_mid_statement_leaves_no_open_transaction_behind(db: Database):
    async def cancelled_request() -> None:
        async with db.transaction() as connection:
            await ADD.execute(connection, id=1, body="never committed")
            await SLEEP.fetch(connection, seconds=5)

    task = asyncio.create_task(cancelled_request())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next request, on the pool's only slot, starts clean and its write is committed.
    async with db.transaction() as connection:
        await ADD.execute(connection, id=2, body="committed")
    assert await stored(db) == [(2, "committed")]


async def test_a_connection_left_inside_a_transaction_is_never_written_on_silently(db: Database):
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        await raw.driver_connection.execute("BEGIN")  # behind SQLAlchemy's back: the pool's only slot stays in it
    with pytest.raises(StaleTransaction):  # refused loudly, and the connection is thrown away
        async with db.autocommit() as connection:
            await ALL.fetch(connection)
    with pytest.raises(StaleTransaction):
        async with db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute("BEGIN")
        async with db.transaction() as connection:
            await ADD.execute(connection, id=1, body="first")
    async with db.transaction() as connection:
        await ADD.execute(connection, id=2, body="second")
    assert await stored(db) == [(2, "second")]
