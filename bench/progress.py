"""Progress service benchmark (issue 4): GetProgramProgress (full and summary views) and
MarkSessionComplete, sequentially and at concurrency 16, through Envoy, straight to the
service, and against two floors (asyncpg alone; a bare grpc.aio server on asyncpg).

One client process measures everything: one grpc.aio channel per target, reused, requests
built before the clock starts. The real progress service runs as a process on the bench
database (IRONPATH_ENV=development), the real Envoy in front of it, and the floor server as
its own process, so each gets its own core time as the service does.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc

from bench import progress_data as data
from bench import progress_floor as floor
from bench.core import (
    REPO,
    Benchmark,
    Call,
    CpuMeter,
    Options,
    Outcome,
    Row,
    Target,
    code_version,
    find_row,
    machine_line,
    measure_concurrent,
    measure_sequential,
    register,
    results_table,
    targets_table,
    until_ok,
)
from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.common.v1 import training_pb2 as tpb
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from ironpath_common.auth import mint_user_token
from ironpath_common.db import prepare_database
from ironpath_common.settings import AuthSettings
from progress_svc.repository import figures_for_stored_sets
from tests.support.ports import free_port
from tests.support.services import ADMIN_DSN, ServiceProcess

logger = logging.getLogger("bench.progress")

FULL = "GetProgramProgress"
SUMMARY = "GetProgramProgressSummary"
COMPLETE = "MarkSessionComplete"
NAMES = (FULL, SUMMARY, COMPLETE)
VIAS = ("envoy", "direct", "grpc-asyncpg-floor", "asyncpg-floor")
POOL_SIZE = 10  # the service's default IRONPATH_DB_POOL_SIZE; the floors get the same
CALL_TIMEOUT_SECONDS = 10.0
MIGRATIONS = REPO / "services" / "progress_svc" / "migrations"


def database_dsn() -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + data.DATABASE


def database_url() -> str:
    return "postgresql+asyncpg://" + database_dsn().removeprefix("postgresql://")


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Stack:
    env: dict[str, str]
    service: ServiceProcess
    floor_port: int
    floor_process: subprocess.Popen[bytes] | None
    envoy: EnvoyProcess
    log_dir: Path

    @property
    def targets(self) -> dict[str, str]:
        return {
            "envoy": f"127.0.0.1:{self.envoy.settings.port}",
            "direct": self.service.address,
            "grpc-asyncpg-floor": f"127.0.0.1:{self.floor_port}",
        }


def _bench_env() -> dict[str, str]:
    """The process environment minus any IRONPATH_* of the caller's shell, plus the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONPATH_")}
    port = free_port()
    env.update(
        {
            "IRONPATH_ENV": "development",
            "IRONPATH_BIND_HOST": "127.0.0.1",
            "IRONPATH_PROGRESS_PORT": str(port),
            "IRONPATH_PROGRESS_ADDR": f"127.0.0.1:{port}",
            "IRONPATH_PROGRESS_DATABASE_URL": database_url(),
            "IRONPATH_GRACE_SECONDS": "1",
            # Envoy needs an address for every upstream; nothing listens on these two.
            "IRONPATH_PROGRAM_ADDR": f"127.0.0.1:{free_port()}",
            "IRONPATH_FEEDBACK_ADDR": f"127.0.0.1:{free_port()}",
            "IRONPATH_GATEWAY_PORT": str(free_port()),
            "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
            # The gateway's per-process backstop (200 requests/s by default) would cap every
            # concurrent figure; the benchmark measures the path, not the limiter.
            "IRONPATH_GATEWAY_RATE_LIMIT_RPS": "1000000",
        }
    )
    return env


