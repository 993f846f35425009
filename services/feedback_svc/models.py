"""The feedback service's tables (its own database, its own metadata)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from ironpath_common.db import new_metadata
from ironpath_common.idempotency import processed_requests_table


class Base(DeclarativeBase):
    metadata = new_metadata()


processed_requests = processed_requests_table(Base.metadata)
