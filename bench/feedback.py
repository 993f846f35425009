"""Feedback service benchmark (issue 6): SubmitWorkoutFeedback through Envoy, sequentially and at
concurrency 16, against MarkSessionComplete measured the same way in the same run on the same
stack (the reference its throughput target is a ratio of); the time from SubmitWorkoutFeedback's
return until the progress service shows the session completed; PerformCheckIn over 4 weeks.

One run starts the program, progress and feedback services (each on its own scratch database,
dropped at the start) and the real Envoy, then sets everything up through the services' RPCs:
writer lifters with 52-week × 6-day programs (every SubmitWorkoutFeedback and every
MarkSessionComplete completes a different session, never completed before) and check-in lifters
whose programs started 6 weeks ago, completed so far with feedback now and then, a session
skipped now and then.
"""

from __future__ import annotations

import functools
import gc
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

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
    Samples,
    Target,
    code_version,
    find_row,
    machine_line,
    register,
    targets_table,
    until_ok,
)
from bench.feedback_floor import Floors, running_floors
from ironpath.common.v1 import training_pb2 as tpb
from ironpath.feedback.v1 import feedback_pb2 as fpb
from ironpath.feedback.v1 import feedback_pb2_grpc as fpb_grpc
from ironpath.program.v1 import program_pb2 as ppb
from ironpath.program.v1 import program_pb2_grpc as ppb_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from tests.support.ports import free_port
from tests.support.services import ADMIN_DSN

REFERENCE = "MarkSessionCompleteReference"
FEEDBACK = "SubmitWorkoutFeedback"
TO_LOG = "SubmitWorkoutFeedbackToLogCompleted"
CHECK_IN = "PerformCheckIn"
NAMES = (REFERENCE, FEEDBACK, TO_LOG, CHECK_IN)
VIA = "envoy"
# SubmitWorkoutFeedback is also measured straight to the feedback service's port, and on its floor
# (bench/feedback_floor.py), for the part of the time that is Envoy and the part that is the chain.
DIRECT, FLOOR = "direct", "grpc-asyncpg-floor"
CONCURRENCY = 16
FLOOR_POOL_SIZE = 10  # the services' default IRONPATH_DB_POOL_SIZE

DATABASES = {
    "program": "ironpath_bench_fb_program",
    "progress": "ironpath_bench_fb_progress",
    "feedback": "ironpath_bench_fb_feedback",
}
# Writers: every write completes a session of its own, taken lifter by lifter (consecutive calls
# hit different lifters, and no lifter comes near the services' per-user rate limit).
WRITERS, QUICK_WRITERS = 96, 12
WRITER_WEEKS, WRITER_DAYS = 52, 6
# Check-in lifters: 12-week × 4-day programs that started 6 weeks ago.
CHECKERS, QUICK_CHECKERS = 32, 4
CHECKER_WEEKS, CHECKER_DAYS, CHECKER_STARTED_WEEKS_AGO = 12, 4, 6
PERIOD_DAYS = 28
SKIP_EVERY = 8  # every 8th past session skipped
FEEDBACK_EVERY = 3  # every 3rd past session completed through SubmitWorkoutFeedback
# (calls, warm-up calls) of the sequential rows in a full run.
SEQUENTIAL = (500, 50)
TO_LOG_CALLS = (300, 30)
CHECK_IN_REQUESTS = 60_000
TIMEOUT = st.CALL_TIMEOUT_SECONDS


# ---------------------------------------------------------------------------------------------
# The writes' sessions


@dataclass(frozen=True)
class Slot:
    """One writer session, and every request that may complete it (built before any clock starts)."""

    lifter: st.Lifter
    ref: tpb.SessionRef
    complete: pb.MarkSessionCompleteRequest
    feedback: fpb.SubmitWorkoutFeedbackRequest
    # The session's own log once completed: completion time in [complete_time, +1 ms).
    read: pb.ListSessionLogsRequest


class Pool:
    """The writer sessions in order of use; each is taken once, by whichever write comes next."""

    def __init__(self, slots: list[Slot]) -> None:
        self.slots = slots
        self.used = 0

    def take(self) -> Slot:
        if self.used >= len(self.slots):
            raise RuntimeError(f"the writes used up all {len(self.slots)} writer sessions; raise feedback.WRITERS")
        slot = self.slots[self.used]
        self.used += 1
        return slot


