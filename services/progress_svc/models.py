"""The progress service's tables (its own database, its own metadata).

Prescriptions, performed sets and feedback are stored as protobuf bytes: they are only
ever read whole and turned straight back into the messages a response carries, and
protobuf's wire format evolves compatibly with the contracts.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase

from ironpath_common.db import new_metadata
from ironpath_common.idempotency import processed_requests_table


class Base(DeclarativeBase):
    metadata = new_metadata()


progress_logs = Table(
    "progress_logs",
    Base.metadata,
    # One row per (user, program, week, day): the primary key enforces it and serves every
    # per-program read in week/day order.
    Column("user_id", Text, primary_key=True),
    Column("program_id", Uuid, primary_key=True),
    Column("week_number", SmallInteger, primary_key=True),
    Column("day_number", SmallInteger, primary_key=True),
    Column("title", Text, nullable=False),
    Column("planned_date", Date, nullable=True),
    Column("status", Text, nullable=False, server_default="planned"),
    Column("scheduled_date", Date, nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("skip_reason", Text, nullable=True),
    Column("session_rpe", Float, nullable=True),
    # The lifter's own words on the session (imported from the old app); never logged.
    Column("notes", Text, nullable=True),
    # ironpath.common.v1.PlannedSession as planned, and as adjusted by feedback.
    Column("planned_pb", LargeBinary, nullable=False),
    Column("adjusted_pb", LargeBinary, nullable=True),
    # SessionLog wire bytes holding only `performed_sets` (merged straight into a SessionLog).
    Column("performed_pb", LargeBinary, nullable=True),
    # ironpath.progress.v1.FeedbackSummary.
    Column("feedback_pb", LargeBinary, nullable=True),
    # ironpath.progress.v1.SessionFigures computed from `performed_pb`, written in the same
    # statement whenever performed sets are, so analytics never read sets (NULL: no sets lifted).
    Column("figures_pb", LargeBinary, nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('planned', 'scheduled', 'completed', 'skipped')", name="status"),
    CheckConstraint("week_number >= 1 AND day_number >= 1", name="position"),
    Index(
        "ix_progress_logs_user_id_completed_at",
        "user_id",
        "completed_at",
        postgresql_where=text("completed_at IS NOT NULL"),
    ),
    Index(
        "ix_progress_logs_user_id_scheduled_date",
        "user_id",
        "scheduled_date",
        postgresql_where=text("scheduled_date IS NOT NULL"),
    ),
    Index("ix_progress_logs_user_id_due_date", "user_id", func.coalesce(text("scheduled_date"), text("planned_date"))),
)

# Internal events (outbox deliveries from other services) already applied, by event id.
applied_events = Table(
    "applied_events",
    Base.metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

processed_requests = processed_requests_table(Base.metadata)
