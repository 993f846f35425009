"""Calls between services (ServiceChannel) against a real in-process peer: failures become domain
errors, and a peer that restarts is reachable again within a second."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ironpath_common.auth import ServiceTokenIssuer
from ironpath_common.clients import MAX_RECONNECT_BACKOFF_MS, ServiceChannel
from ironpath_common.errors import NotFound, Unavailable
from ironpath_common.settings import AuthSettings
from tests.support.ports import free_port

AUTH = AuthSettings.from_env({"IRONPATH_ENV": "development"})


async def start_peer(port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def check(channel: ServiceChannel, service: str = "") -> None:
    stub = health_pb2_grpc.HealthStub(channel.channel)
    await channel.call(stub.Check, health_pb2.HealthCheckRequest(service=service), deadline_seconds=2)


async def test_a_peer_status_becomes_the_matching_domain_error():
    port = free_port()
    peer = await start_peer(port)
    channel = ServiceChannel(f"127.0.0.1:{port}", ServiceTokenIssuer(AUTH, "test"))
    try:
        await check(channel)
        with pytest.raises(NotFound):
            await check(channel, "no-such-service")  # the health service answers NOT_FOUND
        await peer.stop(None)
        with pytest.raises(Unavailable):
            await check(channel)
    finally:
        await channel.close()


async def test_a_restarted_peer_is_reachable_within_the_reconnect_cap():
    port = free_port()
    peer = await start_peer(port)
    channel = ServiceChannel(f"127.0.0.1:{port}", ServiceTokenIssuer(AUTH, "test"))
    try:
        await check(channel)
        await peer.stop(None)
        # Down long enough for gRPC's default backoff (1 s growing by 1.6) to wait several seconds
        # after a restart at this point; the channel's cap keeps that under a second.
        await asyncio.sleep(11.5)
        peer = await start_peer(port)
        restarted = time.monotonic()
        while True:
            try:
                await check(channel)
                break
            except Unavailable:
                await asyncio.sleep(0.02)
        assert time.monotonic() - restarted < MAX_RECONNECT_BACKOFF_MS * 1.2 / 1000 + 0.2
    finally:
        await channel.close()
        await peer.stop(None)
