"""Program service benchmark (issue 5): the built-in generator writing a 16-week × 5-day program,
in-process (the pure function, no I/O) and as GenerateProgram end to end through Envoy
(sequentially and at concurrency 16).

GenerateProgram through Envoy is the whole call: Envoy checks the token, the program service
reads the profile and the methodology, generates, stores the program and its outbox event in
one transaction, and delivers the event (80 sessions) to the progress service's
InitializeProgramLogs before it answers. The program and progress services run as processes on
scratch databases dropped at the start of every run, so nothing grows from run to run.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import grpc

from bench import stack as st
from bench.core import (
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
    register,
    targets_table,
    until_ok,
)
from ironpath.program.v1 import program_pb2_grpc as ppb_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from program_svc import mappers
from program_svc.domain import GenerationRequest, Profile
from program_svc.generator import generate
from tests.support.services import ADMIN_DSN

NAME = "GenerateProgram"
NAMES = (NAME,)
IN_PROCESS = "in-process"
ENVOY = "envoy"
CONCURRENCY = 16
WEEKS, DAYS = 16, 5

DATABASES = {"program": "ironpath_bench_gen_program", "progress": "ironpath_bench_gen_progress"}
# Lifters the calls go round (each well under the services' per-user rate limit).
LIFTERS, QUICK_LIFTERS = 32, 4
# (calls, warm-up calls) in a full run; a quick run takes the plan's smaller counts.
IN_PROCESS_CALLS = (1000, 100)
ENVOY_CALLS = (500, 50)
REQUESTS = 40_000
TIMEOUT = st.CALL_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Shape:
    methodology_id: str
    sessions: int
    exercises: int
    sets: int
    request_bytes: int
    response_bytes: int
    logs: int


def in_process_input() -> tuple[Profile, GenerationRequest]:
    """The same lifter and request the Envoy rows send, as the service maps them."""
    profile = Profile(**mappers.profile_changes(st.intermediate_profile(), []))
    request = mappers.generation_request(st.generate_request(WEEKS, DAYS, _start()))
    return profile, request


def _start() -> date:
    """Next Monday."""
    return st.monday_weeks_ago(datetime.now(UTC).date(), -1)


class Client:
    def __init__(self, channel: grpc.aio.Channel, lifters: list[st.Lifter], quick: bool) -> None:
        self.channel = channel
        self.program = ppb_grpc.ProgramServiceStub(channel)
        self.progress = pb_grpc.ProgressServiceStub(channel)
        self.lifters = lifters
        start = _start()
        # A fresh request_id on every call, built before any clock starts.
        self.requests = [st.generate_request(WEEKS, DAYS, start) for _ in range(REQUESTS // (10 if quick else 1))]
        self.used = 0

    def call(self) -> Call:
        generate_program, lifters = self.program.GenerateProgram, self.lifters
        count = len(lifters)

        async def call(worker: int, seq: int) -> object:
            if self.used >= len(self.requests):
                raise RuntimeError("GenerateProgram used up its request ids; raise program.REQUESTS")
            request = self.requests[self.used]
            self.used += 1
            return await generate_program(request, metadata=lifters[seq % count].metadata, timeout=TIMEOUT)

        return call


def in_process_call(profile: Profile, request: GenerationRequest) -> Call:
    async def call(worker: int, seq: int) -> object:
        return generate(profile, request)

    return call


async def _check(client: Client) -> Shape:
    """One GenerateProgram through Envoy (retried until Envoy's health checks pass); every session
    has its progress log the moment it returns."""
    lifter = client.lifters[0]
    request = st.generate_request(WEEKS, DAYS, _start())
    reply = await until_ok(
        lambda: client.program.GenerateProgram(request, metadata=lifter.metadata, timeout=TIMEOUT),
        "GenerateProgram through Envoy",
    )
    progress = await client.progress.GetProgramProgress(
        pb.GetProgramProgressRequest(program_id=reply.program.program_id, view=pb.PROGRESS_VIEW_SUMMARY),
        metadata=lifter.metadata,
        timeout=TIMEOUT,
    )
    sessions = st.sessions_of(reply.program)
    if len(progress.logs) != WEEKS * DAYS or len(sessions) != WEEKS * DAYS:
        raise RuntimeError(f"GenerateProgram returned with {len(progress.logs)} progress logs, not {WEEKS * DAYS}")
    return Shape(
        methodology_id=reply.program.methodology_id,
        sessions=len(sessions),
        exercises=sum(len(s.exercises) for s in sessions),
        sets=sum(len(e.sets) for s in sessions for e in s.exercises),
        request_bytes=request.ByteSize(),
        response_bytes=reply.ByteSize(),
        logs=len(progress.logs),
    )


@dataclass
class Report:
    shape: Shape | None = None
    measuring: st.Measuring | None = None
    programs_written: int = 0


async def run(options: Options) -> Outcome:
    started = time.perf_counter()
    quick = options.plan.sequential_calls < 1000
    report = Report()
    rows: list[Row] = []
    await st.drop_databases(list(DATABASES.values()))
    with st.running_stack(DATABASES) as stack:
        print(stack.describe(), flush=True)
        lifters = st.lifters(stack, 51, QUICK_LIFTERS if quick else LIFTERS)
        async with grpc.aio.insecure_channel(stack.address("program")) as direct:
            program = ppb_grpc.ProgramServiceStub(direct)
            for lifter in lifters:
                await st.set_up_profile(program, lifter)
        client = Client(grpc.aio.insecure_channel(stack.envoy_address), lifters, quick)
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            shape = await _check(client)
            report.shape = shape
            print(
                f"GenerateProgram: {shape.methodology_id}, {shape.sessions} sessions, {shape.exercises} exercises,"
                f" {shape.sets} sets; request {shape.request_bytes} bytes, response {shape.response_bytes:,} bytes;"
                f" {shape.logs} progress logs on return",
                flush=True,
            )
            profile, request = in_process_input()
            gc.collect()
            gc.freeze()
            measuring = st.Measuring(
                options,
                CpuMeter(lambda: st.measured_pids(stack, conn)),
                groups=lambda: st.process_groups(stack, conn),
            )
            report.measuring = measuring
            rows += await measuring.rows(
                NAME, IN_PROCESS, in_process_call(profile, request), sequential=IN_PROCESS_CALLS
            )
            rows += await measuring.rows(NAME, ENVOY, client.call(), sequential=ENVOY_CALLS, concurrency=(CONCURRENCY,))
            report.programs_written = client.used + 1
        finally:
            await conn.close()
            await client.channel.close()
    print(
        f"program benchmark took {time.perf_counter() - started:.0f} s ({report.programs_written:,} programs written)",
        flush=True,
    )
    return Outcome(rows=rows, names=NAMES, render=lambda merged: render(merged, options, report))


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def evaluate(rows: list[Row]) -> list[Target]:
    targets = []
    local = find_row(rows, NAME, IN_PROCESS, 1)
    if local:
        targets.append(Target("in-process median ≤ 2 ms", f"{local.p50_ms:.2f} ms", local.p50_ms <= 2))
    envoy = find_row(rows, NAME, ENVOY, 1)
    if envoy:
        targets.append(
            Target("GenerateProgram through Envoy c1 p50 ≤ 15 ms", f"{envoy.p50_ms:.2f} ms", envoy.p50_ms <= 15)
        )
    return targets


def render(rows: list[Row], options: Options, report: Report) -> str:
    plan = options.plan
    shape, measuring = report.shape, report.measuring
    local_calls, local_warmup = measuring.sequential_counts(*IN_PROCESS_CALLS) if measuring else IN_PROCESS_CALLS
    calls, warmup = measuring.sequential_counts(*ENVOY_CALLS) if measuring else ENVOY_CALLS
    parts = [
        "## Program service (issue 5)",
        "",
        f"Measured {machine_line()}; client, Envoy, the program and progress services and PostgreSQL share "
        f"the cores. Code: {code_version()}. `python -m bench program` reproduces it.",
        "",
        f"- The program: strength, {WEEKS} weeks × {DAYS} days, methodology left to the service, for an "
        "intermediate lifter in kilograms with all four one-rep maxes (squat 160, bench 115, deadlift 195 "
        "tested, overhead press 72.5 estimated), a full gym and no limitations"
        + (
            f": {shape.methodology_id}, {shape.sessions} sessions, {shape.exercises} exercises, {shape.sets} "
            f"sets; the response is {shape.response_bytes / 1024:.1f} KiB."
            if shape
            else "."
        ),
        f"- `{IN_PROCESS}`: `program_svc.generator.generate` on the profile and request as the service maps "
        f"them, {local_calls:,} runs after {local_warmup} warm-up runs, one after another in the client "
        "process; requests/s is 1 / mean.",
        f"- `{ENVOY}`: GenerateProgram through the real Envoy (JWT checked by Envoy and again by the service; "
        "its local rate limit raised out of the way) with a fresh request_id on every call, round-robin over "
        f"{LIFTERS} lifters with that profile: the profile and methodology read, the program and its outbox "
        "event stored in one transaction, the event delivered to the progress service (a log for each of the "
        f"{WEEKS * DAYS} sessions, there when the call returns) before the answer. Program and progress "
        f"services on scratch databases ({', '.join(f'`{d}`' for d in DATABASES.values())}) dropped at the "
        "start of the run"
        + (f"; this run wrote {report.programs_written:,} programs." if report.programs_written else "."),
        f"- Sequential: {calls:,} calls after {warmup} warm-up calls. Concurrent: {plan.concurrency} workers for "
        f"{plan.concurrent_seconds:g} s after {plan.concurrent_warmup_seconds:g} s of warm-up. One Python grpc.aio "
        "client, one channel to Envoy.",
    ]
    if measuring is not None:
        parts.append(
            "- Each measurement waited for a quiet machine and was repeated when other work ran beside it; "
            f"other processes used at most {measuring.disturbance.max_cores:.2f} cores during the measurements kept."
        )
    parts += [
        "",
        f"### {NAME}",
        "",
        st.rows_table([r for r in rows if r.name == NAME]),
        "",
        *st.where_the_time_goes(rows, NAMES, measuring),
        "### Targets (issue 5)",
        "",
        targets_table(evaluate(rows)),
        "",
    ]
    return "\n".join(parts)


BENCHMARK = register(Benchmark("program", "program service: the built-in generator, in-process and end to end", run))
