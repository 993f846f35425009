"""The lifter's data benchmark (issue 7): GetTrainingAnalytics for a lifter with 500 logged
sessions (over all of them by date range, and over one program) and ExportMyData of the same
lifter as JSON and as Strong CSV, all through Envoy.

The lifter's history is written once per run through the real RPCs on scratch databases
(dropped at the start): five 20-week × 5-day programs from GenerateProgram, one after another
over the last two years, every session completed with 16 performed sets (every fifth through
SubmitWorkoutFeedback, the rest through MarkSessionComplete), a check-in every four weeks. So the
progress service computed and stored each session's figures exactly as in production.
"""

from __future__ import annotations

import functools
import gc
import time
import uuid
from dataclasses import dataclass
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
    Target,
    code_version,
    find_row,
    machine_line,
    register,
    targets_table,
    until_ok,
)
from ironpath.common.v1 import training_pb2 as tpb
from ironpath.feedback.v1 import feedback_pb2 as fpb
from ironpath.feedback.v1 import feedback_pb2_grpc as fpb_grpc
from ironpath.program.v1 import program_pb2 as ppb
from ironpath.program.v1 import program_pb2_grpc as ppb_grpc
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from tests.support.services import ADMIN_DSN

ANALYTICS = "GetTrainingAnalytics"
ANALYTICS_PROGRAM = "GetTrainingAnalyticsProgram"
EXPORT_JSON = "ExportMyDataJson"
EXPORT_CSV = "ExportMyDataCsv"
NAMES = (ANALYTICS, ANALYTICS_PROGRAM, EXPORT_JSON, EXPORT_CSV)
VIA = "envoy"
ANALYTICS_CONCURRENCY = 16
EXPORT_CONCURRENCY = 4

DATABASES = {
    "program": "ironpath_bench_data_program",
    "progress": "ironpath_bench_data_progress",
    "feedback": "ironpath_bench_data_feedback",
}
# The set-up writes 500 sessions for one lifter in seconds, far past the per-user limit on
# writes (600 a minute); no measured call is a write, so the limit is off for this stack.
EXTRA_ENV = {"IRONPATH_RATE_LIMIT_PER_MINUTE": "0"}
PROGRAMS, QUICK_PROGRAMS = 5, 1
WEEKS, DAYS = 20, 5
FEEDBACK_EVERY = 5
CHECK_IN_WEEKS = 4
# (calls, warm-up calls) of the sequential rows in a full run.
ANALYTICS_CALLS = (1000, 100)
EXPORT_CALLS = (100, 10)
TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# The lifter's history


@dataclass
class History:
    lifter: st.Lifter
    programs: list[ppb.Program]
    first_day: date
    completions: int = 0
    feedback: int = 0
    check_ins: int = 0
    seconds: float = 0.0

    @property
    def sessions(self) -> int:
        return self.completions + self.feedback


async def _train(
    program: ppb.Program,
    history: History,
    progress: pb_grpc.ProgressServiceStub,
    feedback: fpb_grpc.FeedbackServiceStub,
) -> None:
    """Every session of the program, in order, completed the evening it was planned; a check-in
    at the end of every fourth week."""
    lifter = history.lifter
    for k, session in enumerate(st.sessions_of(program)):
        day = date.fromisoformat(session.planned_date)
        ref = tpb.SessionRef(
            program_id=program.program_id, week_number=session.week_number, day_number=session.day_number
        )
        moment = datetime.combine(day, clock_time(18, 0), tzinfo=UTC) + timedelta(minutes=(k * 13) % 120)
        sets = st.performed_sets(session, variant=k % 2)
        if k % FEEDBACK_EVERY == FEEDBACK_EVERY - 1:
            request = fpb.SubmitWorkoutFeedbackRequest(
                request_id=str(uuid.uuid4()),
                session=ref,
                categories=[tpb.FEEDBACK_CATEGORY_TOO_HARD if k % 2 else tpb.FEEDBACK_CATEGORY_FELT_GREAT],
                notes="Bar speed dropped on the last sets." if k % 2 else "Felt strong today.",
                session_rpe=9.0 if k % 2 else 7.5,
                performed_sets=sets,
            )
            request.complete_time.FromDatetime(moment)
            await feedback.SubmitWorkoutFeedback(request, metadata=lifter.metadata, timeout=TIMEOUT)
            history.feedback += 1
        else:
            complete = pb.MarkSessionCompleteRequest(
                request_id=str(uuid.uuid4()), session=ref, performed_sets=sets, session_rpe=7.0 + (k % 4) * 0.5
            )
            complete.complete_time.FromDatetime(moment)
            await progress.MarkSessionComplete(complete, metadata=lifter.metadata, timeout=TIMEOUT)
            history.completions += 1
        if session.day_number == DAYS and session.week_number % CHECK_IN_WEEKS == 0:
            end = day + timedelta(days=7 - day.weekday() - 1)  # that week's Sunday
            check_in = fpb.PerformCheckInRequest(
                request_id=str(uuid.uuid4()),
                program_id=program.program_id,
                period_start_date=(end - timedelta(weeks=CHECK_IN_WEEKS) + timedelta(days=1)).isoformat(),
                period_end_date=end.isoformat(),
            )
            await feedback.PerformCheckIn(check_in, metadata=lifter.metadata, timeout=TIMEOUT)
            history.check_ins += 1


