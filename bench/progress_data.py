"""The progress benchmark's dataset: 10,000 lifters, each with one 16-week × 5-day program
(800,000 logs), about a third of them completed with 4 exercises × 4 performed sets.

It lives in its own database (`ironpath_bench_progress`), built by the service's own
migrations, and is filled once: PostgreSQL expands a handful of template sessions (protobuf
bytes made here) over `generate_series`, and `bench_meta` records that the fill finished.
Later runs only undo what the benchmark's writes changed, so every run reads the same data.

Completed logs carry the figures the service computes from their sets (its own function), as
if the service had written them. Lifters 0-8,999 are read; lifters 9,000-9,999 ("writers")
start with every session planned and are the only ones MarkSessionComplete touches, so
`reset_writes` restores them exactly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date

import asyncpg

from ironpath.common.v1 import training_pb2 as tpb
from ironpath.progress.v1 import progress_pb2 as pb
from progress_svc.repository import figures_for_stored_sets

logger = logging.getLogger("bench.progress")

DATABASE = "ironpath_bench_progress"
VERSION_TABLE = "progress_alembic_version"
# Bump when the shape of the data changes: the next run refills (so does a new schema revision,
# since the service's migrations may rewrite rows).
DATASET_VERSION = 2

LIFTERS = 10_000
WRITERS = 1_000
FIRST_WRITER = LIFTERS - WRITERS
WEEKS = 16
DAYS = 5
SESSIONS = WEEKS * DAYS
# Read lifter i has reached position i % PROGRESS_CYCLE of its program (0-61, 30.5 on average):
# the sessions before it are completed (every 17th skipped), the next three scheduled.
PROGRESS_CYCLE = 62
SKIP_EVERY = 17
# The measured lifters have reached position 28: 27 completed logs (432 performed sets),
# 1 skipped, 3 scheduled, 49 planned, feedback on 7 logs and one adjusted prescription.
MEASURED_POSITION = 28
MEASURED_LIFTERS = 16
# Sessions start on the Monday ANCHOR - n weeks, so completed sessions lie in the past.
ANCHOR = date(2026, 11, 23)
DAY_OFFSETS = (0, 1, 3, 4, 5)  # Mon, Tue, Thu, Fri, Sat
LEVELS = 4

_USER_PREFIX = "0b0b0000-0000-4000-8000-"
_PROGRAM_PREFIX = "b0b00000-0000-4000-8000-"


def user_id(lifter: int) -> str:
    return f"{_USER_PREFIX}{lifter:012d}"


def program_id(lifter: int) -> str:
    return f"{_PROGRAM_PREFIX}{lifter:012d}"


def measured_lifters() -> list[int]:
    return [i for i in range(FIRST_WRITER) if i % PROGRESS_CYCLE == MEASURED_POSITION][:MEASURED_LIFTERS]


def writer_lifters() -> list[int]:
    return list(range(FIRST_WRITER, LIFTERS))


def position(week: int, day: int) -> int:
    return (week - 1) * DAYS + day


# ---------------------------------------------------------------------------------------------
# Templates: a strength level's one-rep maxes, the five training days, a 4-week wave per block.

# Squat, bench press, deadlift, overhead press one-rep maxes (kg) per strength level.
ONE_REP_MAXES = (
    {"squat": 100.0, "bench": 70.0, "deadlift": 120.0, "press": 45.0},
    {"squat": 140.0, "bench": 100.0, "deadlift": 170.0, "press": 62.5},
    {"squat": 180.0, "bench": 125.0, "deadlift": 210.0, "press": 80.0},
    {"squat": 220.0, "bench": 150.0, "deadlift": 250.0, "press": 97.5},
)


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    name: str
    main_lift: int
    base: str  # whose one-rep max the load derives from ("" for bodyweight)
    fraction: float  # of that max (main lifts: scaled by the week's intensity)


_M = tpb
DAY_PLANS: tuple[tuple[str, tuple[Exercise, ...]], ...] = (
    (
        "Lower: squat focus",
        (
            Exercise("back_squat", "Back Squat", _M.MAIN_LIFT_SQUAT, "squat", 1.0),
            Exercise("romanian_deadlift", "Romanian Deadlift", _M.MAIN_LIFT_UNSPECIFIED, "deadlift", 0.55),
            Exercise("bulgarian_split_squat", "Bulgarian Split Squat", _M.MAIN_LIFT_UNSPECIFIED, "squat", 0.25),
            Exercise("hanging_leg_raise", "Hanging Leg Raise", _M.MAIN_LIFT_UNSPECIFIED, "", 0.0),
        ),
    ),
    (
        "Upper: bench focus",
        (
            Exercise("bench_press", "Bench Press", _M.MAIN_LIFT_BENCH_PRESS, "bench", 1.0),
            Exercise("pendlay_row", "Pendlay Row", _M.MAIN_LIFT_UNSPECIFIED, "bench", 0.6),
            Exercise("incline_dumbbell_press", "Incline Dumbbell Press", _M.MAIN_LIFT_UNSPECIFIED, "bench", 0.3),
            Exercise("face_pull", "Face Pull", _M.MAIN_LIFT_UNSPECIFIED, "press", 0.35),
        ),
    ),
    (
        "Lower: deadlift focus",
        (
            Exercise("deadlift", "Deadlift", _M.MAIN_LIFT_DEADLIFT, "deadlift", 1.0),
            Exercise("front_squat", "Front Squat", _M.MAIN_LIFT_UNSPECIFIED, "squat", 0.6),
            Exercise("walking_lunge", "Walking Lunge", _M.MAIN_LIFT_UNSPECIFIED, "squat", 0.2),
            Exercise("back_extension", "Back Extension", _M.MAIN_LIFT_UNSPECIFIED, "", 0.0),
        ),
    ),
    (
        "Upper: press focus",
        (
            Exercise("overhead_press", "Overhead Press", _M.MAIN_LIFT_OVERHEAD_PRESS, "press", 1.0),
            Exercise("weighted_pull_up", "Weighted Pull-up", _M.MAIN_LIFT_UNSPECIFIED, "press", 0.15),
            Exercise("close_grip_bench_press", "Close-grip Bench Press", _M.MAIN_LIFT_UNSPECIFIED, "bench", 0.7),
            Exercise("lateral_raise", "Lateral Raise", _M.MAIN_LIFT_UNSPECIFIED, "press", 0.12),
        ),
    ),
    (
        "Full body: volume",
        (
            Exercise("back_squat", "Back Squat", _M.MAIN_LIFT_SQUAT, "squat", 0.9),
            Exercise("bench_press", "Bench Press", _M.MAIN_LIFT_BENCH_PRESS, "bench", 0.9),
            Exercise("barbell_row", "Barbell Row", _M.MAIN_LIFT_UNSPECIFIED, "bench", 0.65),
            Exercise("farmer_carry", "Farmer Carry", _M.MAIN_LIFT_UNSPECIFIED, "deadlift", 0.4),
        ),
    ),
)
DAY_TITLES = tuple(title for title, _ in DAY_PLANS)

# Week within each 4-week block: main-lift intensity, main reps, main RPE, accessory reps, RPE.
_WAVE = (
    (0.700, 8, 7.0, 12, 8.0),
    (0.750, 6, 7.5, 10, 8.0),
    (0.800, 4, 8.5, 8, 8.5),
    (0.600, 5, 6.0, 10, 6.0),  # deload
)
SETS_PER_EXERCISE = 4


def _round_load(kg: float) -> float:
    return round(kg / 2.5) * 2.5


@dataclass(frozen=True)
class SetPlan:
    exercise_id: str
    set_number: int
    reps: int
    load_kg: float
    rpe: float


def session_plan(week: int, day: int, level: int) -> tpb.PlannedSession:
    block, wave = divmod(week - 1, 4)
    intensity, main_reps, main_rpe, acc_reps, acc_rpe = _WAVE[wave]
    deload = wave == 3
    if not deload:
        intensity += 0.025 * block
    title, exercises = DAY_PLANS[day - 1]
    session = tpb.PlannedSession(
        week_number=week, day_number=day, title=f"Week {week} · Day {day} — {title}", deload=deload
    )
    maxes = ONE_REP_MAXES[level]
    for order, ex in enumerate(exercises, start=1):
        main = ex.main_lift != _M.MAIN_LIFT_UNSPECIFIED
        prescription = session.exercises.add(
            exercise_id=ex.exercise_id,
            name=ex.name,
            main_lift=ex.main_lift,
            order=order,
            rest_seconds=180 if main else 90,
        )
        for set_number in range(1, SETS_PER_EXERCISE + 1):
            if main:
                percent = round(intensity * ex.fraction, 3)
                load = _round_load(maxes[ex.base] * percent)
                prescription.sets.add(
                    set_number=set_number,
                    reps=main_reps,
                    percent_1rm=percent,
                    load_kg=load,
                    rpe_target=main_rpe,
                    amrap=set_number == SETS_PER_EXERCISE and wave == 2,
                )
            else:
                scale = (0.8 if deload else 1.0) * (1 + 0.02 * block)
                load = _round_load(maxes[ex.base] * ex.fraction * scale) if ex.base else 0.0
                prescription.sets.add(set_number=set_number, reps=acc_reps, load_kg=load, rpe_target=acc_rpe)
    return session


def set_plans(session: tpb.PlannedSession) -> list[SetPlan]:
    return [
        SetPlan(ex.exercise_id, s.set_number, s.reps, s.load_kg, s.rpe_target)
        for ex in session.exercises
        for s in ex.sets
    ]


def performed_sets(session: tpb.PlannedSession, variant: int) -> list[tpb.PerformedSet]:
    """What a lifter lifted against the plan: variant 0 reports RPE on each exercise's last set
    and drops a rep late in the main lift; variant 1 reports RPE on every set and adds load."""
    performed = []
    for plan in set_plans(session):
        last = plan.set_number == SETS_PER_EXERCISE
        reps = plan.reps - 1 if variant == 0 and last and plan.reps > 5 else plan.reps
        load = plan.load_kg + 2.5 if variant == 1 and plan.load_kg > 0 and plan.set_number == 1 else plan.load_kg
        message = tpb.PerformedSet(
            exercise_id=plan.exercise_id,
            set_number=plan.set_number,
            target_reps=plan.reps,
            target_load_kg=plan.load_kg,
            target_rpe=plan.rpe,
            actual_reps=reps,
            actual_load_kg=load,
        )
        if variant == 1 or last:
            message.actual_rpe = min(10.0, plan.rpe + (0.5 if last else 0.0) + 0.5 * variant)
        performed.append(message)
    return performed


def performed_bytes(session: tpb.PlannedSession, variant: int) -> bytes:
    """Stored like the service stores it: a SessionLog holding only `performed_sets`."""
    return pb.SessionLog(performed_sets=performed_sets(session, variant)).SerializeToString()


def adjusted_plan(session: tpb.PlannedSession) -> tpb.PlannedSession:
    """What the feedback service writes after a hard session: main-lift loads 5 % lighter."""
    adjusted = tpb.PlannedSession()
    adjusted.CopyFrom(session)
    for ex in adjusted.exercises:
        if ex.main_lift != _M.MAIN_LIFT_UNSPECIFIED:
            ex.notes = "Loads reduced 5 % after a hard previous session."
            for s in ex.sets:
                s.load_kg = _round_load(s.load_kg * 0.95)
    return adjusted


FEEDBACK_TEMPLATES = (
    pb.FeedbackSummary(
        feedback_id="f0f00000-0000-4000-8000-000000000001",
        categories=[_M.FEEDBACK_CATEGORY_FELT_GREAT],
        session_rpe=7.5,
        adjustment_reason="On track: the next session stays as planned.",
    ),
    pb.FeedbackSummary(
        feedback_id="f0f00000-0000-4000-8000-000000000002",
        categories=[_M.FEEDBACK_CATEGORY_TOO_HARD, _M.FEEDBACK_CATEGORY_POOR_SLEEP],
        session_rpe=9.0,
        adjustment_reason="Main-lift loads 5 % lighter next session after a hard day on little sleep.",
    ),
)


def _template_index(week: int, day: int, level: int) -> int:
    """0-based index of a (week, day, level) template; SQL adds 1."""
    return ((week - 1) * DAYS + (day - 1)) * LEVELS + level


def templates() -> dict[str, list[bytes | None]]:
    planned: list[bytes | None] = []
    adjusted: list[bytes | None] = []
    performed: list[bytes] = []
    for week in range(1, WEEKS + 1):
        for day in range(1, DAYS + 1):
            for level in range(LEVELS):
                assert len(planned) == _template_index(week, day, level)
                session = session_plan(week, day, level)
                planned.append(session.SerializeToString())
                adjusted.append(adjusted_plan(session).SerializeToString())
                performed += [performed_bytes(session, 0), performed_bytes(session, 1)]
    # The figures the service stores beside every set it writes, by its own rules.
    figures = [figures_for_stored_sets(p) for p in performed]
    return {
        "planned": planned,
        "adjusted": adjusted,
        "performed": list(performed),
        "figures": figures,
        "feedback": [f.SerializeToString() for f in FEEDBACK_TEMPLATES],
    }


# ---------------------------------------------------------------------------------------------
# Filling and resetting

_FILL = f"""
INSERT INTO progress_logs (
    user_id, program_id, week_number, day_number, title, planned_date, status, scheduled_date,
    completed_at, skip_reason, session_rpe, planned_pb, adjusted_pb, performed_pb, figures_pb, feedback_pb,
    version, created_at, updated_at)
