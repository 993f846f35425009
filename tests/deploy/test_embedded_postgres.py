"""The embedded PostgreSQL that `make run` starts on a machine without one, for real."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.local.postgres import SERVICES, Databases, find_postgres
from ironpath_common.db import asyncpg_dsn, ensure_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
KILLED_RUN = """
import sys, time
from pathlib import Path
from deploy.local.postgres import find_postgres
databases = find_postgres({}, Path(sys.argv[1]), force_embedded=True)
print(databases.embedded.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Running; a zombie waiting for init to reap it has stopped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _clean_shutdowns(data_dir: Path) -> int:
    """How often the server logged a clean (not killed) shutdown."""
    log = data_dir / "log"
    return log.read_text(errors="replace").count("database system is shut down") if log.exists() else 0


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(str(data_dir) in part for part in cmdline) and _alive(proc.pid):
            found.append(proc)
    return found


async def _create_and_use(url: str) -> str:
    # The services' own code path: create the database through the server URL, then connect with
    # SQLAlchemy (as the services do) and with asyncpg (as their database creation does).
    await ensure_database(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS kept (note text)"))
            await conn.execute(text("INSERT INTO kept VALUES ('still here')"))
            await conn.commit()
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SELECT current_database()"))
    finally:
        await conn.close()


async def _read_note(url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SELECT note FROM kept"))
    finally:
        await conn.close()


def _start(data_dir: Path) -> Databases:
    # Forced even though 127.0.0.1:5432 answers on this machine.
    databases = find_postgres({}, data_dir, force_embedded=True)
    assert databases.embedded is not None
    return databases


def test_embedded_postgres_starts_creates_a_database_and_stops_leaving_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    databases = _start(data_dir)
    assert databases.embedded is not None
    pid = databases.embedded.pid
    try:
        assert pid is not None and _alive(pid)
        socket_dir = databases.embedded.socket_dir
        assert set(databases.urls) == set(SERVICES)
        for name, url in databases.urls.items():
            assert url == f"postgresql+asyncpg://postgres@/ironpath_{name}?host={socket_dir}"
        assert asyncio.run(_create_and_use(databases.urls["program"])) == "ironpath_program"
    finally:
        databases.stop()

    assert not _alive(pid)
    assert _postgres_processes(data_dir) == []
    assert _clean_shutdowns(data_dir) == 1


def test_embedded_postgres_keeps_its_data_and_is_stopped_after_a_killed_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    first = _start(data_dir)
    try:
        asyncio.run(_create_and_use(first.urls["progress"]))
    finally:
        first.stop()

    # A supervisor killed with SIGKILL leaves the server running and its own pid in the wheel's
    # handle list; the next run must adopt that server, find the data, and still stop it.
    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(data_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert killed.stdout is not None
    orphan_pid = int(killed.stdout.readline())
    killed.kill()
    killed.wait()
    assert _alive(orphan_pid)

    second = _start(data_dir)
    assert second.embedded is not None
    try:
        assert second.embedded.pid == orphan_pid
        assert asyncio.run(_read_note(second.urls["progress"])) == "still here"
    finally:
        second.stop()
    assert not _alive(orphan_pid)
    assert _postgres_processes(data_dir) == []
    assert _clean_shutdowns(data_dir) == 2
