"""What the program, feedback and data benchmarks share: the real services as processes on
scratch databases (dropped and created afresh at the start of every run, so nothing grows from
run to run), the real Envoy in front of them, lifters with tokens and profiles, and one
measuring step that waits for a quiet machine and measures again when other work ran beside it
(the progress benchmark's rules, `bench/progress.py`).

Everything is set up through the services' own RPCs: programs through GenerateProgram,
completions through MarkSessionComplete and SubmitWorkoutFeedback, so every row, outbox event
and stored figure is what production would have written.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import asyncpg

from bench.core import (
    _TICKS,
    Call,
    CpuMeter,
    Options,
    Row,
    _process_ticks,
    measure_concurrent,
    measure_sequential,
)
from bench.progress import DISTURBED_CORES, MAX_ATTEMPTS, QUIET_CORES, Disturbance
from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.common.v1 import training_pb2 as tpb
from ironpath.program.v1 import program_pb2 as ppb
from ironpath.program.v1 import program_pb2_grpc as ppb_grpc
from ironpath_common.auth import mint_user_token
from ironpath_common.settings import AuthSettings
from tests.support.ports import free_port
from tests.support.services import ADMIN_DSN, ServiceProcess

SERVICES = ("program", "progress", "feedback")
CALL_TIMEOUT_SECONDS = 30.0

__all__ = ["DISTURBED_CORES", "MAX_ATTEMPTS", "QUIET_CORES", "Disturbance"]


def database_dsn(database: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def database_url(database: str) -> str:
    return "postgresql+asyncpg://" + database_dsn(database).removeprefix("postgresql://")


async def drop_databases(databases: Sequence[str]) -> None:
    """Drops the scratch databases; each service creates and migrates its own when it starts."""
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        for name in databases:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Stack:
    env: dict[str, str]
    databases: dict[str, str]  # service -> its scratch database
    services: dict[str, ServiceProcess]
    envoy: EnvoyProcess
    log_dir: Path

    @property
    def envoy_address(self) -> str:
        return f"127.0.0.1:{self.envoy.settings.port}"

    def address(self, service: str) -> str:
        return self.services[service].address

    def pid(self, service: str) -> int | None:
        process = self.services[service].process
        return process.pid if process is not None else None

    def describe(self) -> str:
        parts = [f"{name}_svc pid {self.pid(name)}" for name in self.services]
        return (
            f"processes: {', '.join(parts)}, envoy pid {self.envoy.pid}; "
            f"logs in {self.log_dir} (removed after a clean run)"
        )


def _bench_env(databases: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The process environment minus any IRONPATH_* (and Gemini key) of the caller's shell, plus
    the bench's own: development auth, free ports, each service on its scratch database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRONPATH_", "GEMINI_", "OTEL_"))}
    env.update(
        {
            "IRONPATH_ENV": "development",
            "IRONPATH_BIND_HOST": "127.0.0.1",
            "IRONPATH_GRACE_SECONDS": "1",
            "IRONPATH_GATEWAY_PORT": str(free_port()),
            "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
            # The gateway's per-process backstop (200 requests/s by default) would cap every
            # concurrent figure; the benchmark measures the path, not the limiter. The services'
            # per-user limits stay as configured: calls spread over enough lifters to stay under them.
            "IRONPATH_GATEWAY_RATE_LIMIT_RPS": "1000000",
        }
    )
    for name in SERVICES:
        port = free_port()
        upper = name.upper()
        # Envoy needs an address for every upstream; nothing listens where no service runs.
        env[f"IRONPATH_{upper}_PORT"] = str(port)
        env[f"IRONPATH_{upper}_ADDR"] = f"127.0.0.1:{port}"
        if name in databases:
            env[f"IRONPATH_{upper}_DATABASE_URL"] = database_url(databases[name])
    env.update(extra)
    return env


@contextmanager
def running_stack(databases: Mapping[str, str], extra_env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """The services named in `databases` (on those databases, which must exist or be creatable)
    and Envoy in front of them; stopped on exit, logs removed unless something failed."""
    env = _bench_env(databases, extra_env or {})
    log_dir = Path(tempfile.mkdtemp(prefix="ironpath-bench-"))
    services = {
        name: ServiceProcess(name, int(env[f"IRONPATH_{name.upper()}_PORT"]), env, log_dir / f"{name}.log")
        for name in SERVICES
        if name in databases
    }
    envoy = EnvoyProcess(GatewaySettings.from_env(env), log_dir=log_dir / "envoy")
    keep_logs = False
    try:
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_serving(timeout=60)
        envoy.start()
        yield Stack(env, dict(databases), services, envoy, log_dir)
    except BaseException:
        print(f"the processes' logs are in {log_dir}", file=sys.stderr, flush=True)
        keep_logs = True
        raise
    finally:
        envoy.stop()
        for service in services.values():
            service.stop()
        if not keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)


ProcessGroups = Callable[[], Awaitable[dict[str, list[int]]]]


async def process_groups(stack: Stack, conn: asyncpg.Connection) -> dict[str, list[int]]:
    """The measured processes by who they are: the client, Envoy, each service, and PostgreSQL's
    backends of the scratch databases plus its background processes (WAL writer, checkpointer),
    which the writes keep busy."""
    groups: dict[str, list[int]] = {"client": [os.getpid()]}
    if stack.envoy.pid is not None:
        groups["envoy"] = [stack.envoy.pid]
    for name in stack.services:
        pid = stack.pid(name)
        if pid is not None:
            groups[f"{name}_svc"] = [pid]
    backends = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[]) OR backend_type <> 'client backend'",
        list(stack.databases.values()),
    )
    groups["postgres"] = [r["pid"] for r in backends]
    return groups


async def measured_pids(stack: Stack, conn: asyncpg.Connection) -> list[int]:
    return [pid for pids in (await process_groups(stack, conn)).values() for pid in pids]


T = TypeVar("T")


async def gather_limited(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int = 4) -> list[T]:
    """Runs set-up calls a few at a time (in order of completion, results in order of jobs)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


