"""Each service's own Alembic history runs up from an empty database and back down to base."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import asyncpg
import pytest
from alembic import command

from ironpath_common.db import alembic_config, prepare_database
from tests.support.services import ADMIN_DSN, REPO, drop_databases, scratch_database_url

SERVICES = ["program", "progress", "feedback"]


async def _tables(database: str) -> set[str]:
    conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + "/" + database)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_up_from_empty_and_down_to_base(service):
    database = f"ironpath_migrations_{service}"
    drop_databases([database])
    url = scratch_database_url(database)
    migrations = Path(REPO) / "services" / f"{service}_svc" / "migrations"
    version_table = f"{service}_alembic_version"
    try:
        prepare_database(url, migrations, version_table)
        upgraded = asyncio.run(_tables(database))
        assert version_table in upgraded
        assert len(upgraded) > 1, "head created no tables"

        command.downgrade(alembic_config(url, migrations, version_table), "base")
        assert asyncio.run(_tables(database)) == {version_table}

        # And up again: downgrades leave nothing behind that breaks a re-run.
        command.upgrade(alembic_config(url, migrations, version_table), "head")
        assert asyncio.run(_tables(database)) == upgraded
    finally:
        drop_databases([database])


def test_two_processes_migrating_at_once_both_succeed():
    """Replicas start together; the advisory lock serializes their migrations."""
    database = "ironpath_migrations_concurrent"
    drop_databases([database])
    url = scratch_database_url(database)
    migrations = Path(REPO) / "services" / "progress_svc" / "migrations"
    try:
        prepare_database(url, migrations, "progress_alembic_version")  # create it first; creation races are separate
        command.downgrade(alembic_config(url, migrations, "progress_alembic_version"), "base")
        with concurrent.futures.ProcessPoolExecutor(2) as pool:
            futures = [pool.submit(prepare_database, url, migrations, "progress_alembic_version") for _ in range(2)]
            for future in futures:
                future.result(timeout=60)
        assert "progress_logs" in asyncio.run(_tables(database))
    finally:
        drop_databases([database])
