"""The gateway connection: one channel, the public stubs, and gRPC errors turned into `ApiError`
with a sentence and an exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ironpath.feedback.v1 import feedback_pb2_grpc
from ironpath.program.v1 import program_pb2_grpc
from ironpath.progress.v1 import progress_pb2_grpc

DEFAULT_GATEWAY = "127.0.0.1:8080"
DEFAULT_TIMEOUT_SECONDS = 30.0
# The gateway allows a unary call 60 s (GenerateProgram with an external model).
GENERATE_TIMEOUT_SECONDS = 65.0

# Exit codes.
OK = 0
SERVER_ERROR = 1
USAGE = 2
AUTH = 3
NOT_FOUND = 4
UNAVAILABLE = 5

EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: USAGE,
    grpc.StatusCode.OUT_OF_RANGE: USAGE,
    grpc.StatusCode.FAILED_PRECONDITION: USAGE,
    grpc.StatusCode.UNAUTHENTICATED: AUTH,
    grpc.StatusCode.PERMISSION_DENIED: AUTH,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UNAVAILABLE,
}

T = TypeVar("T")


class ApiError(Exception):
    """A call failed; `str()` is what the user reads, `exit_code` what the shell sees."""

    def __init__(self, message: str, exit_code: int, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.code = code


def explain(error: grpc.RpcError, what: str) -> ApiError:
    """One readable sentence for a failed call, with the fields the server named."""
    code: grpc.StatusCode = error.code()
    message = error.details() or ""
    if code is grpc.StatusCode.UNAVAILABLE:
        text = f"{what}: the server is unavailable ({message or 'no answer'}); try again"
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        text = f"{what}: no answer in time; try again"
    elif code is grpc.StatusCode.UNAUTHENTICATED:
        text = f"{what}: not signed in or the token was refused ({message}); run `ironpath login`"
    elif code is grpc.StatusCode.PERMISSION_DENIED:
        text = f"{what}: the token is not for this server ({message}); run `ironpath login`"
    elif code is grpc.StatusCode.UNIMPLEMENTED:
        text = f"{what}: this server does not offer that yet"
    elif code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        text = f"{what}: too many requests; wait a moment and try again"
    elif code is grpc.StatusCode.ABORTED:
        text = f"{what}: it changed since it was read ({message}); run the command again"
    else:
        text = f"{what}: {message or code.name.lower()}"
    fields = _field_violations(error)
    if fields:
        text += "\n" + "\n".join(f"  {field}: {description}" for field, description in fields)
    return ApiError(text, EXIT_CODES.get(code, SERVER_ERROR), code)


def _field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):
        return []
    if status is None:
        return []
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


@dataclass
class Gateway:
    """The public services behind one gateway address, called with the user's token."""

    address: str
    token: str
    tls: bool = False

    def __post_init__(self) -> None:
        if self.tls:
            self.channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials())
        else:
            self.channel = grpc.insecure_channel(self.address)
        self.program = program_pb2_grpc.ProgramServiceStub(self.channel)
        self.account = program_pb2_grpc.AccountServiceStub(self.channel)
        self.progress = progress_pb2_grpc.ProgressServiceStub(self.channel)
        self.feedback = feedback_pb2_grpc.FeedbackServiceStub(self.channel)

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")]

    def call(self, what: str, method: Callable[..., T], request: Any, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> T:
        try:
            return method(request, metadata=self.metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise explain(error, what) from None

    def stream(
        self, what: str, method: Callable[..., Iterator[T]], request: Any, timeout: float = 600.0
    ) -> Iterator[T]:
        try:
            yield from method(request, metadata=self.metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise explain(error, what) from None

    def close(self) -> None:
        self.channel.close()