def _slots(writers: list[st.Lifter], programs: list[ppb.Program], base: datetime) -> list[Slot]:
    sessions = [st.sessions_of(p) for p in programs]
    slots: list[Slot] = []
    for position in range(len(sessions[0])):
        for lifter, program, planned in zip(writers, programs, sessions, strict=True):
            session = planned[position]
            ref = tpb.SessionRef(
                program_id=program.program_id, week_number=session.week_number, day_number=session.day_number
            )
            # A moment of its own (1 ms apart), an hour or two ago: the read below finds exactly this log.
            completed_at = base + timedelta(milliseconds=len(slots))
            sets = st.performed_sets(session, variant=position % 2)
            complete = pb.MarkSessionCompleteRequest(
                request_id=str(uuid.uuid4()), session=ref, performed_sets=sets, session_rpe=8.0
            )
            complete.complete_time.FromDatetime(completed_at)
            feedback = fpb.SubmitWorkoutFeedbackRequest(
                request_id=str(uuid.uuid4()),
                session=ref,
                categories=[tpb.FEEDBACK_CATEGORY_TOO_HARD],
                notes="Last set of the main lift was a grind.",
                session_rpe=9.0,
                performed_sets=sets,
            )
            feedback.complete_time.FromDatetime(completed_at)
            read = pb.ListSessionLogsRequest(
                program_id=program.program_id,
                time_field=pb.LOG_TIME_FIELD_COMPLETED,
                view=pb.PROGRESS_VIEW_SUMMARY,
                page_size=10,
            )
            read.start_time.FromDatetime(completed_at)
            read.end_time.FromDatetime(completed_at + timedelta(milliseconds=1))
            slots.append(Slot(lifter, ref, complete, feedback, read))
    return slots


# ---------------------------------------------------------------------------------------------
# Set-up


@dataclass
class Setup:
    pool: Pool
    checkers: list[st.Lifter]
    checker_programs: list[ppb.Program]
    check_ins: list[tuple[st.Lifter, fpb.PerformCheckInRequest]]
    check_in_used: int = 0
    checker_completions: int = 0
    checker_feedback: int = 0
    checker_skips: int = 0
    seconds: float = 0.0


async def _complete_past(
    program: ppb.Program,
    lifter: st.Lifter,
    today: date,
    progress: pb_grpc.ProgressServiceStub,
    feedback: fpb_grpc.FeedbackServiceStub,
    setup: Setup,
) -> None:
    """The check-in lifter's sessions due before today, in order: most completed (every third with
    feedback), every eighth skipped."""
    for k, session in enumerate(st.sessions_of(program)):
        due = date.fromisoformat(session.planned_date)
        if due >= today:
            return
        ref = tpb.SessionRef(
            program_id=program.program_id, week_number=session.week_number, day_number=session.day_number
        )
        moment = datetime.combine(due, clock_time(18, 0), tzinfo=UTC) + timedelta(minutes=(lifter.index * 7 + k) % 90)
        sets = st.performed_sets(session, variant=k % 2)
        if k % SKIP_EVERY == SKIP_EVERY - 1:
            await progress.SkipSession(
                pb.SkipSessionRequest(request_id=str(uuid.uuid4()), session=ref, skip_reason="Travelling for work"),
                metadata=lifter.metadata,
                timeout=TIMEOUT,
            )
            setup.checker_skips += 1
        elif k % FEEDBACK_EVERY == 0:
            request = fpb.SubmitWorkoutFeedbackRequest(
                request_id=str(uuid.uuid4()),
                session=ref,
                categories=[tpb.FEEDBACK_CATEGORY_TOO_HARD if k % 2 else tpb.FEEDBACK_CATEGORY_FELT_GREAT],
                session_rpe=9.0 if k % 2 else 7.5,
                performed_sets=sets,
            )
            request.complete_time.FromDatetime(moment)
            await feedback.SubmitWorkoutFeedback(request, metadata=lifter.metadata, timeout=TIMEOUT)
            setup.checker_feedback += 1
        else:
            complete = pb.MarkSessionCompleteRequest(
                request_id=str(uuid.uuid4()), session=ref, performed_sets=sets, session_rpe=7.0 + (k % 4) * 0.5
            )
            complete.complete_time.FromDatetime(moment)
            await progress.MarkSessionComplete(complete, metadata=lifter.metadata, timeout=TIMEOUT)
            setup.checker_completions += 1