# ---------------------------------------------------------------------------------------------
# Lifters


@dataclass(frozen=True)
class Lifter:
    index: int
    user_id: str
    metadata: tuple[tuple[str, str], ...]


def lifters(stack: Stack, prefix: int, count: int) -> list[Lifter]:
    """`count` lifters with user ids of the form `0b0b<prefix>-...`, each with a 12-hour token."""
    auth = AuthSettings.from_env(stack.env)
    found = []
    for i in range(count):
        user_id = f"0b0b{prefix:04d}-0000-4000-8000-{i:012d}"
        token = mint_user_token(auth, user_id, f"lifter{prefix}.{i}@example.com", ttl_seconds=12 * 3600)
        found.append(Lifter(i, user_id, (("authorization", f"Bearer {token}"),)))
    return found


def intermediate_profile() -> ppb.LifterProfile:
    """A realistic intermediate lifter: kilograms, all four one-rep maxes (three tested), a full
    gym, three years of training, strength as the goal."""
    return ppb.LifterProfile(
        unit=tpb.WEIGHT_UNIT_KG,
        bodyweight_kg=82.5,
        height_cm=180,
        age_years=31,
        sex=ppb.SEX_MALE,
        one_rep_maxes=[
            ppb.OneRepMax(lift=tpb.MAIN_LIFT_SQUAT, weight_kg=160, tested=True),
            ppb.OneRepMax(lift=tpb.MAIN_LIFT_BENCH_PRESS, weight_kg=115, tested=True),
            ppb.OneRepMax(lift=tpb.MAIN_LIFT_DEADLIFT, weight_kg=195, tested=True),
            ppb.OneRepMax(lift=tpb.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=72.5, tested=False),
        ],
        experience_level=ppb.EXPERIENCE_LEVEL_INTERMEDIATE,
        training_age_years=3,
        goals=[ppb.TRAINING_GOAL_STRENGTH],
    )


def generate_request(weeks: int, days: int, start: date | None) -> ppb.GenerateProgramRequest:
    """A strength program with the methodology left to the service (5/3/1 for an intermediate)."""
    return ppb.GenerateProgramRequest(
        request_id=str(uuid.uuid4()),
        goal=ppb.TRAINING_GOAL_STRENGTH,
        weeks=weeks,
        days_per_week=days,
        start_date=start.isoformat() if start else "",
    )


async def set_up_profile(program: ppb_grpc.ProgramServiceStub, lifter: Lifter) -> None:
    request = ppb.UpsertProfileRequest(request_id=str(uuid.uuid4()), profile=intermediate_profile())
    await program.UpsertProfile(request, metadata=lifter.metadata, timeout=CALL_TIMEOUT_SECONDS)


async def generate_program(
    program: ppb_grpc.ProgramServiceStub, lifter: Lifter, weeks: int, days: int, start: date | None
) -> ppb.Program:
    reply = await program.GenerateProgram(
        generate_request(weeks, days, start), metadata=lifter.metadata, timeout=CALL_TIMEOUT_SECONDS
    )
    return reply.program


def monday_weeks_ago(today: date, weeks: int) -> date:
    return today - timedelta(days=today.weekday()) - timedelta(weeks=weeks)


