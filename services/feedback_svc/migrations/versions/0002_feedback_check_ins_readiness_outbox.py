"""workout feedback, check-ins, readiness checks, outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workout_feedback",
        sa.Column("feedback_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("week_number", sa.SmallInteger(), nullable=False),
        sa.Column("day_number", sa.SmallInteger(), nullable=False),
        sa.Column("categories", ARRAY(sa.Text()), nullable=False),
        sa.Column("pain_area", sa.Text(), nullable=True),
        sa.Column("unavailable_equipment", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        sa.Column("session_rpe", sa.Float(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("adjustments", JSONB(), nullable=False),
        sa.Column("adjustment_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_workout_feedback")),
    )
    op.create_index(
        "ix_workout_feedback_user_id_program_id",
        "workout_feedback",
        ["user_id", "program_id", "week_number", "day_number"],
    )
    op.create_table(
        "check_ins",
        sa.Column("check_in_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("sessions_planned", sa.SmallInteger(), nullable=False),
        sa.Column("sessions_completed", sa.SmallInteger(), nullable=False),
        sa.Column("sessions_skipped", sa.SmallInteger(), nullable=False),
        sa.Column("adherence", sa.Float(), nullable=False),
        sa.Column("average_rpe", sa.Float(), nullable=False),
        sa.Column("adherence_change", sa.Float(), nullable=False),
        sa.Column("average_rpe_change", sa.Float(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("check_in_id", name=op.f("pk_check_ins")),
    )
    op.create_index("ix_check_ins_user_id_created_at", "check_ins", ["user_id", "created_at", "check_in_id"])
    op.create_table(
        "readiness_checks",
        sa.Column("readiness_check_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("sleep_hours", sa.Float(), nullable=False),
        sa.Column("sleep_quality", sa.SmallInteger(), nullable=False),
        sa.Column("stress", sa.SmallInteger(), nullable=False),
        sa.Column("soreness", sa.SmallInteger(), nullable=False),
        sa.Column("energy", sa.SmallInteger(), nullable=False),
        sa.Column("motivation", sa.SmallInteger(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("week_number", sa.SmallInteger(), nullable=True),
        sa.Column("day_number", sa.SmallInteger(), nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("load_reduction_percent", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("adjusted_pb", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("readiness_check_id", name=op.f("pk_readiness_checks")),
    )
    op.create_index("ix_readiness_checks_user_id_date", "readiness_checks", ["user_id", "date", "readiness_check_id"])
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_readiness_checks_user_id_date", table_name="readiness_checks")
    op.drop_table("readiness_checks")
    op.drop_index("ix_check_ins_user_id_created_at", table_name="check_ins")
    op.drop_table("check_ins")
    op.drop_index("ix_workout_feedback_user_id_program_id", table_name="workout_feedback")
    op.drop_table("workout_feedback")
