"""The one-statement way a feedback event completes a session (`complete_with_feedback_once`), on
a real PostgreSQL with the service's migrations: it applies once, changes nothing when the
session was completed before, the log is missing or the event was applied before, and a second
delivery racing the first waits for it and then changes nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ironpath.common.v1 import training_pb2
from ironpath_common.db import prepare_database
from ironpath_training.sets import PerformedSet
from progress_svc.domain import SessionKey
from progress_svc.repository import NewLog, ProgressRepository
from tests.support.services import REPO, _drop_databases, scratch_database_url

DATABASE = os.environ.get("IRONPATH_TEST_DATABASE_PREFIX", "ironpath_test") + "_progress_feedback_statement"
LIFTER = "lifter-feedback"
SQUAT = PerformedSet("back_squat", 1, 5, 100.0, 8.0, 5, 100.0, 9.0)
ADJUSTED = training_pb2.PlannedSession(week_number=1, day_number=2, title="Day 2, lighter").SerializeToString()
FEEDBACK = b"\x08\x01"


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    await _drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    await asyncio.to_thread(
        prepare_database, url, Path(REPO) / "services" / "progress_svc" / "migrations", "progress_alembic_version"
    )
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _drop_databases([DATABASE])


async def program(engine: AsyncEngine) -> str:
    """A program of two sessions, neither completed."""
    program_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        logs = [
            NewLog(1, day, f"Day {day}", date(2026, 1, 4 + day), training_pb2.PlannedSession().SerializeToString())
            for day in (1, 2)
        ]
        await ProgressRepository(connection).insert_logs(LIFTER, program_id, logs)
    return program_id


async def deliver(engine: AsyncEngine, program_id: str, event_id: str, day: int = 1) -> bool:
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return await ProgressRepository(connection).complete_with_feedback_once(
            event_id,
            LIFTER,
            SessionKey(program_id, 1, day),
            datetime(2026, 1, 5, 18, tzinfo=UTC),
            [SQUAT],
            9.0,
            FEEDBACK,
            [(1, 2, ADJUSTED)],
        )


async def state(engine: AsyncEngine, program_id: str) -> list[tuple]:
    """(day, status, version, has feedback, has adjusted prescription) per log, and the claims."""
    async with engine.connect() as connection:
        logs = await connection.exec_driver_sql(
            "SELECT day_number, status, version, feedback_pb IS NOT NULL, adjusted_pb IS NOT NULL"
            f" FROM progress_logs WHERE program_id = '{program_id}' ORDER BY day_number"
        )
        claims = await connection.exec_driver_sql("SELECT count(*) FROM applied_events")
        return [tuple(row) for row in logs] + [("claims", claims.scalar())]


async def test_a_new_event_completes_the_session_and_adjusts_the_next_once(engine):
    program_id, event_id = await program(engine), str(uuid.uuid4())
    assert await deliver(engine, program_id, event_id)
    applied = [(1, "completed", 2, True, False), (2, "planned", 2, False, True), ("claims", 1)]
    assert await state(engine, program_id) == applied
    assert not await deliver(engine, program_id, event_id)
    assert await state(engine, program_id) == applied


async def test_a_session_completed_before_or_missing_is_left_to_the_transaction(engine):
    program_id = await program(engine)
    assert await deliver(engine, program_id, str(uuid.uuid4()))
    before = await state(engine, program_id)
    assert not await deliver(engine, program_id, str(uuid.uuid4()))  # completed: merged elsewhere
    assert not await deliver(engine, program_id, str(uuid.uuid4()), day=3)  # no such log
    assert await state(engine, program_id) == before  # no claim either


async def test_a_delivery_racing_another_of_the_same_event_waits_and_changes_nothing(engine):
    program_id, event_id = await program(engine), str(uuid.uuid4())
    async with engine.connect() as first:
        transaction = await first.begin()
        assert await ProgressRepository(first).complete_with_feedback_once(
            event_id, LIFTER, SessionKey(program_id, 1, 1), datetime(2026, 1, 5, 18, tzinfo=UTC), [SQUAT], 9.0,
            FEEDBACK, [(1, 2, ADJUSTED)],
        )  # fmt: skip
        second = asyncio.create_task(deliver(engine, program_id, event_id))
        await asyncio.sleep(0.3)
        assert not second.done(), "the second delivery did not wait for the first one's row"
        await transaction.commit()
    assert await second is False
    assert await state(engine, program_id) == [
        (1, "completed", 2, True, False),
        (2, "planned", 2, False, True),
        ("claims", 1),
    ]
