"""Persistence of the program service: the only module that speaks SQL."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from program_svc.domain import Account
from program_svc.models import UserRow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_or_create(self, user_id: str, email: str) -> Account:
        """One statement: inserts the user on first sight, keeps the email current."""
        statement = (
            insert(UserRow)
            .values(user_id=user_id, email=email)
            .on_conflict_do_update(index_elements=[UserRow.user_id], set_={"email": email})
            .returning(UserRow.user_id, UserRow.email, UserRow.created_at)
        )
        row = (await self._session.execute(statement)).one()
        return Account(user_id=row.user_id, email=row.email, created_at=row.created_at)