@contextmanager
def running_stack() -> Iterator[Stack]:
    env = _bench_env()
    log_dir = Path(tempfile.mkdtemp(prefix="ironpath-bench-"))
    service = ServiceProcess("progress", int(env["IRONPATH_PROGRESS_PORT"]), env, log_dir / "progress.log")
    floor_port = free_port()
    floor_log = (log_dir / "floor.log").open("ab")
    floor_process: subprocess.Popen[bytes] | None = None
    envoy = EnvoyProcess(GatewaySettings.from_env(env), log_dir=log_dir / "envoy")
    keep_logs = False
    try:
        service.start()
        floor_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.floor_server",
                "--port",
                str(floor_port),
                "--dsn",
                database_dsn(),
                "--pool-size",
                str(POOL_SIZE),
            ],
            cwd=REPO,
            env=env,
            stdout=floor_log,
            stderr=floor_log,
        )
        service.wait_serving()
        envoy.start()
        yield Stack(env, service, floor_port, floor_process, envoy, log_dir)
    except BaseException:
        print(f"the processes' logs are in {log_dir}", file=sys.stderr, flush=True)
        keep_logs = True
        raise
    finally:
        envoy.stop()
        if floor_process is not None:
            floor_process.terminate()
            try:
                floor_process.wait(10)
            except subprocess.TimeoutExpired:
                floor_process.kill()
                floor_process.wait()
        floor_log.close()
        service.stop()
        if not keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The client


@dataclass(frozen=True)
class Reader:
    lifter: int
    user_id: str
    program_id: str
    program_uuid: uuid.UUID
    metadata: tuple[tuple[str, str], ...]
    full: pb.GetProgramProgressRequest
    summary: pb.GetProgramProgressRequest


# user_id, request_id, request hash, (program, week, day), completed_at, performed_pb, figures_pb,
# session_rpe
FloorParams = tuple[
    str, uuid.UUID, bytes, tuple[uuid.UUID, int, int], datetime, bytes | None, bytes | None, float | None
]


@dataclass
class Write:
    target: data.WriteTarget
    user_id: str
    request: pb.MarkSessionCompleteRequest
    metadata: tuple[tuple[str, str], ...]
    # What the asyncpg floor sends (built before the clock starts, like the requests).
    params: FloorParams | None = None
    performed_pb: bytes | None = None
    figures_pb: bytes | None = None


