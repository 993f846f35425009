"""grants: a lifter's read-only sharing of one program with a coach

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("owner_user_id", sa.Text(), nullable=False),
        sa.Column("grantee_email", sa.Text(), nullable=False),
        sa.Column("grantee_user_id", sa.Text(), nullable=True),
        sa.Column("invite_code_sha256", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('pending', 'active', 'revoked')", name=op.f("ck_grants_state")),
        sa.CheckConstraint(
            "(state = 'pending') = (invite_code_sha256 IS NOT NULL)", name=op.f("ck_grants_code_only_while_pending")
        ),
        sa.CheckConstraint(
            "state = 'pending' OR state = 'revoked' OR grantee_user_id IS NOT NULL",
            name=op.f("ck_grants_active_has_grantee"),
        ),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_grants")),
    )
    op.create_index("ix_grants_owner_user_id_created_at", "grants", ["owner_user_id", "created_at", "grant_id"])
    op.create_index("ix_grants_grantee_user_id_created_at", "grants", ["grantee_user_id", "created_at", "grant_id"])
    op.create_index(
        "ix_grants_program_id_grantee_user_id_active",
        "grants",
        ["program_id", "grantee_user_id"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index("ix_grants_invite_code_sha256", "grants", ["invite_code_sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_grants_invite_code_sha256", table_name="grants")
    op.drop_index("ix_grants_program_id_grantee_user_id_active", table_name="grants")
    op.drop_index("ix_grants_grantee_user_id_created_at", table_name="grants")
    op.drop_index("ix_grants_owner_user_id_created_at", table_name="grants")
    op.drop_table("grants")
