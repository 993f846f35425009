"""Protobuf <-> domain for the program service."""

from __future__ import annotations

from ironpath.program.v1 import program_pb2 as pb
from program_svc.domain import Account


def user_to_pb(account: Account) -> pb.User:
    message = pb.User(user_id=account.user_id, email=account.email)
    message.create_time.FromDatetime(account.created_at)
    return message