class Client:
    """Everything the measuring loops call, built once."""

    def __init__(self, stack: Stack) -> None:
        auth = AuthSettings.from_env(stack.env)
        self._tokens: dict[int, tuple[tuple[str, str], ...]] = {}

        def metadata(lifter: int) -> tuple[tuple[str, str], ...]:
            if lifter not in self._tokens:
                token = mint_user_token(
                    auth, data.user_id(lifter), f"lifter{lifter}@example.com", ttl_seconds=12 * 3600
                )
                self._tokens[lifter] = (("authorization", f"Bearer {token}"),)
            return self._tokens[lifter]

        self.readers = [
            Reader(
                lifter=i,
                user_id=data.user_id(i),
                program_id=data.program_id(i),
                program_uuid=uuid.UUID(data.program_id(i)),
                metadata=metadata(i),
                full=pb.GetProgramProgressRequest(program_id=data.program_id(i), view=pb.PROGRESS_VIEW_FULL),
                summary=pb.GetProgramProgressRequest(program_id=data.program_id(i), view=pb.PROGRESS_VIEW_SUMMARY),
            )
            for i in data.measured_lifters()
        ]
        # Completions happened an hour ago (the client sends the time; the service refuses the future).
        completed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        plans = {
            (w, d, level): data.session_plan(w, d, level)
            for w in range(1, data.WEEKS + 1)
            for d in range(1, data.DAYS + 1)
            for level in range(data.LEVELS)
        }
        performed = {key: data.performed_sets(plan, variant=key[0] % 2) for key, plan in plans.items()}
        self.writes = []
        for target in data.write_targets():
            sets = performed[(target.week, target.day, target.lifter % data.LEVELS)]
            request = pb.MarkSessionCompleteRequest(
                session=tpb.SessionRef(
                    program_id=data.program_id(target.lifter), week_number=target.week, day_number=target.day
                ),
                performed_sets=sets,
                session_rpe=8.0,
            )
            request.complete_time.FromDatetime(completed_at)
            self.writes.append(Write(target, data.user_id(target.lifter), request, metadata(target.lifter)))
        # A typical response, stored by the asyncpg floor (which builds nothing).
        self.placeholder_response = b""
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.stubs: dict[str, pb_grpc.ProgressServiceStub] = {}
        self.pool: asyncpg.Pool | None = None

    async def open(self, stack: Stack) -> None:
        for via, address in stack.targets.items():
            channel = grpc.aio.insecure_channel(address)
            self.channels[via] = channel
            self.stubs[via] = pb_grpc.ProgressServiceStub(channel)
        self.pool = await asyncpg.create_pool(database_dsn(), min_size=POOL_SIZE, max_size=POOL_SIZE)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        if self.pool is not None:
            await self.pool.close()

    def new_request_ids(self, floor_params: bool) -> None:
        """A fresh request id on every write request; with `floor_params`, also the asyncpg
        floor's statement parameters for it (its request hash needs the id)."""
        figures: dict[bytes, bytes | None] = {}
        for write in self.writes:
            write.request.request_id = str(uuid.uuid4())
            if not floor_params:
                write.params = None
                continue
            ref = write.request.session
            if write.performed_pb is None:
                write.performed_pb = pb.SessionLog(performed_sets=write.request.performed_sets).SerializeToString()
                if write.performed_pb not in figures:
                    figures[write.performed_pb] = figures_for_stored_sets(write.performed_pb)
                write.figures_pb = figures[write.performed_pb]
            write.params = (
                write.user_id,
                uuid.UUID(write.request.request_id),
                floor.fingerprint(write.request),
                (uuid.UUID(ref.program_id), ref.week_number, ref.day_number),
                write.request.complete_time.ToDatetime(tzinfo=UTC),
                write.performed_pb,
                write.figures_pb,
                write.request.session_rpe or None,
            )

    def call(self, name: str, via: str) -> Call:
        readers = self.readers
        count = len(readers)
        if via == "asyncpg-floor":
            return self._floor_call(name)
        stub = self.stubs[via]
        if name == COMPLETE:
            writes = self.writes
            complete = stub.MarkSessionComplete

            async def write(worker: int, seq: int) -> object:
                w = writes[seq]
                return await complete(w.request, metadata=w.metadata, timeout=CALL_TIMEOUT_SECONDS)

            return write
        get = stub.GetProgramProgress
        full = name == FULL

        async def read(worker: int, seq: int) -> object:
            r = readers[seq % count]
            return await get(r.full if full else r.summary, metadata=r.metadata, timeout=CALL_TIMEOUT_SECONDS)

        return read

    def _floor_call(self, name: str) -> Call:
        pool = self.pool
        assert pool is not None
        readers = self.readers
        count = len(readers)
        if name == COMPLETE:
            writes = self.writes
            placeholder = self.placeholder_response

            async def write(worker: int, seq: int) -> object:
                params = writes[seq].params
                assert params is not None
                return await floor.complete_session(pool, *params, response_bytes=placeholder)

            return write
        statement = floor.SELECT_FULL if name == FULL else floor.SELECT_SUMMARY

        async def read(worker: int, seq: int) -> object:
            r = readers[seq % count]
            return await pool.fetch(statement, r.user_id, r.program_uuid)

        return read


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Shape:
    full_bytes: int
    summary_bytes: int
    logs: int
    completed: int
    performed_sets: int
    write_request_bytes: int
    write_response_bytes: int


