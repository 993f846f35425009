"""Database plumbing: the engine, the per-RPC transaction, creating a service's database
and applying its own Alembic history before it serves."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

logger = logging.getLogger(__name__)

# Constraint names every service's models get, so migrations name them predictably.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(url: str, *, pool_size: int, application_name: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=5,
        connect_args={"server_settings": {"application_name": application_name}, "command_timeout": 30, "timeout": 5},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One RPC's unit of work: committed once when the block ends, rolled back on any exception."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose every statement commits on its own: no BEGIN and COMMIT round trips. For
    reads that need no single snapshot, and for a single write that is atomic by itself."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the health monitor logs the transition
        return False
    return True


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The SQLAlchemy URL as a plain libpq-style DSN for asyncpg (optionally another database)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Creates the URL's database if it does not exist (tolerating a concurrent creator)."""
    name = make_url(url).database
    if not name:
        raise ValueError("database URL names no database")
    conn = await asyncpg.connect(asyncpg_dsn(url, "postgres"), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                logger.info("created database %s", name)
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass
    finally:
        await conn.close()


def alembic_config(url: str, script_location: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


def prepare_database(url: str, script_location: Path, version_table: str) -> None:
    """Creates the database if absent and upgrades it to head. Runs before the event loop starts."""
    asyncio.run(ensure_database(url))
    command.upgrade(alembic_config(url, script_location, version_table), "head")


def run_migrations_env(metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py`: online, async, one transaction, serialized
    across replicas by an advisory lock so two starting processes never migrate at once."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    version_table = config.attributes.get("version_table", "alembic_version")
    assert url is not None

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, version_table=version_table)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(version_table.encode())})
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run_async())


class RawStatement:
    """A Core statement compiled once to asyncpg's SQL and run on the connection's asyncpg driver.

    For the hot paths: SQLAlchemy's per-execution and per-row work costs more there than the
    statement itself, while asyncpg decodes rows in C and prepares each statement once per
    connection. It runs on a connection or on a session's, and inside a transaction (the
    connection's or the session's) it is part of it like any other statement. Rows come back as
    asyncpg Records (tuples in the statement's column order) with asyncpg's own types: a UUID
    column reads as `asyncpg.pgproto.pgproto.UUID`, which `str()`s and compares like `uuid.UUID`."""

    _dialect = PGDialect_asyncpg()

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=self._dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._names = compiled.positiontup or []
        # Literals Core turned into parameters (e.g. 'UTC' in timezone('UTC', ...), a NULL in
        # values()); a bindparam() left out is a KeyError, never a silent NULL.
        self._defaults = {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}

    def _args(self, params: dict[str, Any]) -> list[Any]:
        values = {**self._defaults, **params}
        return [values[name] for name in self._names]

    async def fetch(self, on: AsyncConnection | AsyncSession, **params: Any) -> list[asyncpg.Record]:
        args = self._args(params)
        async with _driver(on) as driver:
            return await driver.fetch(self.sql, *args)

    async def fetchrow(self, on: AsyncConnection | AsyncSession, **params: Any) -> asyncpg.Record | None:
        args = self._args(params)
        async with _driver(on) as driver:
            return await driver.fetchrow(self.sql, *args)

    async def execute(self, on: AsyncConnection | AsyncSession, **params: Any) -> None:
        args = self._args(params)
        async with _driver(on) as driver:
            await driver.execute(self.sql, *args)


class StaleTransaction(Exception):
    """A pooled connection found inside a transaction nobody is tracking: written on, nothing
    would ever be committed."""


@asynccontextmanager
async def _driver(on: AsyncConnection | AsyncSession) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under a connection (or the one a session works in), inside its
    transaction, and handled on failure as SQLAlchemy handles its own statements."""
    connection = on if isinstance(on, AsyncConnection) else await on.connection()
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    driver: asyncpg.Connection = raw.driver_connection
    try:
        if adapter._transaction is None:
            if driver.is_in_transaction():
                raise StaleTransaction("the connection is inside a transaction SQLAlchemy did not start")
            if connection.in_transaction():
                # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement,
                # and has no public way to ask for it: start it now (a no-op in autocommit), so
                # this statement is inside the transaction and the adapter's COMMIT or ROLLBACK
                # covers it.
                await adapter._start_transaction()
        yield driver
    except asyncpg.PostgresError:
        raise  # the server refused the statement: the transaction's rollback deals with it
    except BaseException as error:
        # Interrupted mid-statement (a cancelled RPC), or the connection itself failed: like
        # SQLAlchemy, never hand this connection out again. Back in the pool as it is, it could
        # still be inside a transaction nobody will commit, and the next request's writes would
        # vanish with it.
        await connection.invalidate(error)
        raise


class Database:
    """A service's connections, without the ORM session (for services on a hot path).

    `transaction()` is one RPC's unit of work: committed when the block ends, rolled back on
    any exception. `autocommit()` is for a read, or a write that is one statement (atomic by
    itself): no BEGIN and COMMIT round trips around it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        async with self._autocommit.connect() as connection:
            yield connection
