"""Live changes across replicas: one PostgreSQL LISTEN connection per process fans the
`progress_changes` notifications out to the WatchProgress streams of that process.

Writers notify inside their transaction (repository), so a change reaches every replica
that listens on the same database when it commits, and never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import asyncpg

from progress_svc.repository import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

# Put on every queue when notifications may have been missed (reconnect, overflow):
# the watcher then re-reads the whole program.
RESYNC: tuple[int, int] = (0, 0)
_QUEUE_LIMIT = 256
_PROBE_SECONDS = 5.0


class ChangeFeed:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subscribers: dict[str, set[asyncio.Queue[tuple[int, int]]]] = {}
        self.connected = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self, program_id: str) -> Iterator[asyncio.Queue[tuple[int, int]]]:
        """(week, day) of each change to the program's logs, or RESYNC."""
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue(_QUEUE_LIMIT)
        self._subscribers.setdefault(program_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(program_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[program_id]

    async def run(self) -> None:
        """Keeps the LISTEN connection up for the life of the process, reconnecting with backoff."""
        backoff = 0.5
        first = True
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
                if not first:
                    self._resync_all()  # changes made while we were away were not heard
                first = False
                backoff = 0.5
                self.connected.set()
                while True:
                    await asyncio.sleep(_PROBE_SECONDS)
                    await connection.execute("SELECT 1", timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                self.connected.clear()
                logger.warning("change feed disconnected: %s; retrying in %.1fs", type(error).__name__, backoff)
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        program_id, week, day = payload.split(":")
        for queue in self._subscribers.get(program_id, ()):
            self._offer(queue, (int(week), int(day)))

    def _resync_all(self) -> None:
        for queues in self._subscribers.values():
            for queue in queues:
                self._offer(queue, RESYNC)

    @staticmethod
    def _offer(queue: asyncio.Queue[tuple[int, int]], item: tuple[int, int]) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # A watcher this far behind re-reads everything instead of every change.
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(RESYNC)