async def _check(client: Client) -> Shape:
    """The service and the floor answer the same bytes for the same program, through every target."""
    r = client.readers[0]
    answers = {}
    for via, stub in client.stubs.items():

        def attempt(stub: pb_grpc.ProgressServiceStub = stub) -> Awaitable[object]:
            return stub.GetProgramProgress(r.full, metadata=r.metadata, timeout=CALL_TIMEOUT_SECONDS)

        answers[via] = await until_ok(attempt, f"GetProgramProgress via {via}")
    reference = answers["direct"]
    assert isinstance(reference, pb.GetProgramProgressResponse)
    for via, answer in answers.items():
        if answer != reference:
            raise RuntimeError(f"{via} answers GetProgramProgress differently from the service")
    summary = await client.stubs["direct"].GetProgramProgress(r.summary, metadata=r.metadata)
    floor_summary = await client.stubs["grpc-asyncpg-floor"].GetProgramProgress(r.summary, metadata=r.metadata)
    if summary != floor_summary:
        raise RuntimeError("the floor answers the summary view differently from the service")
    # One real completion (then reset) gives the size of a write's response, and the stand-in
    # the asyncpg floor stores.
    client.new_request_ids(floor_params=False)
    write = client.writes[-1]
    response = await client.stubs["direct"].MarkSessionComplete(write.request, metadata=write.metadata)
    client.placeholder_response = response.SerializeToString()
    await data.reset_writes(database_dsn())
    return Shape(
        full_bytes=reference.ByteSize(),
        summary_bytes=summary.ByteSize(),
        logs=len(reference.logs),
        completed=reference.totals.completed_sessions,
        performed_sets=sum(len(log.performed_sets) for log in reference.logs),
        write_request_bytes=write.request.ByteSize(),
        write_response_bytes=len(client.placeholder_response),
    )


# Other work on the shared machine: wait for at most this much before measuring, and measure
# again (up to MAX_ATTEMPTS times, keeping the least disturbed attempt) when more than
# DISTURBED_CORES ran beside a measurement.
QUIET_CORES = 0.15
DISTURBED_CORES = 0.25
MAX_ATTEMPTS = 4


@dataclass
class Disturbance:
    """The most CPU other work used during any kept measurement of this run."""

    max_cores: float = 0.0


async def _measure(
    client: Client, options: Options, meter: CpuMeter, disturbance: Disturbance, name: str, via: str
) -> list[Row]:
    plan = options.plan
    call = client.call(name, via)
    rows = []
    phases: list[tuple[int, str]] = [] if options.hold_seconds else [(1, "sequential")]
    phases.append((plan.concurrency, "concurrent"))
    quick = plan.sequential_calls < 1000
    attempts = 1 if quick or options.hold_seconds else MAX_ATTEMPTS
    for concurrency, kind in phases:
        best: tuple[float, Row] | None = None  # the least disturbed attempt
        for attempt in range(1, attempts + 1):
            await meter.wait_quiet(QUIET_CORES, max_wait_seconds=2 if quick else 180)
            if name == COMPLETE:
                client.new_request_ids(floor_params=via == "asyncpg-floor")
                restored = await data.reset_writes(database_dsn())
                logger.debug("restored %d logs", restored)
            gc.collect()
            await meter.start()
            try:
                if kind == "sequential":
                    samples = await measure_sequential(call, plan.sequential_calls, plan.sequential_warmup)
                else:
                    seconds = options.hold_seconds or plan.concurrent_seconds
                    samples = await measure_concurrent(call, concurrency, seconds, plan.concurrent_warmup_seconds)
            except IndexError:
                raise RuntimeError(
                    f"{name} via {via} used up all {len(client.writes)} writer sessions; raise progress_data.WRITERS"
                ) from None
            ours, foreign = await meter.stop()
            row = samples.row(name, via, concurrency)
            print(
                f"  {name:<26} {via:<19} c{concurrency:<3} p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms"
                f"  {row.rps:8.1f} req/s  ({len(samples.latencies)} calls; cpu {ours:.2f} cores, other {foreign:.2f})",
                flush=True,
            )
            if best is None or foreign < best[0]:
                best = (foreign, row)
            if foreign <= DISTURBED_CORES:
                break
            if attempt < attempts:
                print(f"    other work used {foreign:.2f} cores during that measurement: measuring again", flush=True)
            elif attempts > 1:
                print(f"    keeping the least disturbed attempt (other work {best[0]:.2f} cores)", flush=True)
        assert best is not None
        disturbance.max_cores = max(disturbance.max_cores, best[0])
        rows.append(best[1])
    if name == COMPLETE:
        await data.reset_writes(database_dsn())
    return rows


