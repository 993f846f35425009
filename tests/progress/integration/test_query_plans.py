"""The progress repository's reads use indexes on a large table (checked with EXPLAIN on the
statements the repository really sends, captured from the engine and the asyncpg driver)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from ironpath_common.db import prepare_database
from progress_svc.domain import SessionKey
from progress_svc.repository import ProgressRepository
from tests.support.services import REPO, drop_databases, scratch_database_url

DATABASE = "ironpath_test_progress_plans"
LIFTERS = 10_000  # x 4 weeks x 5 days = 200,000 logs

FILL = f"""
INSERT INTO progress_logs (user_id, program_id, week_number, day_number, title, planned_pb, status,
                           completed_at, scheduled_date)
SELECT 'lifter-' || u, md5('program-' || u)::uuid, w, d, 'Session', '\\x00'::bytea,
       CASE WHEN (u + w + d) % 3 = 0 THEN 'completed' ELSE 'planned' END,
       CASE WHEN (u + w + d) % 3 = 0 THEN timestamptz '2026-01-01' + ((u * 7 + w * 5 + d) % 300) * interval '1 day' END,
       CASE WHEN (u + w + d) % 4 = 0 THEN date '2026-01-01' + (u + w * 7 + d) % 300 END
FROM generate_series(1, {LIFTERS}) u, generate_series(1, 4) w, generate_series(1, 5) d
"""


async def _check_plans(url: str) -> list[tuple[str, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(FILL)
            await conn.exec_driver_sql("ANALYZE progress_logs")
        captured: list[tuple[str, tuple]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _executemany):
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, tuple(parameters)))

        def capture_raw(query: asyncpg.connection.LoggedQuery) -> None:
            # The hot reads (RawStatement) run on the asyncpg driver, past SQLAlchemy's events.
            if query.query.lstrip().upper().startswith("SELECT"):
                captured.append((query.query, tuple(query.args)))

        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        user, program = "lifter-4242", str(uuid.UUID(hashlib.md5(b"program-4242").hexdigest()))
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            raw.driver_connection.add_query_logger(capture_raw)
            repo = ProgressRepository(connection)
            await repo.program_logs(user, program, full=True)
            await repo.program_logs(user, program, full=False, week_number=3)
            await repo.get_log(user, SessionKey(program, 2, 3), full=True)
            await repo.program_exists(user, program)
            window = {"start": datetime(2026, 3, 1, tzinfo=UTC), "end": datetime(2026, 4, 1, tzinfo=UTC)}
            await repo.list_logs(
                user, program_id=None, time_column="completed_at", after=None, limit=100, full=False, **window
            )
            await repo.list_logs(
                user,
                program_id=None,
                time_column="scheduled_date",
                start=date(2026, 3, 1),
                end=date(2026, 4, 1),
                after=None,
                limit=100,
                full=False,
            )
            await repo.list_logs(
                user,
                program_id=program,
                time_column="due_date",
                start=date(2026, 3, 1),
                end=date(2026, 4, 1),
                after=None,
                limit=100,
                full=True,
            )
            await repo.analytics_sessions(user, program_id=program)
            await repo.analytics_sessions(user, start=date(2026, 3, 1), end=date(2026, 3, 31))
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        plans = []
        async with engine.connect() as conn:
            for statement, parameters in captured:
                rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                plans.append((statement, "\n".join(r[0] for r in rows)))
        return plans
    finally:
        await engine.dispose()


def test_every_progress_read_uses_an_index_on_a_large_table():
    drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    try:
        prepare_database(url, Path(REPO) / "services" / "progress_svc" / "migrations", "progress_alembic_version")
        plans = asyncio.run(_check_plans(url))
        assert len(plans) == 9
        for statement, plan in plans:
            assert "Seq Scan" not in plan, f"{statement}\n{plan}"
            assert "Index" in plan, plan
    finally:
        drop_databases([DATABASE])
