"""Reading gRPC errors in tests: the status code and the fields a BadRequest names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def bad_request_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields += [v.field for v in bad_request.field_violations]
    return fields


def expect_error(code: grpc.StatusCode, call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() == code, raised.value.details()
    return raised.value


def expect_invalid(field: str, call: Callable[[], Any]) -> None:
    """INVALID_ARGUMENT whose BadRequest details name `field` (or a field under it)."""
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, call)
    fields = bad_request_fields(error)
    assert any(f == field or f.startswith(field + ".") or f.startswith(field + "[") for f in fields), (field, fields)