async def _measured_pids(client: Client, stack: Stack) -> list[int]:
    """The client, the servers, Envoy, and PostgreSQL's backends of the bench database plus its
    background processes (WAL writer, checkpointer), which the writes keep busy."""
    pids = [os.getpid(), stack.envoy.pid, stack.floor_process.pid if stack.floor_process else None]
    pids.append(stack.service.process.pid if stack.service.process else None)
    assert client.pool is not None
    backends = await client.pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR backend_type <> 'client backend'"
    )
    return [p for p in pids if p is not None] + [r["pid"] for r in backends]


async def run(options: Options) -> Outcome:
    started = time.perf_counter()
    await asyncio.to_thread(prepare_database, database_url(), MIGRATIONS, data.VERSION_TABLE)
    conn = await asyncpg.connect(database_dsn())
    try:
        ready = await data.dataset_ready(conn)
    finally:
        await conn.close()
    if ready:
        print(f"dataset {data.DATABASE}: present (version {data.DATASET_VERSION})", flush=True)
    else:
        print(f"dataset {data.DATABASE}: filling {data.LIFTERS * data.SESSIONS:,} logs ...", flush=True)
        seconds = await data.fill(database_dsn())
        print(f"dataset {data.DATABASE}: filled in {seconds:.1f} s", flush=True)
    restored = await data.reset_writes(database_dsn())
    if restored:
        print(f"dataset: restored {restored} logs an earlier run completed", flush=True)

    rows: list[Row] = []
    disturbance = Disturbance()
    with running_stack() as stack:
        print(
            f"processes: progress_svc pid {stack.service.process.pid if stack.service.process else '?'}, "
            f"floor pid {stack.floor_process.pid if stack.floor_process else '?'}, envoy pid {stack.envoy.pid}; "
            f"logs in {stack.log_dir} (removed after a clean run)",
            flush=True,
        )
        client = Client(stack)
        await client.open(stack)
        try:
            shape = await _check(client)
            print(
                f"full view: {shape.logs} logs, {shape.completed} completed, {shape.performed_sets} performed sets,"
                f" {shape.full_bytes:,} bytes; summary view {shape.summary_bytes:,} bytes;"
                f" MarkSessionComplete request {shape.write_request_bytes:,} bytes,"
                f" response {shape.write_response_bytes:,} bytes",
                flush=True,
            )
            # Everything built so far lives for the whole run: keep it out of the client's GC scans.
            gc.collect()
            gc.freeze()
            meter = CpuMeter(lambda: _measured_pids(client, stack))
            for name in NAMES:
                for via in VIAS:
                    if options.wants(name, via):
                        rows += await _measure(client, options, meter, disturbance, name, via)
        finally:
            await client.close()
    print(f"progress benchmark took {time.perf_counter() - started:.0f} s", flush=True)
    return Outcome(rows=rows, names=NAMES, render=lambda merged: render(merged, shape, options, disturbance))


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def evaluate(rows: list[Row]) -> list[Target]:
    """The issue's targets, all through Envoy, against the floors measured in the same run."""
    targets = []

    def row(name: str, via: str, concurrency: int) -> Row | None:
        return find_row(rows, name, via, concurrency)

    def ratio_target(name: str, label: str, factor: float) -> None:
        mine, base = row(name, "envoy", 16), row(name, "grpc-asyncpg-floor", 16)
        if mine and base:
            ratio = mine.rps / base.rps
            targets.append(
                Target(
                    f"{label} c16 requests/s ≥ {factor}× grpc-asyncpg-floor",
                    f"{mine.rps:,.0f} vs {base.rps:,.0f} = {ratio:.2f}×",
                    ratio >= factor,
                )
            )

    def limit(name: str, label: str, concurrency: int, field: str, bound: float, at_most: bool = True) -> None:
        r = row(name, "envoy", concurrency)
        if r is None:
            return
        value = getattr(r, field)
        what = {"p50_ms": "p50", "p99_ms": "p99", "rps": "requests/s"}[field]
        unit = " ms" if field != "rps" else ""
        sign = "≤" if at_most else "≥"
        met = value <= bound if at_most else value >= bound
        shown = f"{value:,.2f} ms" if field != "rps" else f"{value:,.0f}"
        targets.append(Target(f"{label} c{concurrency} {what} {sign} {bound:,g}{unit}", shown, met))

    ratio_target(FULL, "GetProgramProgress (full)", 0.8)
    limit(FULL, "GetProgramProgress (full)", 16, "p99_ms", 60)
    limit(FULL, "GetProgramProgress (full)", 1, "p50_ms", 4)
    limit(FULL, "GetProgramProgress (full)", 1, "p99_ms", 8)
    limit(SUMMARY, "GetProgramProgressSummary", 1, "p50_ms", 2)
    limit(SUMMARY, "GetProgramProgressSummary", 16, "rps", 1000, at_most=False)
    limit(COMPLETE, "MarkSessionComplete", 1, "p50_ms", 2.5)
    ratio_target(COMPLETE, "MarkSessionComplete", 0.7)
    return targets


