"""`make run` from a fresh clone: everything comes up healthy, answers through Envoy, and Ctrl-C
stops all of it with exit code 0.

The clone is of this repository's HEAD (committed code only), with gen/ built in the clone by the
Makefile. The parent's venv is reused (no pip install), with PYTHONPATH putting the clone's code
ahead of the parent's own paths. Ports are free ones and the databases are scratch ones on
127.0.0.1:5432, so a `make run` or other tests on this machine are not disturbed.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
import pytest

from deploy.local.mint_token import dev_user_id
from deploy.local.postgres import local_server_answers
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from tests.support.ports import free_port
from tests.support.services import drop_databases, scratch_database_url

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SERVICES = ("program", "progress", "feedback")
HEALTHY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
HEALTHY = re.compile(r"all healthy in ([0-9.]+) s")
STARTED = re.compile(r"started (\S+) pid (\d+)")


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not local_server_answers():
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 (.ci/run starts it)")
    parent = Path(_git("rev-parse", "--show-toplevel", cwd=HERE))
    target = tmp_path_factory.mktemp("make-run") / "ironpath"
    subprocess.run(["git", "clone", "--quiet", str(parent), str(target)], check=True)
    venv = Path(sys.prefix)
    # The clone's gen/ by the Makefile's own rule, with the parent's venv: VENV points at it and
    # -o keeps make from "rebuilding" that venv (the clone's requirements files are newer than it).
    subprocess.run(
        ["make", "-s", "-C", str(target), "gen", f"VENV={venv}", "-o", f"{venv}/.installed"],
        check=True,
        capture_output=True,
    )
    assert (target / "gen" / "ironpath" / "program" / "v1" / "program_pb2.py").is_file()
    return target


@dataclass
class Run:
    """A supervisor running in the clone, its stdout lines arriving on a queue."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    seen: list[str]
    stderr_path: Path

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise AssertionError(f"no line matching {pattern.pattern!r}; {self.transcript()}")
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            if match := pattern.search(line):
                return match

    def drain(self) -> None:
        while not self.lines.empty():
            self.seen.append(self.lines.get())

    def pids(self) -> dict[str, int]:
        self.drain()
        return {m[1]: int(m[2]) for line in self.seen if (m := STARTED.search(line))}

    def transcript(self) -> str:
        self.drain()
        stderr = self.stderr_path.read_text(errors="replace")[-4000:] if self.stderr_path.exists() else ""
        return "stdout:\n" + "\n".join(self.seen[-60:]) + "\nstderr (end):\n" + stderr


def _start(clone: Path, replicas: int, tmp_path: Path, databases: dict[str, str]) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRONPATH_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(str(clone / p) for p in ("", "libs", "services", "gen"))
    env["IRONPATH_ENV"] = "development"
    for name in SERVICES:
        env[f"IRONPATH_{name.upper()}_PORT"] = str(_port_with_replicas(replicas))
        env[f"IRONPATH_{name.upper()}_METRICS_PORT"] = str(_port_with_replicas(replicas))
        env[f"IRONPATH_{name.upper()}_DATABASE_URL"] = databases[name]
    env["IRONPATH_GATEWAY_PORT"] = str(free_port())
    env["IRONPATH_ENVOY_ADMIN_PORT"] = str(free_port())
    env["IRONPATH_ENVOY_METRICS_PORT"] = str(free_port())
    stderr_path = tmp_path / "supervisor.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.supervisor", "--replicas", str(replicas)],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return Run(proc=proc, lines=lines, seen=[], stderr_path=stderr_path)


def _port_with_replicas(replicas: int) -> int:
    """A free port whose replica ports (+10, +20, ...) are free as well."""
    for _ in range(50):
        port = free_port()
        if port + 10 * replicas < 65536 and all(_is_free(port + 10 * i) for i in range(1, replicas)):
            return port
    raise RuntimeError(f"no free port with {replicas} free replica ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _processes_in(clone: Path) -> list[str]:
    """Anything still running from the clone: by working directory or by a path on its command line."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        cwd = proc.info["cwd"] or ""
        cmdline = " ".join(proc.info["cmdline"] or [])
        if (cwd == str(clone) or cwd.startswith(f"{clone}/") or str(clone) in cmdline) and _alive(proc.pid):
            found.append(f"{proc.pid}: {cmdline}")
    return found


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    prefix = f"ironpath_makerun_{uuid.uuid4().hex[:8]}"
    names = {name: f"{prefix}_{name}" for name in SERVICES}
    try:
        yield {name: scratch_database_url(db) for name, db in names.items()}
    finally:
        drop_databases(list(names.values()))


def _get_me(gateway: str, token: str) -> program_pb2.GetMeResponse:
    with grpc.insecure_channel(gateway) as channel:
        stub = program_pb2_grpc.ProgramServiceStub(channel)
        reply: program_pb2.GetMeResponse = stub.GetMe(
            program_pb2.GetMeRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=10
        )
        return reply


@pytest.mark.parametrize("replicas", [1, 2])
def test_make_run_comes_up_healthy_and_ctrl_c_stops_everything(
    clone: Path,
    databases: dict[str, str],
    replicas: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    started = time.monotonic()
    run = _start(clone, replicas, tmp_path, databases)
    try:
        healthy = run.wait_for(HEALTHY, HEALTHY_TIMEOUT_SECONDS)
        seconds_to_healthy = time.monotonic() - started
        with capsys.disabled():
            print(
                f"\n[make run, {replicas} replica(s)] all healthy {seconds_to_healthy:.2f} s after start "
                f"(supervisor's own count: {healthy[1]} s)"
            )
        record_property("seconds_to_all_healthy", round(seconds_to_healthy, 2))

        # What the banner says to paste works: the token, through the gateway, names the developer.
        token = run.wait_for(re.compile(r"^export TOKEN=(\S+)$"), 5)[1]
        grpcurl = run.wait_for(re.compile(r"^grpcurl .* localhost:(\d+) (\S+)$"), 5)
        assert grpcurl[2] == "ironpath.program.v1.ProgramService/GetMe"
        me = _get_me(f"127.0.0.1:{grpcurl[1]}", token)
        assert me.user.user_id == dev_user_id("developer")

        pids = run.pids()
        assert len([name for name in pids if name.split(".")[0] in SERVICES]) == 3 * replicas
        assert "envoy" in pids
        # The clone's supervisor ran (not the parent's code): it made its folders in the clone.
        assert (clone / ".data" / "envoy").is_dir()

        run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(STOP_TIMEOUT_SECONDS)
        assert code == 0, run.transcript()
        left = [f"{name} (pid {pid})" for name, pid in pids.items() if _alive(pid)]
        assert left == [], run.transcript()
        assert _processes_in(clone) == []
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        for pid in run.pids().values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
