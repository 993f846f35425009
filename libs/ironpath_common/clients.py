"""Outbound calls to other IronPath services: a service token on every call, a deadline on
every call, and gRPC failures turned into domain errors (a service that is down is
`Unavailable`, never an unknown error)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ironpath_common import errors
from ironpath_common.auth import ServiceTokenIssuer

ResponseT = TypeVar("ResponseT")

DEFAULT_DEADLINE_SECONDS = 5.0

_BY_CODE: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.UNIMPLEMENTED: errors.Unimplemented,
}


class ServiceChannel:
    """One channel to another service, shared by its typed clients."""

    def __init__(self, address: str, tokens: ServiceTokenIssuer, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS):
        # round_robin: with a headless Service (several addresses per name) calls spread over every
        # replica instead of sticking to the first one resolved.
        self.channel = grpc.aio.insecure_channel(
            address, options=[("grpc.enable_retries", 1), ("grpc.lb_policy_name", "round_robin")]
        )
        self._tokens = tokens
        self._deadline = deadline_seconds

    async def call(
        self, method: Callable[..., Awaitable[ResponseT]], request: Any, deadline_seconds: float | None = None
    ) -> ResponseT:
        try:
            return await method(
                request,
                metadata=(("authorization", "Bearer " + self._tokens.token()),),
                timeout=deadline_seconds or self._deadline,
            )
        except grpc.aio.AioRpcError as error:
            raise _domain_error(error) from None

    async def stream(
        self, method: Callable[..., Any], request: Any, deadline_seconds: float | None = None
    ) -> AsyncIterator[Any]:
        """A server-streaming call read message by message. The deadline covers the whole stream;
        a failure at any point (also mid-stream) is raised as a domain error."""
        call = method(
            request,
            metadata=(("authorization", "Bearer " + self._tokens.token()),),
            timeout=deadline_seconds or self._deadline,
        )
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            raise _domain_error(error) from None
        finally:
            call.cancel()  # a caller that stops early frees the other side at once

    async def close(self) -> None:
        await self.channel.close()


def _domain_error(error: grpc.aio.AioRpcError) -> errors.DomainError:
    code = error.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        # Keep the fields the dependency named (our request fields usually carry the same names).
        return errors.InvalidArgument(_violations(error) or [errors.FieldViolation("request", error.details() or "")])
    kind = _BY_CODE.get(code)
    if kind is not None:
        return kind(error.details() or code.name)
    # UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL, UNAUTHENTICATED between services:
    # the caller can only retry later.
    return errors.Unavailable(f"a dependency failed ({code.name}); retry later")


def _violations(error: grpc.aio.AioRpcError) -> list[errors.FieldViolation]:
    status = rpc_status.from_call(error)
    if status is None:
        return []
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found += [errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations]
    return found
