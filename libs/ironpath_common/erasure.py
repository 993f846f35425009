"""Account erasure plumbing every service shares: find each column of a service's tables that
holds a user id, and delete every row naming the user.

A column holds a user id when it is called `user_id` or ends in `_user_id` (`owner_user_id`,
`grantee_user_id`). Driving the erase from the service's own metadata, rather than from a list
kept by hand, means a table added later is erased too; the API tests scan every column of every
database afterwards to prove nothing was missed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, MetaData, Table, delete, func, or_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def user_id_columns(table: Table) -> list[Column[str]]:
    return [c for c in table.columns if c.name == "user_id" or c.name.endswith("_user_id")]


async def delete_user_rows(
    session: AsyncSession | AsyncConnection, metadata: MetaData, user_id: str, *, skip: Iterable[str] = ()
) -> dict[str, int]:
    """Deletes every row of every table in `metadata` that names the user, in dependency order,
    inside the caller's transaction. Returns the rows deleted per table (tables with none left out)."""
    skipped = set(skip)
    deleted: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):  # children before the tables they reference
        columns = user_id_columns(table)
        if not columns or table.name in skipped:
            continue
        result = await session.execute(delete(table).where(or_(*(c == user_id for c in columns))))
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if count:
            deleted[table.name] = count
    return deleted


async def delete_rows_mentioning(session: AsyncSession | AsyncConnection, column: Column[bytes], user_id: str) -> int:
    """Deletes the rows whose bytes in `column` contain the user id: another user's stored
    response that names this user (e.g. a grant between the two). A scan of the whole table,
    fine for the rare erase; keep it to tables where such a mention can occur."""
    table = column.table
    assert isinstance(table, Table)
    mentions = func.position(func.convert_to(user_id, "UTF8").op("IN")(column)) > 0
    result = await session.execute(delete(table).where(column.is_not(None), mentions))
    return int(result.rowcount)  # type: ignore[attr-defined]
