"""lifter profiles, the methodology library, programs and their sessions, outbox, processed requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The methodology rows come from program_svc.methodologies.LIBRARY as it is when this runs; a
later change to the library ships as a migration that updates the rows.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from program_svc.methodologies import LIBRARY

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lifter_profiles",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("profile", JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_lifter_profiles")),
    )
    methodologies = op.create_table(
        "methodologies",
        sa.Column("methodology_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("suits", sa.Text(), nullable=False),
        sa.Column("experience_levels", ARRAY(sa.Text()), nullable=False),
        sa.Column("goals", ARRAY(sa.Text()), nullable=False),
        sa.Column("cycle_weeks", sa.SmallInteger(), nullable=False),
        sa.Column("deload_rule", sa.Text(), nullable=False),
        sa.Column("rules", JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("methodology_id", name=op.f("pk_methodologies")),
    )
    op.bulk_insert(
        methodologies,
        [
            {
                "methodology_id": m.methodology_id,
                "name": m.name,
                "description": m.description,
                "suits": m.suits,
                "experience_levels": list(m.experience_levels),
                "goals": list(m.goals),
                "cycle_weeks": m.cycle_weeks,
                "deload_rule": m.deload_rule,
                "rules": m.rules,
            }
            for m in LIBRARY
        ],
    )
    op.create_table(
        "programs",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("methodology_id", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("weeks", sa.SmallInteger(), nullable=False),
        sa.Column("days_per_week", sa.SmallInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="active"),
        sa.Column("focus_areas", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("week_phases", JSONB(), nullable=False),
        sa.Column("generation_metadata", JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('active', 'archived')", name=op.f("ck_programs_state")),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_programs")),
    )
    op.create_index("ix_programs_user_id_created_at", "programs", ["user_id", "created_at", "program_id"])
    op.create_table(
        "program_sessions",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("week_number", sa.SmallInteger(), nullable=False),
        sa.Column("day_number", sa.SmallInteger(), nullable=False),
        sa.Column("session_pb", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "week_number", "day_number", name=op.f("pk_program_sessions")),
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
    op.drop_table("processed_requests")
    op.drop_table("program_sessions")
    op.drop_index("ix_programs_user_id_created_at", table_name="programs")
    op.drop_table("programs")
    op.drop_table("methodologies")
    op.drop_table("lifter_profiles")
