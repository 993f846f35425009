"""The program service's tables (its own database, its own metadata)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase

from ironpath_common.db import new_metadata
from ironpath_common.idempotency import processed_requests_table
from ironpath_common.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


users = Table(
    "users",
    Base.metadata,
    Column("user_id", Text, primary_key=True),
    Column("email", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

lifter_profiles = Table(
    "lifter_profiles",
    Base.metadata,
    Column("user_id", Text, primary_key=True),
    # The user-settable profile fields as JSON (see mappers.profile_to_json).
    Column("profile", JSONB, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

methodologies = Table(
    "methodologies",
    Base.metadata,
    Column("methodology_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("suits", Text, nullable=False),
    Column("experience_levels", ARRAY(Text), nullable=False),
    Column("goals", ARRAY(Text), nullable=False),
    Column("cycle_weeks", SmallInteger, nullable=False),
    Column("deload_rule", Text, nullable=False),
    Column("rules", JSONB, nullable=False),
)

programs = Table(
    "programs",
    Base.metadata,
    Column("program_id", Uuid, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("methodology_id", Text, nullable=False),
    Column("goal", Text, nullable=False),
    Column("weeks", SmallInteger, nullable=False),
    Column("days_per_week", SmallInteger, nullable=False),
    Column("start_date", Date, nullable=True),
    Column("unit", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="active"),
    Column("focus_areas", ARRAY(Text), nullable=False, server_default="{}"),
    # [{"week_number", "phase", "deload"}] in week order.
    Column("week_phases", JSONB, nullable=False),
    Column("generation_metadata", JSONB, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('active', 'archived')", name="state"),
    # A lifter's programs, newest first (ListPrograms' keyset pagination).
    Index("ix_programs_user_id_created_at", "user_id", "created_at", "program_id"),
)

# One row per planned session, so a caller that needs one session reads one row.
program_sessions = Table(
    "program_sessions",
    Base.metadata,
    Column("program_id", Uuid, primary_key=True),
    Column("week_number", SmallInteger, primary_key=True),
    Column("day_number", SmallInteger, primary_key=True),
    # ironpath.common.v1.PlannedSession.
    Column("session_pb", LargeBinary, nullable=False),
)

# A lifter's read-only sharing of one program with a coach. `state` is stored as pending, active
# or revoked; "expired" is read from `expire_time` (domain.Grant.at). Only the SHA-256 of an
# invite code is kept, and only while the grant is pending.
grants = Table(
    "grants",
    Base.metadata,
    Column("grant_id", Uuid, primary_key=True),
    Column("program_id", Uuid, nullable=False),
    Column("owner_user_id", Text, nullable=False),
    Column("grantee_email", Text, nullable=False),
    Column("grantee_user_id", Text, nullable=True),
    Column("invite_code_sha256", LargeBinary, nullable=True),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("expire_time", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('pending', 'active', 'revoked')", name="state"),
    CheckConstraint("(state = 'pending') = (invite_code_sha256 IS NOT NULL)", name="code_only_while_pending"),
    CheckConstraint("state = 'pending' OR state = 'revoked' OR grantee_user_id IS NOT NULL", name="active_has_grantee"),
    # ListGrants: the grants a user gave, and the grants a user holds, newest first.
    Index("ix_grants_owner_user_id_created_at", "owner_user_id", "created_at", "grant_id"),
    Index("ix_grants_grantee_user_id_created_at", "grantee_user_id", "created_at", "grant_id"),
    # The access check; also keeps one active grant per coach and program (a newer one replaces it).
    Index(
        "ix_grants_program_id_grantee_user_id_active",
        "program_id",
        "grantee_user_id",
        unique=True,
        postgresql_where=text("state = 'active'"),
    ),
    Index("ix_grants_invite_code_sha256", "invite_code_sha256", unique=True),
)

processed_requests = processed_requests_table(Base.metadata)
outbox = outbox_table(Base.metadata)
