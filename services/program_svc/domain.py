"""Plain data and pure rules of the program service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    created_at: datetime
