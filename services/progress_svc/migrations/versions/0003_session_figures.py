"""each log's figures (tonnage, hard sets, e1RM, volume by muscle group, RPE sums), stored
beside its performed sets; logs already holding sets get theirs here

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from progress_svc.repository import figures_for_stored_sets

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("progress_logs", sa.Column("figures_pb", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    select = sa.text(
        "SELECT user_id, program_id, week_number, day_number, performed_pb FROM progress_logs "
        "WHERE performed_pb IS NOT NULL AND (user_id, program_id, week_number, day_number) > "
        "(:user_id, :program_id, :week_number, :day_number) "
        "ORDER BY user_id, program_id, week_number, day_number LIMIT :limit"
    )
    update = sa.text(
        "UPDATE progress_logs SET figures_pb = :figures_pb WHERE user_id = :user_id AND program_id = :program_id "
        "AND week_number = :week_number AND day_number = :day_number"
    )
    after = {"user_id": "", "program_id": "00000000-0000-0000-0000-000000000000", "week_number": 0, "day_number": 0}
    while True:
        rows = connection.execute(select, {**after, "limit": BATCH}).all()
        if not rows:
            return
        connection.execute(
            update,
            [
                {
                    "user_id": row.user_id,
                    "program_id": row.program_id,
                    "week_number": row.week_number,
                    "day_number": row.day_number,
                    "figures_pb": figures_for_stored_sets(row.performed_pb),
                }
                for row in rows
            ],
        )
        last = rows[-1]
        after = {
            "user_id": last.user_id,
            "program_id": last.program_id,
            "week_number": last.week_number,
            "day_number": last.day_number,
        }


def downgrade() -> None:
    op.drop_column("progress_logs", "figures_pb")