async def set_up(stack: st.Stack, quick: bool) -> History:
    """The lifter, their profile, their programs and every session, through the services' own ports."""
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    [lifter] = st.lifters(stack, 71, 1)
    count = QUICK_PROGRAMS if quick else PROGRAMS
    # Program k starts (count - k) × WEEKS + 1 weeks ago: back to back, the last ended last week.
    starts = [st.monday_weeks_ago(today, (count - k) * WEEKS + 1) for k in range(count)]
    async with (
        grpc.aio.insecure_channel(stack.address("program")) as program_channel,
        grpc.aio.insecure_channel(stack.address("progress")) as progress_channel,
        grpc.aio.insecure_channel(stack.address("feedback")) as feedback_channel,
    ):
        program = ppb_grpc.ProgramServiceStub(program_channel)
        progress = pb_grpc.ProgressServiceStub(progress_channel)
        feedback = fpb_grpc.FeedbackServiceStub(feedback_channel)
        await st.set_up_profile(program, lifter)
        programs = [await st.generate_program(program, lifter, WEEKS, DAYS, start) for start in starts]
        history = History(lifter, programs, starts[0])
        await st.gather_limited(
            [functools.partial(_train, p, history, progress, feedback) for p in programs], limit=len(programs)
        )
    history.seconds = time.perf_counter() - started
    return history


# ---------------------------------------------------------------------------------------------
# The calls


class Client:
    def __init__(self, channel: grpc.aio.Channel, history: History) -> None:
        self.channel = channel
        self.progress = pb_grpc.ProgressServiceStub(channel)
        self.account = ppb_grpc.AccountServiceStub(channel)
        self.metadata = history.lifter.metadata
        today = datetime.now(UTC).date()
        self.requests = {
            ANALYTICS: pb.GetTrainingAnalyticsRequest(
                start_date=history.first_day.isoformat(), end_date=today.isoformat()
            ),
            # The latest program: 100 of the 500 sessions.
            ANALYTICS_PROGRAM: pb.GetTrainingAnalyticsRequest(program_id=history.programs[-1].program_id),
        }
        self.exports = {
            EXPORT_JSON: ppb.ExportMyDataRequest(format=ppb.EXPORT_FORMAT_JSON),
            EXPORT_CSV: ppb.ExportMyDataRequest(format=ppb.EXPORT_FORMAT_STRONG_CSV),
        }

    def analytics_call(self, name: str) -> Call:
        get, request, metadata = self.progress.GetTrainingAnalytics, self.requests[name], self.metadata

        async def call(worker: int, seq: int) -> object:
            return await get(request, metadata=metadata, timeout=TIMEOUT)

        return call

    def export_call(self, name: str) -> Call:
        export, request, metadata = self.account.ExportMyData, self.exports[name], self.metadata

        async def call(worker: int, seq: int) -> object:
            """Done when the last chunk (and the stream's end) arrived."""
            chunks = 0
            async for _ in export(request, metadata=metadata, timeout=TIMEOUT):
                chunks += 1
            return chunks

        return call

    async def export_bytes(self, name: str) -> tuple[int, bytes]:
        chunks, data = 0, bytearray()
        async for reply in self.account.ExportMyData(self.exports[name], metadata=self.metadata, timeout=TIMEOUT):
            chunks += 1
            data += reply.data
        return chunks, bytes(data)