def render(rows: list[Row], shape: Shape, options: Options, disturbance: Disturbance) -> str:
    plan = options.plan
    parts = [
        "## Progress service (issue 4)",
        "",
        f"Measured {machine_line()}; client, Envoy, the service, the floor server and PostgreSQL "
        f"share the cores. Code: {code_version()}. `python -m bench progress` reproduces it.",
        "",
        f"- Dataset `{data.DATABASE}`: {data.LIFTERS:,} lifters × one {data.WEEKS}-week × {data.DAYS}-day "
        f"program ({data.LIFTERS * data.SESSIONS:,} logs, about a third completed with 4 exercises × 4 "
        "performed sets, every log with a 4 × 4 prescription), filled once and kept; the sessions the "
        "writes complete are restored before every measurement.",
        f"- Read: one program of {shape.logs} logs ({shape.completed} completed, {shape.performed_sets} "
        f"performed sets); full view {shape.full_bytes / 1024:.1f} KiB per response (every log carries its "
        f"prescription), summary view {shape.summary_bytes / 1024:.1f} KiB; 16 lifters with programs of "
        "this shape, each call reading one of them with that lifter's token.",
        f"- Write: MarkSessionComplete with 16 performed sets ({shape.write_request_bytes} bytes), a fresh "
        "request_id and a different planned session on each call (a real first completion, its "
        f"idempotency record and its change notification); response {shape.write_response_bytes} bytes.",
        f"- Sequential: {plan.sequential_calls:,} calls after {plan.sequential_warmup} warm-up calls. "
        f"Concurrent: {plan.concurrency} workers for {plan.concurrent_seconds:g} s after "
        f"{plan.concurrent_warmup_seconds:g} s of warm-up. One Python grpc.aio client, one channel per target.",
        "- `envoy`: the real gateway config (JWT checked by Envoy and again by the service; its local "
        "rate limit raised out of the way). `direct`: the service's own port. `grpc-asyncpg-floor`: "
        "`bench/floor_server.py`, a bare grpc.aio server with the same statements and the same response "
        "messages, no ORM, no interceptors, no token verification. `asyncpg-floor`: the same statements "
        f"from the client process, building nothing. Service and floors use {POOL_SIZE} connections.",
        f"- Each measurement waited for a quiet machine and was repeated when other work ran beside it; "
        f"other processes used at most {disturbance.max_cores:.2f} cores during the measurements kept.",
        "",
    ]
    for name in NAMES:
        named = [r for r in rows if r.name == name]
        if named:
            parts += [f"### {name}", "", results_table(named), ""]
    parts += [
        "### Targets (issue 4; all through Envoy, ratios against this run's floor)",
        "",
        targets_table(evaluate(rows)),
        "",
    ]
    return "\n".join(parts)


BENCHMARK = register(Benchmark("progress", "progress service: program progress reads and completions", run))
