"""A container HEALTHCHECK through standard gRPC health: `grpc-health-check <service>`.

Asks the service on 127.0.0.1 at its port (`IRONPATH_<NAME>_PORT`, else the default, read like
the service reads it) for the overall health (""); exits 0 on SERVING and 1 otherwise: NOT_SERVING
while its database is unreachable, not listening yet, or no answer within 2 s.
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ironpath_common.settings import SERVICE_PORTS, ConfigError, service_port

TIMEOUT_SECONDS = 2.0


def check(address: str) -> tuple[bool, str]:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            return False, f"{address}: {error.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in SERVICE_PORTS:
        print(f"usage: grpc-health-check {{{','.join(SERVICE_PORTS)}}}", file=sys.stderr)
        return 2
    try:
        port = service_port(argv[1])
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    healthy, line = check(f"127.0.0.1:{port}")
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
