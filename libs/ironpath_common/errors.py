"""Domain errors: raised anywhere below the transport, turned into gRPC statuses in one
place (`ironpath_common.interceptors`). Nothing here imports grpc."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a client may see. `code` names a gRPC status code."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """A request field is malformed or out of range; `violations` name each field."""

    code = "INVALID_ARGUMENT"

    def __init__(self, field: str | list[FieldViolation], description: str = "") -> None:
        if isinstance(field, list):
            self.violations = field
        else:
            self.violations = [FieldViolation(field, description)]
        first = self.violations[0]
        super().__init__(f"{first.field}: {first.description}")


class NotFound(DomainError):
    """Missing, or belonging to someone else: the two are indistinguishable on purpose."""

    code = "NOT_FOUND"


class Aborted(DomainError):
    """A concurrent change won (stale etag); read again and retry."""

    code = "ABORTED"


class FailedPrecondition(DomainError):
    code = "FAILED_PRECONDITION"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    """A limit was reached; `retry_after_seconds`, when known, says when to try again."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A dependency (database, another service) cannot be reached; safe to retry."""

    code = "UNAVAILABLE"


class Unimplemented(DomainError):
    code = "UNIMPLEMENTED"
