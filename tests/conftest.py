"""Session-wide fixtures: the three real services on their own test databases, a local JWKS
standing in for Supabase's, and the real Envoy in front of the services."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath_common.auth import ServiceTokenIssuer, mint_user_token
from ironpath_common.settings import DEV_JWT_SECRET, AuthSettings
from tests.support.jwks import EcKey, JwksServer
from tests.support.ports import free_port
from tests.support.services import ServiceStack

JWKS_CACHE_SECONDS = 2


@pytest.fixture(scope="session")
def jwks_key() -> EcKey:
    return EcKey.generate()


@pytest.fixture(scope="session")
def jwks(jwks_key: EcKey) -> Iterator[JwksServer]:
    with JwksServer([jwks_key]) as server:
        yield server


@pytest.fixture(scope="session")
def stack_env(jwks: JwksServer) -> dict[str, str]:
    """Development settings accepting both Supabase key styles: the HS256 secret and the JWKS."""
    return {
        "IRONPATH_ENV": "development",
        "IRONPATH_JWT_SECRET": DEV_JWT_SECRET,
        "IRONPATH_JWKS_URL": jwks.url,
        "IRONPATH_JWKS_CACHE_SECONDS": str(JWKS_CACHE_SECONDS),
        "IRONPATH_WATCH_KEEPALIVE_SECONDS": "1",
        "IRONPATH_GRACE_SECONDS": "1",
        "IRONPATH_BIND_HOST": "127.0.0.1",
    }


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStack]:
    services = ServiceStack(stack_env, tmp_path_factory.mktemp("service-logs"))
    try:
        services.start()
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="session")
def auth(stack: ServiceStack) -> AuthSettings:
    return AuthSettings.from_env(stack.env)


@pytest.fixture(scope="session")
def envoy(stack: ServiceStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProcess]:
    env = {
        **stack.env,
        "IRONPATH_GATEWAY_PORT": str(free_port()),
        "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
        "IRONPATH_ENVOY_METRICS_PORT": str(free_port()),
    }
    settings = GatewaySettings.from_env(env)
    process = EnvoyProcess(settings, base_id=settings.port, log_dir=Path(tmp_path_factory.mktemp("envoy")))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def gateway_address(envoy: EnvoyProcess) -> str:
    return f"127.0.0.1:{envoy.settings.port}"


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def token_for(auth: AuthSettings) -> Callable[[str], list[tuple[str, str]]]:
    """Call metadata carrying a valid user token for the given user id."""

    def metadata(user: str) -> list[tuple[str, str]]:
        return [("authorization", "Bearer " + mint_user_token(auth, user, f"{user[:8]}@example.com"))]

    return metadata


@pytest.fixture(scope="session")
def service_token(auth: AuthSettings) -> Callable[[str], list[tuple[str, str]]]:
    issuers: dict[str, ServiceTokenIssuer] = {}

    def metadata(caller: str = "program") -> list[tuple[str, str]]:
        issuer = issuers.setdefault(caller, ServiceTokenIssuer(auth, caller))
        return [("authorization", "Bearer " + issuer.token())]

    return metadata


@pytest.fixture(scope="session")
def channels(stack: ServiceStack) -> Iterator[dict[str, grpc.Channel]]:
    """One channel straight to each service's own port."""
    opened = {name: grpc.insecure_channel(stack.address(name)) for name in stack.names}
    yield opened
    for channel in opened.values():
        channel.close()


@pytest.fixture(scope="session")
def gateway_channel(gateway_address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway_address) as channel:
        yield channel