@dataclass(frozen=True)
class Shape:
    range_sessions: int
    range_weeks: int
    range_bytes: int
    program_sessions: int
    program_bytes: int
    records: int
    json_bytes: int
    json_chunks: int
    csv_bytes: int
    csv_chunks: int
    csv_rows: int


async def _check(client: Client, history: History) -> Shape:
    """The analytics add up to the history written (through Envoy, retried until its health
    checks pass); both exports hold it."""
    over_range = await until_ok(
        lambda: client.progress.GetTrainingAnalytics(
            client.requests[ANALYTICS], metadata=client.metadata, timeout=TIMEOUT
        ),
        "GetTrainingAnalytics through Envoy",
    )
    if over_range.totals.completed_sessions != history.sessions:
        raise RuntimeError(
            f"GetTrainingAnalytics over the range counts {over_range.totals.completed_sessions} completed sessions,"
            f" {history.sessions} were written"
        )
    program = await client.progress.GetTrainingAnalytics(
        client.requests[ANALYTICS_PROGRAM], metadata=client.metadata, timeout=TIMEOUT
    )
    if program.totals.completed_sessions != WEEKS * DAYS:
        raise RuntimeError(f"GetTrainingAnalytics of a program counts {program.totals.completed_sessions} sessions")
    json_chunks, json_data = await until_ok(lambda: client.export_bytes(EXPORT_JSON), "ExportMyData through Envoy")
    csv_chunks, csv_data = await client.export_bytes(EXPORT_CSV)
    csv_rows = csv_data.count(b"\n") - 1
    if csv_rows < history.sessions:
        raise RuntimeError(f"the Strong CSV export holds {csv_rows} rows for {history.sessions} sessions")
    return Shape(
        range_sessions=over_range.totals.completed_sessions,
        range_weeks=len(over_range.weeks),
        range_bytes=over_range.ByteSize(),
        program_sessions=program.totals.completed_sessions,
        program_bytes=program.ByteSize(),
        records=len(over_range.personal_records),
        json_bytes=len(json_data),
        json_chunks=json_chunks,
        csv_bytes=len(csv_data),
        csv_chunks=csv_chunks,
        csv_rows=csv_rows,
    )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Report:
    history: History | None = None
    shape: Shape | None = None
    measuring: st.Measuring | None = None


async def run(options: Options) -> Outcome:
    started = time.perf_counter()
    quick = options.plan.sequential_calls < 1000
    report = Report()
    rows: list[Row] = []
    await st.drop_databases(list(DATABASES.values()))
    with st.running_stack(DATABASES, EXTRA_ENV) as stack:
        print(stack.describe(), flush=True)
        history = await set_up(stack, quick)
        report.history = history
        print(
            f"set up in {history.seconds:.1f} s: {st.plural(len(history.programs), 'program')} of {WEEKS} weeks"
            f" × {DAYS} days from {history.first_day}, {history.sessions} sessions completed"
            f" ({history.feedback} through SubmitWorkoutFeedback), {history.check_ins} check-ins",
            flush=True,
        )
        client = Client(grpc.aio.insecure_channel(stack.envoy_address), history)
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            shape = await _check(client, history)
            report.shape = shape
            print(
                f"analytics: {shape.range_sessions} sessions in {shape.range_weeks} weeks, {shape.records} records,"
                f" {shape.range_bytes:,} bytes; one program {shape.program_sessions} sessions,"
                f" {shape.program_bytes:,} bytes; export JSON {shape.json_bytes:,} bytes in {shape.json_chunks}"
                f" chunks, Strong CSV {shape.csv_bytes:,} bytes ({shape.csv_rows:,} rows) in {shape.csv_chunks}"
                " chunks",
                flush=True,
            )
            gc.collect()
            gc.freeze()
            measuring = st.Measuring(
                options,
                CpuMeter(lambda: st.measured_pids(stack, conn)),
                groups=lambda: st.process_groups(stack, conn),
            )
            report.measuring = measuring
            for name in (ANALYTICS, ANALYTICS_PROGRAM):
                rows += await measuring.rows(
                    name,
                    VIA,
                    client.analytics_call(name),
                    sequential=ANALYTICS_CALLS,
                    concurrency=(ANALYTICS_CONCURRENCY,),
                )
            for name in (EXPORT_JSON, EXPORT_CSV):
                rows += await measuring.rows(
                    name, VIA, client.export_call(name), sequential=EXPORT_CALLS, concurrency=(EXPORT_CONCURRENCY,)
                )
        finally:
            await conn.close()
            await client.channel.close()
    print(f"data benchmark took {time.perf_counter() - started:.0f} s", flush=True)
    return Outcome(rows=rows, names=NAMES, render=lambda merged: render(merged, options, report))


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def evaluate(rows: list[Row]) -> list[Target]:
    targets = []
    for name, label in ((ANALYTICS, "date range, 500 sessions"), (ANALYTICS_PROGRAM, "one program")):
        row = find_row(rows, name, VIA, 1)
        if row:
            targets.append(
                Target(f"GetTrainingAnalytics ({label}) c1 p50 ≤ 10 ms", f"{row.p50_ms:.2f} ms", row.p50_ms <= 10)
            )
    return targets


