"""The one server interceptor every service runs: request id and trace context, authentication,
per-user rate limits on mutating RPCs, errors turned into gRPC statuses (the only place that
happens), and per RPC one log line, its metrics and (when exporting) its span."""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import sqlalchemy.exc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ironpath_common.auth import ServiceCaller, ServiceTokenVerifier, User, UserTokenVerifier
from ironpath_common.errors import (
    DomainError,
    InvalidArgument,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from ironpath_common.logging import method_var, request_id_var
from ironpath_common.metrics import SERVER_STREAM, UNARY, ServiceMetrics
from ironpath_common.ratelimit import RateLimiter
from ironpath_common.tracing import SPAN_KIND_SERVER, TRACEPARENT, SpanContext, record, server_span, set_current

logger = logging.getLogger("ironpath.rpc")

_caller_var: contextvars.ContextVar[User | ServiceCaller | None] = contextvars.ContextVar("caller", default=None)


class Auth(enum.Enum):
    """Who may call a gRPC service."""

    USER = "user"  # a verified user token (Supabase)
    SERVICE = "service"  # a verified internal service token
    NONE = "none"  # health and reflection


def current_user() -> User:
    caller = _caller_var.get()
    if not isinstance(caller, User):
        raise Unauthenticated("a user token is required")
    return caller


def current_service() -> ServiceCaller:
    caller = _caller_var.get()
    if not isinstance(caller, ServiceCaller):
        raise Unauthenticated("a service token is required")
    return caller


# Failures of a dependency rather than of the request: the client may retry.
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


def to_status(error: DomainError) -> grpc.Status:
    detail = status_pb2.Status(code=getattr(code_pb2, error.code), message=error.message)
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        detail.details.append(packed)
    if isinstance(error, ResourceExhausted) and error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        detail.details.append(packed)
    return rpc_status.to_status(detail)


def _bearer(metadata: Mapping[str, str]) -> str:
    value = metadata.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer token")
    return token.strip()


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        policies: Mapping[str, Auth],
        users: UserTokenVerifier,
        services: ServiceTokenVerifier,
        rate_limiter: RateLimiter | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._policies = dict(policies)
        self._users = users
        self._services = services
        self._rate_limiter = rate_limiter
        self._metrics = metrics
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        policy = self._policies.get(method.split("/")[1], Auth.USER)
        wrapped = self._wrap(handler, method, policy)
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, handler: Any, method: str, policy: Auth) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, method, policy))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._wrap_stream(handler.unary_stream, method, policy))
        return handler  # client-streaming RPCs: reflection only, which needs no auth

    async def _authenticate(self, context: grpc.aio.ServicerContext, policy: Auth) -> None:
        if policy is Auth.NONE:
            return
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        token = _bearer(metadata)
        if policy is Auth.SERVICE:
            _caller_var.set(self._services.verify(token))
        else:
            _caller_var.set(await self._users.verify(token))

    def _limit(self, request: Any, method: str, policy: Auth) -> None:
        """A user's mutating call takes a token from their bucket for this service. A request
        is mutating when its message has a `request_id` field (the contracts' rule), so no
        list of methods is kept; reads and service-to-service calls are never limited."""
        limiter = self._rate_limiter
        if limiter is None or policy is not Auth.USER or "request_id" not in request.DESCRIPTOR.fields_by_name:
            return
        caller = _caller_var.get()
        assert isinstance(caller, User)  # authenticated just before
        wait = limiter.acquire(caller.user_id, method.split("/")[1])
        if wait > 0:
            raise ResourceExhausted("too many changes in a short time; slow down and retry", wait)

    def _begin(self, context: grpc.aio.ServicerContext, method: str, grpc_type: str) -> SpanContext:
        request_id = traceparent = ""
        for key, value in context.invocation_metadata() or ():
            if key == "x-request-id" and isinstance(value, str):
                request_id = value[:64]
            elif key == TRACEPARENT and isinstance(value, str):
                traceparent = value
        request_id = request_id or uuid.uuid4().hex
        request_id_var.set(request_id)
        method_var.set(method)
        _caller_var.set(None)
        span = server_span(traceparent, request_id)
        set_current(span)
        if self._metrics is not None:
            self._metrics.rpc_started(grpc_type, method)
        return span

    def _finish(
        self, method: str, grpc_type: str, policy: Auth, code: str, start: float, start_ns: int, span: SpanContext
    ) -> None:
        seconds = time.perf_counter() - start
        _log_rpc(code, seconds, policy)
        if self._metrics is not None:
            self._metrics.rpc_handled(grpc_type, method, code, seconds)
        if policy is not Auth.NONE:  # health checks and reflection are not worth a span
            record(span, method, SPAN_KIND_SERVER, start_ns, code)

    def _wrap_unary(self, behavior: Any, method: str, policy: Auth) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start, start_ns = time.perf_counter(), time.time_ns()
            span = self._begin(context, method, UNARY)
            code = "OK"
            try:
                await self._authenticate(context, policy)
                self._limit(request, method, policy)
                return await behavior(request, context)
            except BaseException as error:  # every failure is mapped and logged once
                code = "CANCELLED"  # kept if the error propagates unmapped
                domain = _domain_error(error)
                code = domain.code
                await context.abort_with_status(to_status(domain))
            finally:
                self._finish(method, UNARY, policy, code, start, start_ns, span)

        return unary

    def _wrap_stream(self, behavior: Any, method: str, policy: Auth) -> Any:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            start, start_ns = time.perf_counter(), time.time_ns()
            span = self._begin(context, method, SERVER_STREAM)
            code = "OK"
            try:
                await self._authenticate(context, policy)
                self._limit(request, method, policy)
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                code = "CANCELLED"  # kept if the error propagates unmapped
                domain = _domain_error(error)
                code = domain.code
                await context.abort_with_status(to_status(domain))
            finally:
                self._finish(method, SERVER_STREAM, policy, code, start, start_ns, span)

        return stream


def _domain_error(error: BaseException) -> DomainError:
    """The status a failure becomes; cancellations and aborts propagate unchanged."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit | grpc.aio.AbortError):
        raise error
    if isinstance(error, DomainError):
        return error
    if isinstance(error, NotImplementedError):
        # The generated servicer base raises this for RPCs a later issue builds.
        return Unimplemented("not implemented yet")
    if isinstance(error, _UNAVAILABLE_ERRORS):
        logger.warning("dependency unavailable: %s", type(error).__name__)
        return Unavailable("a dependency is unavailable; retry later")
    logger.error("unhandled error", exc_info=error)
    return DomainError("internal error")


def _log_rpc(code: str, seconds: float, policy: Auth) -> None:
    # Health checks arrive every few seconds from every prober: keep them out of the info log.
    level = logging.DEBUG if policy is Auth.NONE and code == "OK" else logging.INFO
    logger.log(level, "rpc", extra={"status": code, "duration_ms": round(seconds * 1000, 3)})
