"""progress logs, applied events, processed requests

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "progress_logs",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("week_number", sa.SmallInteger(), nullable=False),
        sa.Column("day_number", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="planned"),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("session_rpe", sa.Float(), nullable=True),
        sa.Column("planned_pb", sa.LargeBinary(), nullable=False),
        sa.Column("adjusted_pb", sa.LargeBinary(), nullable=True),
        sa.Column("performed_pb", sa.LargeBinary(), nullable=True),
        sa.Column("feedback_pb", sa.LargeBinary(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('planned', 'scheduled', 'completed', 'skipped')", name=op.f("ck_progress_logs_status")
        ),
        sa.CheckConstraint("week_number >= 1 AND day_number >= 1", name=op.f("ck_progress_logs_position")),
        sa.PrimaryKeyConstraint("user_id", "program_id", "week_number", "day_number", name=op.f("pk_progress_logs")),
    )
    op.create_index(
        "ix_progress_logs_user_id_completed_at",
        "progress_logs",
        ["user_id", "completed_at"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )
    op.create_index(
        "ix_progress_logs_user_id_scheduled_date",
        "progress_logs",
        ["user_id", "scheduled_date"],
        postgresql_where=sa.text("scheduled_date IS NOT NULL"),
    )
    op.create_table(
        "applied_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_applied_events")),
    )
    op.create_table(
        "processed_requests",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "request_id", name=op.f("pk_processed_requests")),
    )


def downgrade() -> None:
    op.drop_table("processed_requests")
    op.drop_table("applied_events")
    op.drop_index("ix_progress_logs_user_id_scheduled_date", table_name="progress_logs")
    op.drop_index("ix_progress_logs_user_id_completed_at", table_name="progress_logs")
    op.drop_table("progress_logs")
