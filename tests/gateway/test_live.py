"""The real Envoy, configured by gateway.config, in front of a grpc.aio upstream.

What a client sees through the gateway: which tokens pass, which statuses come back for the ones
that do not, that internal services are unreachable, and that browsers (CORS, gRPC-Web) work.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.gateway.conftest import FakeUpstream, gateway_env, start_envoy
from tests.support import grpcweb, tokens
from tests.support.jwks import EcKey, JwksServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

GET_PROGRESS = "/ironpath.progress.v1.ProgressService/GetProgramProgress"
INTERNAL_INIT = "/ironpath.progress.v1.ProgressInternalService/InitializeProgramLogs"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def get_progress(channel: grpc.aio.Channel, token: str | None, program_id: str = "p-1", **metadata: str) -> str:
    stub = progress_pb2_grpc.ProgressServiceStub(channel)
    sent = (bearer(token) if token is not None else ()) + tuple(metadata.items())
    response = await stub.GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program_id), metadata=sent, timeout=5
    )
    return response.program_id


async def status_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        await call()  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# --- tokens over native gRPC ------------------------------------------------------------------


async def test_a_valid_hs256_token_reaches_the_upstream_with_the_token_forwarded(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings, upstream: FakeUpstream
) -> None:
    token = tokens.valid_hs256(gateway_settings.auth)
    assert await get_progress(channel, token, "p-42") == "p-42"
    # forward: true — the service verifies the same token again.
    assert upstream.calls[-1].metadata["authorization"] == f"Bearer {token}"


async def test_client_sent_identity_headers_never_reach_the_upstream(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings, upstream: FakeUpstream
) -> None:
    token = tokens.valid_hs256(gateway_settings.auth)
    await get_progress(channel, token, **{"x-user-id": "someone-else", "x-jwt-payload": "e30"})
    assert "x-user-id" not in upstream.calls[-1].metadata
    assert "x-jwt-payload" not in upstream.calls[-1].metadata


async def test_a_missing_token_is_unauthenticated_and_never_reaches_the_upstream(
    channel: grpc.aio.Channel, upstream: FakeUpstream
) -> None:
    before = len(upstream.calls)
    assert await status_of(lambda: get_progress(channel, None)) == grpc.StatusCode.UNAUTHENTICATED
    assert len(upstream.calls) == before


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
async def test_a_bad_token_is_unauthenticated_and_never_reaches_the_upstream(
    case: str,
    channel: grpc.aio.Channel,
    gateway_settings: GatewaySettings,
    signing_key: EcKey,
    upstream: FakeUpstream,
) -> None:
    token = tokens.unauthenticated_tokens(gateway_settings.auth, signing_key)[case]
    before = len(upstream.calls)
    assert await status_of(lambda: get_progress(channel, token)) == grpc.StatusCode.UNAUTHENTICATED
    assert len(upstream.calls) == before


async def test_a_wrong_audience_is_permission_denied_not_unauthenticated(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings, upstream: FakeUpstream
) -> None:
    # What Envoy 1.40 really does: jwt_authn answers a valid token for another audience with HTTP
    # 403, which gRPC maps to PERMISSION_DENIED. (Supabase's anon key has no `authenticated` aud.)
    before = len(upstream.calls)
    token = tokens.wrong_audience(gateway_settings.auth)
    assert await status_of(lambda: get_progress(channel, token)) == grpc.StatusCode.PERMISSION_DENIED
    assert len(upstream.calls) == before


# --- routes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        INTERNAL_INIT,
        # Normalized before routing, so a public prefix cannot smuggle an internal path through.
        "/ironpath.progress.v1.ProgressService/../ironpath.progress.v1.ProgressInternalService/InitializeProgramLogs",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ],
)
async def test_an_unrouted_path_is_unimplemented_and_never_reaches_the_upstream(
    path: str, channel: grpc.aio.Channel, gateway_settings: GatewaySettings, upstream: FakeUpstream
) -> None:
    before = len(upstream.calls)
    call = channel.unary_unary(path)
    token = tokens.valid_hs256(gateway_settings.auth)
    assert await status_of(lambda: call(b"", metadata=bearer(token), timeout=5)) == grpc.StatusCode.UNIMPLEMENTED
    assert len(upstream.calls) == before


async def test_an_internal_path_without_a_token_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(INTERNAL_INIT)
    assert await status_of(lambda: call(b"", timeout=5)) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_server_stream_passes_through(channel: grpc.aio.Channel, gateway_settings: GatewaySettings) -> None:
    stub = progress_pb2_grpc.ProgressServiceStub(channel)
    token = tokens.valid_hs256(gateway_settings.auth)
    stream = stub.WatchProgress(progress_pb2.WatchProgressRequest(program_id="p-1"), metadata=bearer(token), timeout=5)
    events = [event async for event in stream]
    assert len(events) == 3
    assert all(event.HasField("keep_alive") for event in events)


async def test_a_dead_service_fails_fast_as_unavailable(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings
) -> None:
    stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
    token = tokens.valid_hs256(gateway_settings.auth)
    started = time.monotonic()
    code = await status_of(
        lambda: stub.ListCheckIns(feedback_pb2.ListCheckInsRequest(), metadata=bearer(token), timeout=5)
    )
    assert code == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 1.0


async def test_health_needs_no_token(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(
        health_pb2.HealthCheckRequest(service="ironpath.progress.v1.ProgressService"),
        metadata=(("x-ironpath-backend", "progress"),),
        timeout=5,
    )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


# --- asymmetric keys from the JWKS ------------------------------------------------------------


async def test_an_es256_token_from_the_jwks_is_accepted(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings, signing_key: EcKey
) -> None:
    assert await get_progress(channel, tokens.es256(gateway_settings.auth, signing_key), "es") == "es"


async def test_an_es256_token_signed_by_a_key_not_in_the_jwks_is_unauthenticated(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings
) -> None:
    stranger = EcKey.generate("key-1")  # even claiming a known kid
    token = tokens.es256(gateway_settings.auth, stranger)
    assert await status_of(lambda: get_progress(channel, token)) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_key_added_to_the_jwks_is_accepted_within_the_cache_duration(
    channel: grpc.aio.Channel, gateway_settings: GatewaySettings, jwks_server: JwksServer
) -> None:
    new_key = EcKey.generate("key-rotated")
    token = tokens.es256(gateway_settings.auth, new_key)
    assert await status_of(lambda: get_progress(channel, token)) == grpc.StatusCode.UNAUTHENTICATED
    jwks_server.add(new_key)
    try:
        deadline = time.monotonic() + 3 * gateway_settings.auth.jwks_cache_seconds
        code = grpc.StatusCode.UNAUTHENTICATED
        while code != grpc.StatusCode.OK and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            code = await status_of(lambda: get_progress(channel, token))
        assert code == grpc.StatusCode.OK
    finally:
        jwks_server.remove(new_key.kid)


# --- browsers: CORS and gRPC-Web --------------------------------------------------------------

ALLOWED_ORIGIN = "http://localhost:5173"


async def test_a_preflight_from_an_allowed_origin_gets_the_cors_headers(
    gateway: EnvoyProcess, upstream: FakeUpstream
) -> None:
    before = len(upstream.calls)
    status, headers = await asyncio.to_thread(
        grpcweb.preflight, "127.0.0.1", gateway.settings.port, GET_PROGRESS, ALLOWED_ORIGIN
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in headers["access-control-allow-methods"]
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-grpc-web", "x-user-agent", "authorization", "grpc-timeout"} <= allowed
    assert "access-control-allow-credentials" not in headers
    assert len(upstream.calls) == before


async def test_a_preflight_from_another_origin_gets_no_cors_headers(
    gateway: EnvoyProcess, upstream: FakeUpstream
) -> None:
    before = len(upstream.calls)
    status, headers = await asyncio.to_thread(
        grpcweb.preflight, "127.0.0.1", gateway.settings.port, GET_PROGRESS, "https://evil.example.com"
    )
    assert "access-control-allow-origin" not in headers
    assert status != 200  # not answered as a preflight; no token, so jwt_authn refuses it
    assert len(upstream.calls) == before


async def test_a_grpc_web_unary_call_over_http1_works(gateway: EnvoyProcess, gateway_settings: GatewaySettings) -> None:
    request = progress_pb2.GetProgramProgressRequest(program_id="web-1").SerializeToString()
    token = tokens.valid_hs256(gateway_settings.auth)
    response = await asyncio.to_thread(
        grpcweb.call, "127.0.0.1", gateway.settings.port, GET_PROGRESS, request, token, {"origin": ALLOWED_ORIGIN}
    )
    assert response.http_status == 200
    assert response.headers["content-type"].startswith(grpcweb.CONTENT_TYPE)
    assert response.grpc_status == 0
    assert [progress_pb2.GetProgramProgressResponse.FromString(m).program_id for m in response.messages] == ["web-1"]
    # The browser may read the status: exposed to it.
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "grpc-status" in response.headers["access-control-expose-headers"]


async def test_a_bad_token_over_grpc_web_gives_grpc_status_16_in_the_headers(
    gateway: EnvoyProcess, gateway_settings: GatewaySettings
) -> None:
    request = progress_pb2.GetProgramProgressRequest(program_id="web-1").SerializeToString()
    token = tokens.expired(gateway_settings.auth)
    response = await asyncio.to_thread(
        grpcweb.call, "127.0.0.1", gateway.settings.port, GET_PROGRESS, request, token, {"origin": ALLOWED_ORIGIN}
    )
    assert response.http_status == 401
    assert response.headers["grpc-status"] == "16"
    assert response.grpc_message
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


# --- the access log ---------------------------------------------------------------------------


async def test_the_access_log_names_the_grpc_status_and_reason_but_never_the_token(
    channel: grpc.aio.Channel, gateway: EnvoyProcess, gateway_settings: GatewaySettings
) -> None:
    token = tokens.expired(gateway_settings.auth)
    await status_of(lambda: get_progress(channel, token, "logged", **{"x-request-id": "req-logged-1"}))
    assert gateway.access_log_path is not None
    line: dict[str, object] = {}
    deadline = time.monotonic() + 5  # Envoy flushes the stdout log about once a second
    while not line and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        for raw in gateway.access_log_path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(raw)
            if entry.get("request_id") == "req-logged-1":
                line = entry
    assert line, gateway.access_log_path.read_text(encoding="utf-8")[-3000:]
    assert line["path"] == GET_PROGRESS
    assert line["grpc_status"] == "Unauthenticated"
    assert "expired" in str(line["response_code_details"]).lower()
    text = gateway.access_log_path.read_text(encoding="utf-8")
    assert "Bearer" not in text
    assert token.split(".")[2] not in text


# --- rate limit -------------------------------------------------------------------------------


async def test_requests_over_the_rate_limit_are_resource_exhausted(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = GatewaySettings.from_env(gateway_env(upstream.port, IRONPATH_GATEWAY_RATE_LIMIT_RPS="2"))
    envoy = await start_envoy(settings, tmp_path_factory.mktemp("envoy-ratelimit"))
    try:
        token = tokens.valid_hs256(settings.auth)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.port}") as channel:
            codes = [await status_of(lambda: get_progress(channel, token)) for _ in range(4)]
    finally:
        envoy.stop()
    assert codes[0] == grpc.StatusCode.OK
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes


# --- the CLI ------------------------------------------------------------------------------------


async def test_gateway_run_serves_until_sigterm_and_takes_envoy_with_it(upstream: FakeUpstream) -> None:
    env = gateway_env(upstream.port)
    admin = f"http://127.0.0.1:{env['IRONPATH_ENVOY_ADMIN_PORT']}/ready"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "run", cwd=REPO, env={"PATH": "/usr/bin:/bin", **env}
    )
    try:
        deadline = time.monotonic() + 10
        ready = False
        while not ready and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            ready = await asyncio.to_thread(is_live, admin)
        assert ready
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert not await asyncio.to_thread(is_live, admin)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def is_live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.read().strip() == b"LIVE")
    except OSError:
        return False