async def set_up(stack: st.Stack, quick: bool) -> Setup:
    """Lifters, profiles and programs through the services' own ports (not measured)."""
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    writers = st.lifters(stack, 61, QUICK_WRITERS if quick else WRITERS)
    checkers = st.lifters(stack, 62, QUICK_CHECKERS if quick else CHECKERS)
    async with (
        grpc.aio.insecure_channel(stack.address("program")) as program_channel,
        grpc.aio.insecure_channel(stack.address("progress")) as progress_channel,
        grpc.aio.insecure_channel(stack.address("feedback")) as feedback_channel,
    ):
        program = ppb_grpc.ProgramServiceStub(program_channel)
        progress = pb_grpc.ProgressServiceStub(progress_channel)
        feedback = fpb_grpc.FeedbackServiceStub(feedback_channel)
        await st.gather_limited(
            [functools.partial(st.set_up_profile, program, lifter) for lifter in writers + checkers]
        )
        this_week, checkers_start = st.monday_weeks_ago(today, 0), st.monday_weeks_ago(today, CHECKER_STARTED_WEEKS_AGO)
        writer_programs = await st.gather_limited(
            [
                functools.partial(st.generate_program, program, lifter, WRITER_WEEKS, WRITER_DAYS, this_week)
                for lifter in writers
            ],
            limit=2,
        )
        checker_programs = await st.gather_limited(
            [
                functools.partial(st.generate_program, program, lifter, CHECKER_WEEKS, CHECKER_DAYS, checkers_start)
                for lifter in checkers
            ],
            limit=2,
        )
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        pool = Pool(_slots(writers, writer_programs, base))
        start, end = today - timedelta(days=PERIOD_DAYS - 1), today
        check_ins = [
            (
                checkers[i % len(checkers)],
                fpb.PerformCheckInRequest(
                    request_id=str(uuid.uuid4()),
                    program_id=checker_programs[i % len(checkers)].program_id,
                    period_start_date=start.isoformat(),
                    period_end_date=end.isoformat(),
                ),
            )
            for i in range(CHECK_IN_REQUESTS // (10 if quick else 1))
        ]
        setup = Setup(pool, checkers, checker_programs, check_ins)
        await st.gather_limited(
            [
                functools.partial(_complete_past, p, lifter, today, progress, feedback, setup)
                for p, lifter in zip(checker_programs, checkers, strict=True)
            ]
        )
    setup.seconds = time.perf_counter() - started
    return setup


# ---------------------------------------------------------------------------------------------
# The calls


@dataclass
class Client:
    channel: grpc.aio.Channel
    progress: pb_grpc.ProgressServiceStub
    feedback: fpb_grpc.FeedbackServiceStub
    setup: Setup

    @classmethod
    def through(cls, address: str, setup: Setup) -> Client:
        channel = grpc.aio.insecure_channel(address)
        return cls(channel, pb_grpc.ProgressServiceStub(channel), fpb_grpc.FeedbackServiceStub(channel), setup)

    def complete_call(self) -> Call:
        take, complete = self.setup.pool.take, self.progress.MarkSessionComplete

        async def call(worker: int, seq: int) -> object:
            slot = take()
            return await complete(slot.complete, metadata=slot.lifter.metadata, timeout=TIMEOUT)

        return call

    def feedback_call(self) -> Call:
        take, submit = self.setup.pool.take, self.feedback.SubmitWorkoutFeedback

        async def call(worker: int, seq: int) -> object:
            slot = take()
            return await submit(slot.feedback, metadata=slot.lifter.metadata, timeout=TIMEOUT)

        return call

    def check_in_call(self) -> Call:
        setup, check_in = self.setup, self.feedback.PerformCheckIn

        async def call(worker: int, seq: int) -> object:
            index = setup.check_in_used
            if index >= len(setup.check_ins):
                raise RuntimeError("the check-ins used up their request ids; raise feedback.CHECK_IN_REQUESTS")
            setup.check_in_used += 1
            lifter, request = setup.check_ins[index]
            return await check_in(request, metadata=lifter.metadata, timeout=TIMEOUT)

        return call

    async def until_seen(self, slot: Slot) -> int:
        """Reads the session's log until it shows completed; returns how many reads that took."""
        ref, reads = slot.ref, 0
        deadline = time.perf_counter() + TIMEOUT
        while True:
            reads += 1
            reply = await self.progress.ListSessionLogs(slot.read, metadata=slot.lifter.metadata, timeout=TIMEOUT)
            for log in reply.logs:
                if (
                    log.week_number == ref.week_number
                    and log.day_number == ref.day_number
                    and log.status == pb.SESSION_STATUS_COMPLETED
                ):
                    return reads
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{ref} did not show completed within {TIMEOUT:g} s of SubmitWorkoutFeedback")

    async def to_log_completed(self, calls: int, warmup: int) -> tuple[Samples, list[int]]:
        """SubmitWorkoutFeedback, then its log read back right after the call returns until it
        shows completed: the time from the return until the read that showed it."""
        clock = time.perf_counter
        submit = self.feedback.SubmitWorkoutFeedback
        gaps: list[float] = []
        reads: list[int] = []
        for i in range(warmup + calls):
            slot = self.setup.pool.take()
            await submit(slot.feedback, metadata=slot.lifter.metadata, timeout=TIMEOUT)
            returned = clock()
            count = await self.until_seen(slot)
            gap = clock() - returned
            if i >= warmup:
                gaps.append(gap)
                reads.append(count)
        return Samples(gaps, sum(gaps)), reads


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Shape:
    feedback_request_bytes: int
    feedback_response_bytes: int
    adjusted_sessions: int
    performed_sets: int
    complete_request_bytes: int
    check_in: fpb.CheckIn


@dataclass
class Report:
    """What RESULTS.md says about the run besides the rows."""

    shape: Shape | None = None
    setup: Setup | None = None
    measuring: st.Measuring | None = None
    # reads each return→completed call needed (the kept attempt)
    to_log_reads: list[int] = field(default_factory=list)
    writer_sessions_used: int = 0


async def _check(client: Client) -> Shape:
    """One of each call through Envoy (retried until Envoy's health checks pass): the feedback
    shows on the log as completed, with its adjusted prescription."""
    pool = client.setup.pool
    slot = pool.take()
    done = await until_ok(
        lambda: client.progress.MarkSessionComplete(slot.complete, metadata=slot.lifter.metadata, timeout=TIMEOUT),
        "MarkSessionComplete through Envoy",
    )
    assert done.log.status == pb.SESSION_STATUS_COMPLETED
    slot = pool.take()
    reply = await until_ok(
        lambda: client.feedback.SubmitWorkoutFeedback(slot.feedback, metadata=slot.lifter.metadata, timeout=TIMEOUT),
        "SubmitWorkoutFeedback through Envoy",
    )
    progress = await client.progress.GetProgramProgress(
        pb.GetProgramProgressRequest(program_id=slot.ref.program_id, view=pb.PROGRESS_VIEW_FULL),
        metadata=slot.lifter.metadata,
        timeout=TIMEOUT,
    )
    [log] = [
        log for log in progress.logs if (log.week_number, log.day_number) == (slot.ref.week_number, slot.ref.day_number)
    ]
    if log.status != pb.SESSION_STATUS_COMPLETED or log.feedback.feedback_id != reply.feedback.feedback_id:
        raise RuntimeError("SubmitWorkoutFeedback returned before the progress log showed the feedback")
    if not any(other.prescription_adjusted for other in progress.logs):
        raise RuntimeError("SubmitWorkoutFeedback (too hard) adjusted no upcoming session")
    lifter, request = client.setup.check_ins[0]
    check_in = await until_ok(
        lambda: client.feedback.PerformCheckIn(request, metadata=lifter.metadata, timeout=TIMEOUT),
        "PerformCheckIn through Envoy",
    )
    client.setup.check_in_used = 1
    return Shape(
        feedback_request_bytes=slot.feedback.ByteSize(),
        feedback_response_bytes=reply.ByteSize(),
        adjusted_sessions=len(reply.adjusted_sessions),
        performed_sets=len(slot.feedback.performed_sets),
        complete_request_bytes=slot.complete.ByteSize(),
        check_in=check_in.check_in,
    )


async def run(options: Options) -> Outcome:
    started = time.perf_counter()
    quick = options.plan.sequential_calls < 1000
    report = Report()
    rows: list[Row] = []
    await st.drop_databases(list(DATABASES.values()))
    with st.running_stack(DATABASES) as stack, _floors(stack) as floors:
        print(stack.describe(), flush=True)
        setup = await set_up(stack, quick)
        report.setup = setup
        print(
            f"set up in {setup.seconds:.1f} s: {len(setup.pool.slots) // (WRITER_WEEKS * WRITER_DAYS)} writers × "
            f"{WRITER_WEEKS}-week × {WRITER_DAYS}-day programs ({len(setup.pool.slots):,} sessions to complete); "
            f"{len(setup.checkers)} check-in lifters: {setup.checker_completions} completions, "
            f"{setup.checker_feedback} feedback, {setup.checker_skips} skips",
            flush=True,
        )
        client = Client.through(stack.envoy_address, setup)
        direct = Client.through(stack.address("feedback"), setup)
        floor = Client.through(floors.address, setup)
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            shape = await _check(client)
            report.shape = shape
            c = shape.check_in
            print(
                f"SubmitWorkoutFeedback: {shape.performed_sets} performed sets, request"
                f" {shape.feedback_request_bytes:,} bytes, response {shape.feedback_response_bytes:,} bytes"
                f" ({st.plural(shape.adjusted_sessions, 'adjusted session')}); check-in over {PERIOD_DAYS} days:"
                f" {c.sessions_completed} of {c.sessions_planned} done, {c.sessions_skipped} skipped,"
                f" average RPE {c.average_rpe:g}",
                flush=True,
            )
            gc.collect()
            gc.freeze()
            measuring = st.Measuring(
                options,
                CpuMeter(lambda: _measured_pids(stack, floors, conn)),
                groups=lambda: _process_groups(stack, floors, conn),
            )
            report.measuring = measuring
            rows += await measuring.rows(
                REFERENCE, VIA, client.complete_call(), sequential=SEQUENTIAL, concurrency=(CONCURRENCY,)
            )
            rows += await measuring.rows(
                FEEDBACK, VIA, client.feedback_call(), sequential=SEQUENTIAL, concurrency=(CONCURRENCY,)
            )
            rows += await measuring.rows(
                FEEDBACK, DIRECT, direct.feedback_call(), sequential=SEQUENTIAL, concurrency=(CONCURRENCY,)
            )
            if options.wants(FEEDBACK, FLOOR):
                await _check_floor(floor, client)
            rows += await measuring.rows(
                FEEDBACK, FLOOR, floor.feedback_call(), sequential=SEQUENTIAL, concurrency=(CONCURRENCY,)
            )
            if options.wants(TO_LOG, VIA) and not options.hold_seconds:
                rows.append(await _measure_to_log(client, measuring, report))
            rows += await measuring.rows(
                CHECK_IN, VIA, client.check_in_call(), sequential=SEQUENTIAL, concurrency=(CONCURRENCY,)
            )
            report.writer_sessions_used = setup.pool.used
        finally:
            await conn.close()
            for each in (client, direct, floor):
                await each.channel.close()
    print(
        f"feedback benchmark took {time.perf_counter() - started:.0f} s "
        f"({setup.pool.used:,} of {len(setup.pool.slots):,} writer sessions used)",
        flush=True,
    )
    return Outcome(rows=rows, names=NAMES, render=lambda merged: render(merged, options, report))


@contextmanager
def _floors(stack: st.Stack) -> Iterator[Floors]:
    urls = {role: st.database_url(database) for role, database in DATABASES.items()}
    ports = {role: free_port() for role in urls}
    with running_floors(urls, ports, stack.env, stack.log_dir / "floors.log", FLOOR_POOL_SIZE) as floors:
        yield floors


async def _process_groups(stack: st.Stack, floors: Floors, conn: asyncpg.Connection) -> dict[str, list[int]]:
    return {**await st.process_groups(stack, conn), **floors.pids()}


async def _measured_pids(stack: st.Stack, floors: Floors, conn: asyncpg.Connection) -> list[int]:
    return [pid for pids in (await _process_groups(stack, floors, conn)).values() for pid in pids]


async def _check_floor(floor: Client, client: Client) -> None:
    """One SubmitWorkoutFeedback on the floor (retried until it listens): its session then reads as
    completed through the service."""
    slot = floor.setup.pool.take()
    reply = await until_ok(
        lambda: floor.feedback.SubmitWorkoutFeedback(slot.feedback, metadata=slot.lifter.metadata, timeout=TIMEOUT),
        "SubmitWorkoutFeedback on the floor",
    )
    if not reply.adjusted_sessions:
        raise RuntimeError("the floor's SubmitWorkoutFeedback (too hard) adjusted no upcoming session")
    await client.until_seen(slot)


async def _measure_to_log(client: Client, measuring: st.Measuring, report: Report) -> Row:
    calls, warmup = measuring.sequential_counts(*TO_LOG_CALLS)
    reads_by_row: dict[int, list[int]] = {}

    async def once() -> tuple[Row, int]:
        # No CPU split for this row: its calls are a write and reads, not one call.
        samples, reads = await client.to_log_completed(calls, warmup)
        row = samples.row(TO_LOG, VIA, 1)
        reads_by_row[id(row)] = reads
        return row, len(samples.latencies)

    async def nothing() -> None:
        return None

    row = await measuring.attempts(TO_LOG, once, nothing)
    report.to_log_reads = reads_by_row[id(row)]
    first = sum(1 for r in report.to_log_reads if r == 1)
    print(f"    seen completed on the first read after the return in {first} of {len(report.to_log_reads)} calls")
    return row


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def evaluate(rows: list[Row]) -> list[Target]:
    targets = []
    feedback_c1 = find_row(rows, FEEDBACK, VIA, 1)
    if feedback_c1:
        targets.append(
            Target("SubmitWorkoutFeedback c1 p50 ≤ 5 ms", f"{feedback_c1.p50_ms:.2f} ms", feedback_c1.p50_ms <= 5)
        )
        targets.append(
            Target("SubmitWorkoutFeedback c1 p99 ≤ 10 ms", f"{feedback_c1.p99_ms:.2f} ms", feedback_c1.p99_ms <= 10)
        )
    mine, reference = find_row(rows, FEEDBACK, VIA, CONCURRENCY), find_row(rows, REFERENCE, VIA, CONCURRENCY)
    if mine and reference:
        ratio = mine.rps / reference.rps
        targets.append(
            Target(
                f"SubmitWorkoutFeedback c{CONCURRENCY} requests/s ≥ 0.4× MarkSessionComplete c{CONCURRENCY} (same run)",
                f"{mine.rps:,.0f} vs {reference.rps:,.0f} = {ratio:.2f}×",
                ratio >= 0.4,
            )
        )
    to_log = find_row(rows, TO_LOG, VIA, 1)
    if to_log:
        targets.append(
            Target("return → progress log completed, median ≤ 5 ms", f"{to_log.p50_ms:.2f} ms", to_log.p50_ms <= 5)
        )
    return targets


def render(rows: list[Row], options: Options, report: Report) -> str:
    plan = options.plan
    shape, setup, measuring = report.shape, report.setup, report.measuring
    calls, warmup = measuring.sequential_counts(*SEQUENTIAL) if measuring else SEQUENTIAL
    to_calls, to_warmup = measuring.sequential_counts(*TO_LOG_CALLS) if measuring else TO_LOG_CALLS
    parts = [
        "## Feedback service (issue 6)",
        "",
        f"Measured {machine_line()}; client, Envoy, the three services and PostgreSQL share the cores. "
        f"Code: {code_version()}. `python -m bench feedback` reproduces it.",
        "",
        f"- One run, one stack: the program, progress and feedback services (`IRONPATH_ENV=development`, "
        f"default pool sizes and per-user rate limits) on scratch databases "
        f"({', '.join(f'`{d}`' for d in DATABASES.values())}) dropped at the start of the run, the real "
        "Envoy in front (JWT checked by Envoy and again by each service; its local rate limit raised out "
        "of the way). Every call goes through Envoy; set-up goes to the services' own ports.",
    ]
    if setup is not None:
        writers = len(setup.pool.slots) // (WRITER_WEEKS * WRITER_DAYS)
        parts.append(
            f"- Set-up through the RPCs: {writers} writer lifters with an intermediate profile and a "
            f"{WRITER_WEEKS}-week × {WRITER_DAYS}-day program from GenerateProgram "
            f"({len(setup.pool.slots):,} sessions; {report.writer_sessions_used:,} were completed by this run's "
            f"writes); {len(setup.checkers)} check-in lifters with a {CHECKER_WEEKS}-week × {CHECKER_DAYS}-day "
            f"program that started {CHECKER_STARTED_WEEKS_AGO} weeks ago, every session due so far done "
            f"({setup.checker_completions} MarkSessionComplete, {setup.checker_feedback} SubmitWorkoutFeedback) "
            f"except every {SKIP_EVERY}th, which was skipped ({setup.checker_skips})."
        )
    if shape is not None:
        c = shape.check_in
        parts += [
            f"- `{REFERENCE}`: MarkSessionComplete on this run's stack, {shape.performed_sets} performed sets "
            f"({shape.complete_request_bytes} bytes), a fresh request_id and a session never completed before on "
            "every call: the reference for SubmitWorkoutFeedback's throughput (the progress benchmark's "
            "`MarkSessionComplete` rows are its own run's).",
            f"- `{FEEDBACK}`: TOO_HARD, session RPE 9, a note and {shape.performed_sets} performed sets "
            f"({shape.feedback_request_bytes} bytes), a fresh request_id and a different session on every call. "
            "The feedback service reads the session and the following ones from the program service, adjusts "
            "them, stores the feedback and its outbox event in one transaction and delivers the event to the "
            f"progress service before it answers ({shape.feedback_response_bytes:,}-byte response with "
            f"{st.plural(shape.adjusted_sessions, 'adjusted session')}).",
            f"- `{TO_LOG}`: after each SubmitWorkoutFeedback returns, ListSessionLogs (through Envoy, the "
            "session's program and completion time, summary view) is called until it shows the session "
            "completed; the figure is the time from the return to the end of that read, so it includes at "
            f"least one read. {to_calls} calls after {to_warmup} warm-up calls; its requests/s is 1 / mean."
            + (
                f" The session showed completed on the first read in "
                f"{sum(1 for r in report.to_log_reads if r == 1)} of {len(report.to_log_reads)} calls."
                if report.to_log_reads
                else ""
            ),
            f"- `{CHECK_IN}`: a {PERIOD_DAYS}-day period ending today, round-robin over the check-in lifters, a "
            "fresh request_id per call (each stores a check-in). The service checks access with the program "
            "service and reads the period's and the previous period's logs from the progress service "
            f"(e.g. {c.sessions_completed} of {c.sessions_planned} done, {c.sessions_skipped} skipped, average "
            f"RPE {c.average_rpe:g}).",
            f"- `{FEEDBACK}` is also measured `{DIRECT}` (to the feedback service's own port: the part that is "
            f"Envoy) and on `{FLOOR}`: the same chain as three bare grpc.aio servers, one process each, that run "
            "the services' own use cases and statements with no interceptor, tokens, spans, replay or relay "
            "(`bench/feedback_floor.py`): the least this chain costs in Python on this machine.",
        ]
    parts += [
        f"- Sequential: {calls:,} calls after {warmup} warm-up calls. Concurrent: {plan.concurrency} workers for "
        f"{plan.concurrent_seconds:g} s after {plan.concurrent_warmup_seconds:g} s of warm-up. One Python grpc.aio "
        "client, one channel to Envoy.",
    ]
    if measuring is not None:
        parts.append(
            "- Each measurement waited for a quiet machine and was repeated when other work ran beside it; "
            f"other processes used at most {measuring.disturbance.max_cores:.2f} cores during the measurements kept."
        )
    parts.append("")
    for name in NAMES:
        named = [r for r in rows if r.name == name]
        if named:
            parts += [f"### {name}", "", st.rows_table(named), ""]
    parts += st.where_the_time_goes(rows, NAMES, measuring)
    parts += ["### Targets (issue 6; all through Envoy)", "", targets_table(evaluate(rows)), ""]
    parts += _against_the_floor(rows)
    return "\n".join(parts)


def _against_the_floor(rows: list[Row]) -> list[str]:
    """What the floor does in the same run, beside the targets."""
    floor_c1, floor_c16 = find_row(rows, FEEDBACK, FLOOR, 1), find_row(rows, FEEDBACK, FLOOR, CONCURRENCY)
    reference = find_row(rows, REFERENCE, VIA, CONCURRENCY)
    if not (floor_c1 and floor_c16 and reference):
        return []
    return [
        f"The floor in the same run: c1 p50 {floor_c1.p50_ms:.2f} ms, p99 {floor_c1.p99_ms:.2f} ms; "
        f"c{CONCURRENCY} {floor_c16.rps:,.0f} requests/s = {floor_c16.rps / reference.rps:.2f}× MarkSessionComplete. "
        "A target below the floor is out of reach for this chain of Python services on this machine.",
        "",
    ]


BENCHMARK = register(
    Benchmark("feedback", "feedback service: workout feedback, its delivery to the progress log, check-ins", run)
)
