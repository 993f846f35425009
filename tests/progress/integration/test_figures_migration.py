"""Migration 0003 gives the logs that already hold performed sets their figures, and only them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
from alembic import command

from ironpath_common.db import alembic_config, prepare_database
from ironpath_training.sets import PerformedSet
from progress_svc.repository import encode_performed_sets, figures_for_stored_sets
from tests.support.services import ADMIN_DSN, REPO, drop_databases, scratch_database_url

DATABASE = "ironpath_test_progress_figures_migration"
MIGRATIONS = Path(REPO) / "services" / "progress_svc" / "migrations"
VERSION_TABLE = "progress_alembic_version"
SETS = [PerformedSet("back_squat", n, 5, 100.0, 7.5, 5, 100.0, 8.0) for n in (1, 2, 3)]


async def _insert(dsn: str, rows: list[tuple[str, uuid.UUID, int, bytes | None]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO progress_logs (user_id, program_id, week_number, day_number, title, planned_pb, status, "
            "performed_pb) VALUES ($1, $2, $3, 1, 'Session', '\\x'::bytea, "
            "CASE WHEN $4::bytea IS NULL THEN 'planned' ELSE 'completed' END, $4)",
            rows,
        )
    finally:
        await conn.close()


async def _figures(dsn: str) -> dict[tuple[str, int], bytes | None]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT user_id, week_number, figures_pb FROM progress_logs")
        return {(r["user_id"], r["week_number"]): r["figures_pb"] for r in rows}
    finally:
        await conn.close()


def test_upgrading_fills_the_figures_of_logs_with_sets():
    drop_databases([DATABASE])
    url = scratch_database_url(DATABASE)
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + DATABASE
    config = alembic_config(url, MIGRATIONS, VERSION_TABLE)
    try:
        prepare_database(url, MIGRATIONS, VERSION_TABLE)
        command.downgrade(config, "0002")
        performed = encode_performed_sets(SETS)
        program = uuid.uuid4()
        # More rows than one backfill batch, over two users.
        rows = [
            (f"lifter-{u}", program, week, performed if week % 2 else None) for u in (1, 2) for week in range(1, 701)
        ]
        asyncio.run(_insert(dsn, rows))

        command.upgrade(config, "head")

        figures = asyncio.run(_figures(dsn))
        expected = figures_for_stored_sets(performed)
        assert expected is not None
        assert len(figures) == 1400
        for (user, week), stored in figures.items():
            assert stored == (expected if week % 2 else None), (user, week)
    finally:
        drop_databases([DATABASE])
