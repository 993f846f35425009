"""a log's notes: the lifter's own words on a session, brought over by ImportLegacyProgress

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("progress_logs", sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("progress_logs", "notes")