def sessions_of(program: ppb.Program) -> list[tpb.PlannedSession]:
    return [session for week in program.program_weeks for session in week.sessions]


def performed_sets(session: tpb.PlannedSession, total: int = 16, variant: int = 0) -> list[tpb.PerformedSet]:
    """What a lifter lifted against the plan: `total` sets over the session's first four exercises,
    as evenly as they go (4 × 4 when there are four or more; 6 + 5 + 5 for three), each set as
    prescribed (an extra set repeats the exercise's last prescribed one). Variant 0 reports RPE on
    each exercise's last set and drops a rep there; variant 1 reports RPE on every set and adds
    load on the first."""
    exercises = list(session.exercises[:4])
    performed = []
    for i, exercise in enumerate(exercises):
        planned = list(exercise.sets)
        count = total // len(exercises) + (1 if i < total % len(exercises) else 0)
        for n in range(1, count + 1):
            plan = planned[min(n, len(planned)) - 1]
            target_rpe = plan.rpe_target or 8.0
            last = n == count
            reps = plan.reps - 1 if variant == 0 and last and plan.reps > 3 else plan.reps
            load = plan.load_kg + 2.5 if variant == 1 and n == 1 and plan.load_kg > 0 else plan.load_kg
            message = tpb.PerformedSet(
                exercise_id=exercise.exercise_id,
                set_number=n,
                target_reps=plan.reps,
                target_load_kg=plan.load_kg,
                target_rpe=plan.rpe_target,
                actual_reps=reps,
                actual_load_kg=load,
            )
            if variant == 1 or last:
                message.actual_rpe = min(10.0, target_rpe + (0.5 if last else 0.0) + 0.5 * variant)
            performed.append(message)
    return performed


# ---------------------------------------------------------------------------------------------
# Measuring


Split = dict[str, float]  # process group -> CPU milliseconds it used per call made


@dataclass
class Measuring:
    """What every measurement of one benchmark run needs. With `groups`, each kept measurement
    also records the cores each group of processes used (`split`, by row), which RESULTS.md
    turns into CPU time per call: where the time goes."""

    options: Options
    meter: CpuMeter
    groups: ProcessGroups | None = None
    disturbance: Disturbance = field(default_factory=Disturbance)
    split: dict[tuple[str, str, int], Split] = field(default_factory=dict)
    # Calls made during the current measurement, warm-up included (counted by the calls).
    made: int = 0

    @property
    def quick(self) -> bool:
        return self.options.plan.sequential_calls < 1000

    def sequential_counts(self, calls: int, warmup: int) -> tuple[int, int]:
        """The row's own counts for a full run, the plan's (smaller) ones for a quick run."""
        plan = self.options.plan
        return min(calls, plan.sequential_calls), min(warmup, plan.sequential_warmup)

    async def _ticks(self) -> dict[str, dict[int, int]]:
        if self.groups is None or not CpuMeter.available():
            return {}
        return {label: {pid: _process_ticks(pid) for pid in pids} for label, pids in (await self.groups()).items()}

    async def _per_call(self, before: dict[str, dict[int, int]]) -> Split:
        """CPU milliseconds each group used since `before`, per call made meanwhile; a process
        that appeared meanwhile counts whole."""
        if self.groups is None or not before or not self.made:
            return {}
        split = {}
        for label, pids in (await self.groups()).items():
            started = before.get(label, {})
            used = 0
            for pid in set(pids) | set(started):
                now = _process_ticks(pid)
                if now:
                    used += now - started.get(pid, 0)
            split[label] = used / _TICKS * 1000 / self.made
        return split

    async def attempts(
        self, label: str, measure: Callable[[], Awaitable[tuple[Row, int]]], prepare: Callable[[], Awaitable[None]]
    ) -> Row:
        """Measures (after `prepare` and a wait for a quiet machine) until other work stayed under
        DISTURBED_CORES, up to MAX_ATTEMPTS times; keeps the least disturbed attempt."""
        attempts = 1 if self.quick or self.options.hold_seconds else MAX_ATTEMPTS
        best: tuple[float, Row, Split] | None = None
        for attempt in range(1, attempts + 1):
            await prepare()
            await self.meter.wait_quiet(QUIET_CORES, max_wait_seconds=2 if self.quick else 180)
            gc.collect()
            await self.meter.start()
            before = await self._ticks()
            self.made = 0
            row, count = await measure()
            split = await self._per_call(before)
            ours, foreign = await self.meter.stop()
            print(
                f"  {label:<36} {row.via:<10} c{row.concurrency:<3} p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms"
                f"  {row.rps:8.1f} req/s  ({count} calls; cpu {ours:.2f} cores, other {foreign:.2f})",
                flush=True,
            )
            if best is None or foreign < best[0]:
                best = (foreign, row, split)
            if foreign <= DISTURBED_CORES:
                break
            if attempt < attempts:
                print(f"    other work used {foreign:.2f} cores during that measurement: measuring again", flush=True)
            elif attempts > 1:
                print(f"    keeping the least disturbed attempt (other work {best[0]:.2f} cores)", flush=True)
        assert best is not None
        self.disturbance.max_cores = max(self.disturbance.max_cores, best[0])
        foreign, row, split = best
        if split:
            self.split[row.name, row.via, row.concurrency] = split
        return row

    async def rows(
        self,
        name: str,
        via: str,
        call: Call,
        *,
        sequential: tuple[int, int] | None,
        concurrency: Sequence[int] = (),
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Row]:
        """A sequential row (`sequential` = (calls, warm-up calls) of a full run) and a row per
        concurrency, each measured for the plan's seconds after its warm-up."""
        if not self.options.wants(name, via):
            return []
        plan = self.options.plan

        async def nothing() -> None:
            return None

        ready = prepare or nothing
        inner = call

        async def counted(worker: int, seq: int) -> object:
            self.made += 1
            return await inner(worker, seq)

        call = counted
        found = []
        if sequential is not None and not self.options.hold_seconds:
            calls, warmup = self.sequential_counts(*sequential)

            async def once() -> tuple[Row, int]:
                samples = await measure_sequential(call, calls, warmup)
                return samples.row(name, via, 1), len(samples.latencies)

            found.append(await self.attempts(name, once, ready))
        for workers in concurrency:

            async def loaded(workers: int = workers) -> tuple[Row, int]:
                seconds = self.options.hold_seconds or plan.concurrent_seconds
                samples = await measure_concurrent(call, workers, seconds, plan.concurrent_warmup_seconds)
                return samples.row(name, via, workers), len(samples.latencies)

            found.append(await self.attempts(name, loaded, ready))
        return found


