"""The real services as child processes on free ports, each on its own test database.

Started exactly as production starts them (`python -m <service>`), so the tests exercise
settings, migrations, health, auth and graceful stop as they really run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ironpath_common.clients import MAX_RECONNECT_BACKOFF_MS
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("program", "progress", "feedback")
ADMIN_DSN = os.environ.get("IRONPATH_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def scratch_database_url(database: str) -> str:
    host_part = ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{host_part}/{database}"


async def _drop_databases(names: list[str]) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def drop_databases(names: list[str]) -> None:
    asyncio.run(_drop_databases(names))


def wait_serving(address: str, timeout: float = 30.0, service: str = "") -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} did not report SERVING within {timeout}s")
            time.sleep(0.05)


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    # Its own Prometheus port, so any number of processes of one service can run side by side.
    metrics_port: int = field(default_factory=free_port)
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        log = self.log_path.open("ab")
        env = {**self.env, f"IRONPATH_{self.name.upper()}_METRICS_PORT": str(self.metrics_port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"{self.name}_svc"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        log.close()
        self.starts += 1

    def wait_serving(self, timeout: float = 30.0) -> None:
        try:
            wait_serving(self.address, timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name} not serving; log tail:\n{self.log_tail()}") from None
        if self.starts > 1:
            # Restarted: the other services' channels retry at most this often (plus 20 % jitter),
            # so only after it does a test's next call find every peer connected again.
            time.sleep(MAX_RECONNECT_BACKOFF_MS * 1.2 / 1000)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class ServiceStack:
    """The three services, sharing one environment so they find each other."""

    env: dict[str, str]
    log_dir: Path
    # Overridable so two checkouts (or two people) can run the suite on one PostgreSQL at once.
    database_prefix: str = field(
        default_factory=lambda: os.environ.get("IRONPATH_TEST_DATABASE_PREFIX", "ironpath_test")
    )
    names: tuple[str, ...] = SERVICES
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {**os.environ, **self.env}
        for name in self.names:
            port = free_port()
            upper = name.upper()
            self.env[f"IRONPATH_{upper}_PORT"] = str(port)
            self.env[f"IRONPATH_{upper}_ADDR"] = f"127.0.0.1:{port}"
            self.env[f"IRONPATH_{upper}_DATABASE_URL"] = scratch_database_url(self.database(name))
        for name in self.names:
            self.services[name] = ServiceProcess(
                name, int(self.env[f"IRONPATH_{name.upper()}_PORT"]), self.env, self.log_dir / f"{name}.log"
            )

    def database(self, name: str) -> str:
        return f"{self.database_prefix}_{name}"

    def database_dsn(self, name: str) -> str:
        return ADMIN_DSN.rsplit("/", 1)[0] + "/" + self.database(name)

    def address(self, name: str) -> str:
        return self.services[name].address

    def start(self) -> None:
        drop_databases([self.database(name) for name in self.names])
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_serving()

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
