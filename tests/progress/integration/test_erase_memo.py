"""Erasing a lifter also empties the progress process's memo of decoded figures (which may hold
theirs), on a real PostgreSQL with the service's migrations."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from ironpath.common.v1 import training_pb2
from ironpath_common.db import prepare_database
from ironpath_training.sets import PerformedSet
from progress_svc.domain import SessionKey
from progress_svc.repository import NewLog, ProgressRepository, decode_figures
from tests.support.services import REPO, drop_databases, scratch_database_url

DATABASE = os.environ.get("IRONPATH_TEST_DATABASE_PREFIX", "ironpath_test") + "_progress_erase_memo"
LIFTER = "lifter-erased"


async def _read_then_erase(url: str) -> tuple[int, int, int]:
    engine = create_async_engine(url)
    program = str(uuid.uuid4())
    squat = PerformedSet("back_squat", 1, 5, 100.0, 8.0, 5, 100.0, 8.0)
    try:
        async with engine.begin() as connection:
            repo = ProgressRepository(connection)
            planned = training_pb2.PlannedSession(week_number=1, day_number=1, title="Day 1").SerializeToString()
            await repo.insert_logs(LIFTER, program, [NewLog(1, 1, "Day 1", date(2026, 1, 5), planned)])
            key = SessionKey(program, 1, 1)
            await repo.complete_first_time(LIFTER, key, datetime(2026, 1, 5, 18, tzinfo=UTC), [squat], 8.0)
        decode_figures.cache_clear()
        async with engine.connect() as connection:
            read = await ProgressRepository(connection).analytics_sessions(LIFTER, program_id=program)
        remembered = decode_figures.cache_info().currsize
        async with engine.begin() as connection:
            await ProgressRepository(connection).erase_user(LIFTER)
        return len(read), remembered, decode_figures.cache_info().currsize
    finally:
        await engine.dispose()


def test_erasing_a_lifter_empties_the_decoded_figures_memo():
    drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    try:
        prepare_database(url, Path(REPO) / "services" / "progress_svc" / "migrations", "progress_alembic_version")
        read, remembered, after_erase = asyncio.run(_read_then_erase(url))
        assert (read, remembered, after_erase) == (1, 1, 0)
    finally:
        drop_databases([DATABASE])
