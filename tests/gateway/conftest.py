"""A real Envoy in front of a small grpc.aio upstream, a local JWKS, and the settings tying them.

The upstream serves the public ProgressService (two methods overridden) and, on purpose, the
internal ProgressInternalService too: if Envoy ever routed an internal path, the call would land.
The feedback cluster points at a port nothing listens on (a dead service).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.config import PUBLIC_SERVICES, GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.support.jwks import EcKey, JwksServer
from tests.support.ports import free_port

JWT_SECRET = "gateway-test-hs256-secret-" + "s" * 24
JWKS_CACHE_SECONDS = 2


@dataclass
class Call:
    method: str
    metadata: dict[str, str]


@dataclass
class FakeUpstream:
    port: int
    calls: list[Call] = field(default_factory=list)

    def record(self, method: str, context: grpc.aio.ServicerContext) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        self.calls.append(Call(method, metadata))

    def methods_called(self) -> list[str]:
        return [call.method for call in self.calls]


class FakeProgress(progress_pb2_grpc.ProgressServiceServicer):
    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream

    async def GetProgramProgress(
        self, request: progress_pb2.GetProgramProgressRequest, context: grpc.aio.ServicerContext
    ) -> progress_pb2.GetProgramProgressResponse:
        self.upstream.record("GetProgramProgress", context)
        return progress_pb2.GetProgramProgressResponse(program_id=request.program_id)

    async def WatchProgress(
        self, request: progress_pb2.WatchProgressRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[progress_pb2.WatchProgressResponse]:
        self.upstream.record("WatchProgress", context)
        for _ in range(3):
            yield progress_pb2.WatchProgressResponse(keep_alive=progress_pb2.KeepAlive())
            await asyncio.sleep(0.05)


class FakeProgressInternal(progress_pb2_grpc.ProgressInternalServiceServicer):
    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream

    async def InitializeProgramLogs(
        self, request: progress_pb2.InitializeProgramLogsRequest, context: grpc.aio.ServicerContext
    ) -> progress_pb2.InitializeProgramLogsResponse:
        self.upstream.record("InitializeProgramLogs", context)
        return progress_pb2.InitializeProgramLogsResponse()


class RecordUnknownMethods(grpc.GenericRpcHandler):
    """Last in line: records any path no service claimed (then UNIMPLEMENTED), so a path Envoy
    should never have forwarded is caught even when the upstream cannot serve it."""

    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> None:
        self.upstream.calls.append(Call(f"unknown:{handler_call_details.method}", {}))


@pytest.fixture(scope="session")
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream(port=free_port())
    server = grpc.aio.server()
    progress_pb2_grpc.add_ProgressServiceServicer_to_server(FakeProgress(fake), server)
    progress_pb2_grpc.add_ProgressInternalServiceServicer_to_server(FakeProgressInternal(fake), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # Envoy's health checks ask for the first public service of each cluster by name.
    for name in ["", *(s.full_name for services in PUBLIC_SERVICES.values() for s in services)]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    server.add_generic_rpc_handlers((RecordUnknownMethods(fake),))
    server.add_insecure_port(f"127.0.0.1:{fake.port}")
    await server.start()
    yield fake
    await server.stop(grace=None)


@pytest.fixture(scope="session")
def signing_key() -> EcKey:
    return EcKey.generate("key-1")


@pytest.fixture(scope="session")
def jwks_server(signing_key: EcKey) -> Iterator[JwksServer]:
    with JwksServer([signing_key]) as server:
        yield server


def gateway_env(upstream_port: int, jwks_url: str | None = None, **extra: str) -> dict[str, str]:
    """Development settings with both token sources, every listener on loopback and free ports."""
    env = {
        "IRONPATH_ENV": "development",
        "IRONPATH_JWT_SECRET": JWT_SECRET,
        "IRONPATH_BIND_HOST": "127.0.0.1",
        "IRONPATH_GATEWAY_PORT": str(free_port()),
        "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
        "IRONPATH_JWKS_CACHE_SECONDS": str(JWKS_CACHE_SECONDS),
        "IRONPATH_PROGRAM_ADDR": f"127.0.0.1:{upstream_port}",
        "IRONPATH_PROGRESS_ADDR": f"127.0.0.1:{upstream_port}",
        "IRONPATH_FEEDBACK_ADDR": f"127.0.0.1:{free_port()}",  # nothing listens there
    }
    if jwks_url is not None:
        env["IRONPATH_JWKS_URL"] = jwks_url
    return {**env, **extra}


async def start_envoy(settings: GatewaySettings, log_dir: Path) -> EnvoyProcess:
    # Off the event loop: while Envoy starts, its first health checks need the aio upstream to answer.
    envoy = EnvoyProcess(settings, base_id=settings.port, log_dir=log_dir)
    await asyncio.to_thread(envoy.start)
    return envoy


@pytest.fixture(scope="session")
def gateway_settings(upstream: FakeUpstream, jwks_server: JwksServer) -> GatewaySettings:
    return GatewaySettings.from_env(gateway_env(upstream.port, jwks_server.url))


@pytest.fixture(scope="session")
async def gateway(
    gateway_settings: GatewaySettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EnvoyProcess]:
    envoy = await start_envoy(gateway_settings, tmp_path_factory.mktemp("envoy"))
    yield envoy
    envoy.stop()


@pytest.fixture
async def channel(gateway: EnvoyProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.settings.port}") as channel:
        yield channel
