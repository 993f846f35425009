"""The feedback service's tables (its own database, its own metadata)."""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Float, Index, LargeBinary, SmallInteger, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase

from ironpath_common.db import new_metadata
from ironpath_common.idempotency import processed_requests_table
from ironpath_common.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


workout_feedback = Table(
    "workout_feedback",
    Base.metadata,
    Column("feedback_id", Uuid, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("week_number", SmallInteger, nullable=False),
    Column("day_number", SmallInteger, nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("pain_area", Text, nullable=True),
    Column("unavailable_equipment", ARRAY(Text), nullable=False, server_default="{}"),
    Column("notes", Text, nullable=False, server_default=""),
    Column("session_rpe", Float, nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=False),
    # [{week_number, day_number, exercise_id, kind, reason, ...}] as the lifter was told.
    Column("adjustments", JSONB, nullable=False),
    Column("adjustment_reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_workout_feedback_user_id_program_id", "user_id", "program_id", "week_number", "day_number"),
)

check_ins = Table(
    "check_ins",
    Base.metadata,
    Column("check_in_id", Uuid, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("sessions_planned", SmallInteger, nullable=False),
    Column("sessions_completed", SmallInteger, nullable=False),
    Column("sessions_skipped", SmallInteger, nullable=False),
    Column("adherence", Float, nullable=False),
    Column("average_rpe", Float, nullable=False),
    Column("adherence_change", Float, nullable=False),
    Column("average_rpe_change", Float, nullable=False),
    Column("recommendation", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_check_ins_user_id_created_at", "user_id", "created_at", "check_in_id"),
)

readiness_checks = Table(
    "readiness_checks",
    Base.metadata,
    Column("readiness_check_id", Uuid, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("date", Date, nullable=False),
    Column("sleep_hours", Float, nullable=False),
    Column("sleep_quality", SmallInteger, nullable=False),
    Column("stress", SmallInteger, nullable=False),
    Column("soreness", SmallInteger, nullable=False),
    Column("energy", SmallInteger, nullable=False),
    Column("motivation", SmallInteger, nullable=False),
    Column("program_id", Uuid, nullable=True),
    Column("week_number", SmallInteger, nullable=True),
    Column("day_number", SmallInteger, nullable=True),
    Column("score", SmallInteger, nullable=False),
    Column("recommendation", Text, nullable=False),
    Column("load_reduction_percent", Float, nullable=False),
    Column("reason", Text, nullable=False),
    # ironpath.common.v1.PlannedSession as it should be trained that day, when a session was named.
    Column("adjusted_pb", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_readiness_checks_user_id_date", "user_id", "date", "readiness_check_id"),
)

# Internal events (account erasure from the program service) already applied, by event id. It holds
# no user id: an applied erase leaves nothing that names the user.
applied_events = Table(
    "applied_events",
    Base.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

processed_requests = processed_requests_table(Base.metadata)
outbox = outbox_table(Base.metadata)
