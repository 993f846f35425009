"""Use cases of the program service. No grpc, no protobuf, no commit: the RPC boundary commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ironpath_common.auth import User
from program_svc.domain import Account
from program_svc.repository import UserRepository


async def get_me(session: AsyncSession, user: User) -> Account:
    """The caller's account, created on their first authenticated call."""
    return await UserRepository(session).get_or_create(user.user_id, user.email)
