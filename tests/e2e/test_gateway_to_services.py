"""Through the real Envoy to the real services: native gRPC and gRPC-Web, tokens checked at
the gateway, internal services never routed."""

from __future__ import annotations

import uuid

import grpc
import pytest

from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.support import grpcweb, tokens
from tests.support.jwks import EcKey
from tests.support.rpc import expect_error


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_native_grpc_through_envoy_reaches_the_program_service(gateway_channel, auth):
    user_id = str(uuid.uuid4())
    me = program_pb2_grpc.ProgramServiceStub(gateway_channel).GetMe(
        program_pb2.GetMeRequest(), metadata=bearer(tokens.valid_hs256(auth, user_id)), timeout=5
    )
    assert me.user.user_id == user_id


def test_native_grpc_through_envoy_reaches_the_progress_service(gateway_channel, auth):
    reply = progress_pb2_grpc.ProgressServiceStub(gateway_channel).ListSessionLogs(
        progress_pb2.ListSessionLogsRequest(), metadata=bearer(tokens.valid_hs256(auth)), timeout=5
    )
    assert list(reply.logs) == []


def test_native_grpc_through_envoy_reaches_the_feedback_service(gateway_channel, auth):
    reply = feedback_pb2_grpc.FeedbackServiceStub(gateway_channel).ListCheckIns(
        feedback_pb2.ListCheckInsRequest(), metadata=bearer(tokens.valid_hs256(auth)), timeout=5
    )
    assert list(reply.check_ins) == []


def test_an_es256_token_from_the_jwks_passes_envoy_and_the_service(gateway_channel, auth, jwks_key):
    user_id = str(uuid.uuid4())
    stub = program_pb2_grpc.ProgramServiceStub(gateway_channel)
    me = stub.GetMe(program_pb2.GetMeRequest(), metadata=bearer(tokens.es256(auth, jwks_key, user_id)), timeout=5)
    assert me.user.user_id == user_id
    expect_error(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: stub.GetMe(
            program_pb2.GetMeRequest(), metadata=bearer(tokens.es256(auth, EcKey.generate())), timeout=5
        ),
    )


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong_signature",
        "wrong_issuer",
        "no_expiration",
        "alg_none",
        "alg_none_with_signature",
        "hs_rs_confused",
        "garbage",
    ],
)
def test_bad_tokens_are_stopped_at_envoy(case, gateway_channel, auth, jwks_key):
    token = tokens.unauthenticated_tokens(auth, jwks_key)[case]
    expect_error(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: program_pb2_grpc.ProgramServiceStub(gateway_channel).GetMe(
            program_pb2.GetMeRequest(), metadata=bearer(token), timeout=5
        ),
    )


def test_a_missing_token_is_unauthenticated_and_a_wrong_audience_is_denied_at_envoy(gateway_channel, auth):
    stub = program_pb2_grpc.ProgramServiceStub(gateway_channel)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, lambda: stub.GetMe(program_pb2.GetMeRequest(), timeout=5))
    expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        lambda: stub.GetMe(program_pb2.GetMeRequest(), metadata=bearer(tokens.wrong_audience(auth)), timeout=5),
    )


def test_internal_services_are_not_routed_even_with_a_service_token(gateway_channel, channels, service_token, auth):
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    request = progress_pb2.InitializeProgramLogsRequest(
        event_id=str(uuid.uuid4()),
        user_id=user_id,
        program_id=program_id,
        sessions=[t.PlannedSession(week_number=1, day_number=1, title="x")],
    )
    stub = progress_pb2_grpc.ProgressInternalServiceStub(gateway_channel)
    # A user token passes jwt_authn and finds no route; a service token is not a Supabase token at all.
    expect_error(
        grpc.StatusCode.UNIMPLEMENTED,
        lambda: stub.InitializeProgramLogs(request, metadata=bearer(tokens.valid_hs256(auth)), timeout=5),
    )
    expect_error(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: stub.InitializeProgramLogs(request, metadata=service_token("program"), timeout=5),
    )
    # Nothing reached the service: the program has no logs.
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: progress_pb2_grpc.ProgressServiceStub(channels["progress"]).GetProgramProgress(
            progress_pb2.GetProgramProgressRequest(program_id=program_id),
            metadata=bearer(tokens.valid_hs256(auth, user_id)),
        ),
    )


def test_grpc_web_unary_call_through_envoy(envoy, auth):
    user_id = str(uuid.uuid4())
    reply = grpcweb.call(
        "127.0.0.1",
        envoy.settings.port,
        "/ironpath.program.v1.ProgramService/GetMe",
        program_pb2.GetMeRequest().SerializeToString(),
        token=tokens.valid_hs256(auth, user_id),
        headers={"origin": "http://localhost:5173"},
    )
    assert reply.http_status == 200 and reply.grpc_status == 0
    assert program_pb2.GetMeResponse.FromString(reply.messages[0]).user.user_id == user_id
    assert reply.headers.get("access-control-allow-origin") == "http://localhost:5173"


def test_grpc_web_with_a_bad_token_gets_a_status_the_browser_can_read(envoy, auth):
    reply = grpcweb.call(
        "127.0.0.1",
        envoy.settings.port,
        "/ironpath.program.v1.ProgramService/GetMe",
        program_pb2.GetMeRequest().SerializeToString(),
        token=tokens.expired(auth),
    )
    assert reply.grpc_status == grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_a_browser_preflight_is_answered_for_an_allowed_origin_only(envoy):
    path = "/ironpath.program.v1.ProgramService/GetMe"
    status, headers = grpcweb.preflight("127.0.0.1", envoy.settings.port, path, "http://localhost:5173")
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "authorization" in headers["access-control-allow-headers"].lower()
    _, refused = grpcweb.preflight("127.0.0.1", envoy.settings.port, path, "https://evil.example.com")
    assert "access-control-allow-origin" not in refused
