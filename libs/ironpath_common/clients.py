"""Outbound calls to other IronPath services: a service token on every call, a deadline on
every call, the caller's trace continued on every call (`traceparent` with a new child span),
and gRPC failures turned into domain errors (a service that is down is `Unavailable`, never an
unknown error)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ironpath_common import errors
from ironpath_common.auth import ServiceTokenIssuer
from ironpath_common.tracing import SPAN_KIND_CLIENT, TRACEPARENT, SpanContext, current_span, record, server_span

ResponseT = TypeVar("ResponseT")

DEFAULT_DEADLINE_SECONDS = 5.0
# gRPC's default reconnect backoff grows towards two minutes while a peer is down, and a call made
# during the backoff fails at once: a restarted peer then stayed unreachable for seconds (a program
# generated then returned before its progress logs existed). Peers here are a hop away: retry fast.
INITIAL_RECONNECT_BACKOFF_MS = 100
MAX_RECONNECT_BACKOFF_MS = 1000
CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    # round_robin: with a headless Service (several addresses per name) calls spread over every
    # replica instead of sticking to the first one resolved.
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.initial_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
    ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
]

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
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._tokens = tokens
        self._deadline = deadline_seconds

    def _metadata(self, span: SpanContext) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self._tokens.token()), (TRACEPARENT, span.traceparent))

    async def call(
        self, method: Callable[..., Awaitable[ResponseT]], request: Any, deadline_seconds: float | None = None
    ) -> ResponseT:
        span, start_ns, code = _client_span(), time.time_ns(), "OK"
        try:
            return await method(request, metadata=self._metadata(span), timeout=deadline_seconds or self._deadline)
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            raise _domain_error(error) from None
        except BaseException:
            code = "CANCELLED"
            raise
        finally:
            record(span, _method_name(method), SPAN_KIND_CLIENT, start_ns, code)

    async def stream(
        self, method: Callable[..., Any], request: Any, deadline_seconds: float | None = None
    ) -> AsyncIterator[Any]:
        """A server-streaming call read message by message. The deadline covers the whole stream;
        a failure at any point (also mid-stream) is raised as a domain error."""
        span, start_ns, code = _client_span(), time.time_ns(), "OK"
        call = method(request, metadata=self._metadata(span), timeout=deadline_seconds or self._deadline)
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            raise _domain_error(error) from None
        except BaseException:
            code = "CANCELLED"
            raise
        finally:
            call.cancel()  # a caller that stops early frees the other side at once
            record(span, _method_name(method), SPAN_KIND_CLIENT, start_ns, code)

    def stored_request_call(self, method: MethodDescriptor) -> grpc.aio.UnaryUnaryMultiCallable:
        """A unary call of `method` that takes its request already serialized (an outbox event's
        stored payload) and sends it as it is: parsing 40 KB only for gRPC to serialize it again
        cost a third of a millisecond per GenerateProgram."""
        return self.channel.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=_as_stored,
            response_deserializer=GetMessageClass(method.output_type).FromString,
        )

    async def close(self) -> None:
        await self.channel.close()


def _as_stored(payload: bytes) -> bytes:
    return payload


def _client_span() -> SpanContext:
    """A child of the current span (the RPC being handled, or the outbox event being delivered);
    a new trace when there is none (a background job's own call)."""
    parent = current_span()
    return parent.child() if parent is not None else server_span(None)


def _method_name(method: Any) -> str:
    """The full method path of a generated stub's multi-callable (`/pkg.Service/Method`)."""
    name = getattr(method, "_method", b"")
    return name.decode() if isinstance(name, bytes) else str(name or "unknown")


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