def render(rows: list[Row], options: Options, report: Report) -> str:
    plan = options.plan
    history, shape, measuring = report.history, report.shape, report.measuring
    calls, warmup = measuring.sequential_counts(*ANALYTICS_CALLS) if measuring else ANALYTICS_CALLS
    export_calls, export_warmup = measuring.sequential_counts(*EXPORT_CALLS) if measuring else EXPORT_CALLS
    parts = [
        "## The lifter's data: analytics and export (issue 7)",
        "",
        f"Measured {machine_line()}; client, Envoy, the three services and PostgreSQL share the cores. "
        f"Code: {code_version()}. `python -m bench data` reproduces it.",
        "",
        "- The program, progress and feedback services (`IRONPATH_ENV=development`, default pool sizes; the "
        "per-user limit on writes off, since the set-up writes hundreds of sessions in seconds and no measured "
        "call is a write) on scratch databases "
        f"({', '.join(f'`{d}`' for d in DATABASES.values())}) dropped at the start of the run, the real Envoy "
        "in front (JWT checked by Envoy and again by each service; its local rate limit raised out of the way).",
    ]
    if history is not None:
        parts.append(
            f"- One lifter, written through the RPCs at the start of the run: an intermediate profile, "
            f"{len(history.programs)} programs of {WEEKS} weeks × {DAYS} days from GenerateProgram, back to back "
            f"from {history.first_day}; all {history.sessions} sessions completed the evening they were planned "
            f"with 16 performed sets each over the session's first exercises ({history.feedback} through "
            f"SubmitWorkoutFeedback with feedback, the rest through MarkSessionComplete), {history.check_ins} "
            "check-ins. The progress service stored each session's figures as it wrote it."
        )
    if shape is not None:
        parts += [
            f"- `{ANALYTICS}`: the date range from the first program's start to today, over all "
            f"{shape.range_sessions} sessions ({shape.range_weeks} weeks, {shape.records} personal records, "
            f"{shape.range_bytes / 1024:.1f} KiB). `{ANALYTICS_PROGRAM}`: the latest program "
            f"({shape.program_sessions} sessions, {shape.program_bytes / 1024:.1f} KiB).",
            f"- `{EXPORT_JSON}` / `{EXPORT_CSV}`: ExportMyData as JSON ({shape.json_bytes / 1024 / 1024:.1f} MiB in "
            f"{shape.json_chunks} chunks) and as Strong CSV ({shape.csv_bytes / 1024:.0f} KiB, "
            f"{shape.csv_rows:,} rows, in {shape.csv_chunks} chunks), from all three services; timed to the "
            "stream's end after the last chunk.",
        ]
    parts += [
        f"- Analytics: {calls:,} sequential calls after {warmup} warm-up calls, then {ANALYTICS_CONCURRENCY} "
        f"workers. Export: {export_calls:,} sequential calls after {export_warmup} warm-up calls, then "
        f"{EXPORT_CONCURRENCY} workers. Concurrent rows run {plan.concurrent_seconds:g} s after "
        f"{plan.concurrent_warmup_seconds:g} s of warm-up. One Python grpc.aio client, one channel to Envoy; "
        "every call is the same lifter's (reads are not rate limited).",
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
    parts += ["### Targets (issue 7; through Envoy)", "", targets_table(evaluate(rows)), ""]
    return "\n".join(parts)


BENCHMARK = register(Benchmark("data", "the lifter's data: training analytics over 500 sessions, data export", run))