SELECT
    '{_USER_PREFIX}' || lpad(l.i::text, 12, '0'),
    ('{_PROGRAM_PREFIX}' || lpad(l.i::text, 12, '0'))::uuid,
    w, d,
    'Week ' || w || ' · Day ' || d || ' — ' || ($3::text[])[d],
    x.planned_date,
    x.status,
    CASE WHEN x.status = 'scheduled' THEN x.planned_date + (x.p % 2) END,
    CASE WHEN x.status = 'completed' THEN x.completed_at END,
    CASE WHEN x.status = 'skipped' THEN 'Travelling for work this week' END,
    CASE WHEN x.status = 'completed' THEN 7.0 + ((l.i + x.p) % 5) * 0.5 END,
    ($4::bytea[])[x.template + 1],
    CASE WHEN x.adjusted THEN ($5::bytea[])[x.template + 1] END,
    CASE WHEN x.status = 'completed' THEN ($6::bytea[])[x.template * 2 + (l.i + x.p) % 2 + 1] END,
    CASE WHEN x.status = 'completed' THEN ($9::bytea[])[x.template * 2 + (l.i + x.p) % 2 + 1] END,
    CASE WHEN x.feedback THEN ($7::bytea[])[(l.i + x.p) % 2 + 1] END,
    1 + (x.status <> 'planned')::int + x.feedback::int + x.adjusted::int,
    x.created_at,
    CASE WHEN x.status = 'completed' THEN x.completed_at ELSE x.created_at END
