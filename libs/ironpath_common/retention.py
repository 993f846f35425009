"""The retention job: operational records a service no longer needs are deleted on a schedule.

Each service declares what it purges as `PurgeRule`s (table, timestamp column, extra
condition, and the setting that says how many days to keep). Training data is never named
by a rule: it stays until the lifter erases the account. The job runs in every service
process every `IRONPATH_RETENTION_INTERVAL_SECONDS`, and as `python -m <service> purge`.

Rows go in small batches, each its own short transaction, so a purge never holds locks for
long; replicas running the job at the same time only find less to delete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ironpath_common.db import transaction
from ironpath_common.settings import (
    RETENTION_FAILED_OUTBOX_DAYS,
    RETENTION_OUTBOX_DAYS,
    RETENTION_REQUEST_DAYS,
    ConfigError,
    RetentionSettings,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass(frozen=True)
class PurgeRule:
    """Rows of `table` whose `timestamp_column` is older than the days `setting` names (and
    that meet `condition`) are deleted."""

    name: str
    table: Table
    timestamp_column: str
    setting: str
    condition: ColumnElement[bool] | None = None


def processed_requests_rule(table: Table) -> PurgeRule:
    """Idempotency records: a client retries within minutes, never after the retention window."""
    return PurgeRule("processed_requests", table, "created_at", RETENTION_REQUEST_DAYS)


def delivered_outbox_rule(table: Table) -> PurgeRule:
    """Outbox events the receiver acknowledged."""
    return PurgeRule("outbox_delivered", table, "sent_at", RETENTION_OUTBOX_DAYS, table.c.sent_at.is_not(None))


def failed_outbox_rule(table: Table) -> PurgeRule:
    """Outbox events the receiver refused for good (parked, kept a while for inspection).
    Events still waiting for delivery are never purged."""
    return PurgeRule("outbox_failed", table, "failed_at", RETENTION_FAILED_OUTBOX_DAYS, table.c.failed_at.is_not(None))


def outbox_rules(table: Table) -> list[PurgeRule]:
    return [delivered_outbox_rule(table), failed_outbox_rule(table)]


def check_rules(rules: Sequence[PurgeRule], settings: RetentionSettings) -> None:
    """Fails at start when a rule names a setting that does not exist or a missing column."""
    for rule in rules:
        if rule.setting not in settings.days:
            raise ConfigError(f"retention rule {rule.name} names an unknown setting {rule.setting}")
        if rule.timestamp_column not in rule.table.c:
            raise ConfigError(f"retention rule {rule.name}: {rule.table.name} has no {rule.timestamp_column}")


async def purge_once(
    sessions: async_sessionmaker[AsyncSession], rules: Sequence[PurgeRule], settings: RetentionSettings
) -> dict[str, int]:
    """Deletes what every rule says is past its time; returns the rows deleted per rule."""
    check_rules(rules, settings)
    deleted: dict[str, int] = {}
    for rule in rules:
        days = settings.days[rule.setting]
        deleted[rule.name] = 0 if days == 0 else await _purge_rule(sessions, rule, days)
        if deleted[rule.name]:
            logger.info("retention purged", extra={"rule": rule.name, "rows": deleted[rule.name], "days": days})
    return deleted


async def _purge_rule(sessions: async_sessionmaker[AsyncSession], rule: PurgeRule, days: int) -> int:
    table = rule.table
    key = tuple_(*table.primary_key.columns)
    due = select(*table.primary_key.columns).where(table.c[rule.timestamp_column] < func.now() - timedelta(days=days))
    if rule.condition is not None:
        due = due.where(rule.condition)
    total = 0
    while True:
        async with transaction(sessions) as session:
            result = await session.execute(
                delete(table).where(key.in_(due.limit(BATCH_SIZE))).execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        total += count
        if count < BATCH_SIZE:
            return total


class RetentionJob:
    """The background task: a purge every interval, the first one right after start."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: Sequence[PurgeRule],
        settings: RetentionSettings,
    ) -> None:
        check_rules(rules, settings)
        self._sessions = sessions
        self._rules = list(rules)
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                await purge_once(self._sessions, self._rules, self._settings)
            except Exception:  # the database may be away; try again next interval
                logger.exception("retention pass failed")
            await asyncio.sleep(self._settings.interval_seconds)
