"""index the day a session is due (scheduled, else planned) for check-in windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_progress_logs_user_id_due_date "
        "ON progress_logs (user_id, (COALESCE(scheduled_date, planned_date)))"
    )


def downgrade() -> None:
    op.drop_index("ix_progress_logs_user_id_due_date", table_name="progress_logs")