# ---------------------------------------------------------------------------------------------
# RESULTS.md

_VIA_ORDER = ("in-process", "envoy")


def rows_table(rows: Sequence[Row]) -> str:
    """One Markdown table: via / concurrency / p50 / p99 / requests/s (these benchmarks have no
    floor to take ratios against)."""
    lines = ["| via | concurrency | p50 ms | p99 ms | requests/s |", "|---|---:|---:|---:|---:|"]

    def order(r: Row) -> tuple[int, int]:
        return r.concurrency, _VIA_ORDER.index(r.via) if r.via in _VIA_ORDER else len(_VIA_ORDER)

    for r in sorted(rows, key=order):
        lines.append(f"| {r.via} | {r.concurrency} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rps:,.1f} |")
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


_GROUP_ORDER = ("client", "envoy", "program_svc", "progress_svc", "feedback_svc", "postgres")


def cpu_table(rows: Sequence[Row], split: Mapping[tuple[str, str, int], Split]) -> str:
    """CPU milliseconds per call by process group. Empty when nothing was split."""
    measured = [(r, split[r.name, r.via, r.concurrency]) for r in rows if (r.name, r.via, r.concurrency) in split]
    if not measured:
        return ""
    labels = [g for g in _GROUP_ORDER if any(g in s for _, s in measured)]
    labels += sorted({g for _, s in measured for g in s} - set(labels))
    lines = [
        "| row | via | concurrency | " + " | ".join(labels) + " | all |",
        "|---|---|---:|" + "---:|" * (len(labels) + 1),
    ]
    for r, s in measured:
        per_call = [s.get(label, 0.0) for label in labels]
        cells = " | ".join(f"{v:.2f}" for v in per_call)
        lines.append(f"| {r.name} | {r.via} | {r.concurrency} | {cells} | {sum(per_call):.2f} |")
    return "\n".join(lines)


CPU_NOTE = (
    "CPU time per call, in milliseconds, by process: the CPU time each used during the measurement "
    "over the calls it made (warm-up included). With two cores, the `all` column bounds the concurrent "
    "throughput at about 2000 / all requests/s; at concurrency 1 it is most of the latency."
)


def where_the_time_goes(rows: Sequence[Row], names: Sequence[str], measuring: Measuring | None) -> list[str]:
    """The RESULTS.md lines of the CPU-per-call table for this run's rows (none without a split)."""
    if measuring is None:
        return []
    ordered = sorted((r for r in rows if r.name in names), key=lambda r: (names.index(r.name), r.concurrency, r.via))
    table = cpu_table(ordered, measuring.split)
    return ["### Where the time goes", "", CPU_NOTE, "", table, ""] if table else []