FROM (
    SELECT i, CASE WHEN i >= {FIRST_WRITER} THEN -10 ELSE i % {PROGRESS_CYCLE} END AS k, i % {LEVELS} AS level
    FROM generate_series($1::int, $2::int - 1) AS i
) AS l
CROSS JOIN generate_series(1, {WEEKS}) AS w
CROSS JOIN generate_series(1, {DAYS}) AS d
CROSS JOIN LATERAL (
    SELECT $8::date - (greatest(l.k, 0) / {DAYS} + 1) * 7 AS start, (w - 1) * {DAYS} + d AS p
) AS s
CROSS JOIN LATERAL (
    SELECT
        s.p,
        s.start + (w - 1) * 7 + ('{{{",".join(map(str, DAY_OFFSETS))}}}'::int[])[d] AS planned_date,
        CASE
            WHEN s.p <= l.k AND s.p % {SKIP_EVERY} = 0 THEN 'skipped'
            WHEN s.p <= l.k THEN 'completed'
            WHEN s.p <= l.k + 3 THEN 'scheduled'
            ELSE 'planned'
        END AS status,
        (s.start + (w - 1) * 7 + ('{{{",".join(map(str, DAY_OFFSETS))}}}'::int[])[d]
            + time '17:30' + ((l.i * 7 + s.p * 13) % 120) * interval '1 minute') AT TIME ZONE 'UTC' AS completed_at,
        (s.start - 1 + time '09:00') AT TIME ZONE 'UTC' AS created_at,
        ((w - 1) * {DAYS} + (d - 1)) * {LEVELS} + l.level AS template,
        (s.p <= l.k AND s.p % {SKIP_EVERY} <> 0 AND s.p % 4 = 0) AS feedback,
        (s.p = l.k + 1 AND l.k > 0 AND l.k % 4 = 0) AS adjusted
) AS x
ORDER BY l.i, w, d
"""

_META = "CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)"
_CHUNK = 500


async def _meta(conn: asyncpg.Connection) -> dict[str, object]:
    schema = await conn.fetchval(f"SELECT version_num FROM {VERSION_TABLE}")
    return {
        "version": DATASET_VERSION,
        "schema": schema,
        "lifters": LIFTERS,
        "weeks": WEEKS,
        "days": DAYS,
        "writers": WRITERS,
    }


async def dataset_ready(conn: asyncpg.Connection) -> bool:
    """True when the fill finished, for this dataset version and this schema revision."""
    await conn.execute(_META)
    stored = await conn.fetchval("SELECT value FROM bench_meta WHERE key = 'dataset'")
    return stored is not None and json.loads(stored) == await _meta(conn)


async def fill(dsn: str, workers: int = 2) -> float:
    """Empties the tables and fills them (two connections, one per core); returns seconds taken."""
    import asyncio

    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_META)
        await conn.execute("DELETE FROM bench_meta WHERE key = 'dataset'")
        await conn.execute("TRUNCATE progress_logs, processed_requests, applied_events")
    finally:
        await conn.close()
    t = templates()
    chunks = [(lo, min(lo + _CHUNK, LIFTERS)) for lo in range(0, LIFTERS, _CHUNK)]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        c = await asyncpg.connect(dsn)
        try:
            await c.execute("SET synchronous_commit = off")
            while not queue.empty():
                lo, hi = queue.get_nowait()
                await c.execute(
                    _FILL,
                    lo,
                    hi,
                    list(DAY_TITLES),
                    t["planned"],
                    t["adjusted"],
                    t["performed"],
                    t["feedback"],
                    ANCHOR,
                    t["figures"],
                )
                logger.debug("filled lifters %d-%d", lo, hi - 1)
        finally:
            await c.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE) progress_logs")
        await conn.execute(
            "INSERT INTO bench_meta (key, value) VALUES ('dataset', $1::jsonb)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            json.dumps(await _meta(conn)),
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def reset_writes(dsn: str) -> int:
    """Puts every writer's logs back to planned and forgets their requests; returns logs restored."""
    writers = [user_id(i) for i in writer_lifters()]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            status = await conn.execute(
                """
                UPDATE progress_logs
                SET status = 'planned', completed_at = NULL, performed_pb = NULL, figures_pb = NULL,
                    session_rpe = NULL, skip_reason = NULL, scheduled_date = NULL, feedback_pb = NULL,
                    adjusted_pb = NULL, notes = NULL, version = 1, updated_at = created_at
                WHERE user_id = ANY($1::text[]) AND version <> 1
                """,
                writers,
            )
            await conn.execute("DELETE FROM processed_requests WHERE user_id = ANY($1::text[])", writers)
        # Keeps dead rows from piling up run after run, so every run reads the same pages, and
        # starts every measurement right after a checkpoint, so none lands in the middle of one.
        await conn.execute("VACUUM progress_logs, processed_requests")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return int(status.split()[-1])


@dataclass(frozen=True)
class WriteTarget:
    lifter: int
    week: int
    day: int


def write_targets() -> list[WriteTarget]:
    """Every writer session, lifter-interleaved, so consecutive completions hit different lifters."""
    writers = writer_lifters()
    return [WriteTarget(i, week, day) for week in range(1, WEEKS + 1) for day in range(1, DAYS + 1) for i in writers]


def new_request_id() -> str:
    return str(uuid.uuid4())
