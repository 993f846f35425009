"""gRPC-Web on the wire, for tests without a browser.

A message is a frame: one flag byte (0x00 data, 0x80 trailers), a 4-byte big-endian length, the
payload. Trailers arrive as a last frame of `name:value\\r\\n` lines; a reply Envoy produced itself
(e.g. a rejected token) carries grpc-status in the HTTP headers instead.
"""

from __future__ import annotations

import http.client
import struct
from dataclasses import dataclass, field

CONTENT_TYPE = "application/grpc-web+proto"
DATA_FLAG = 0x00
TRAILERS_FLAG = 0x80


def frame(payload: bytes, flag: int = DATA_FLAG) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


def parse_frames(body: bytes) -> list[tuple[int, bytes]]:
    """Splits a gRPC-Web body into (flag, payload) frames; raises on a truncated frame."""
    frames = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < 5:
            raise ValueError("truncated gRPC-Web frame header")
        flag, length = struct.unpack_from(">BI", body, offset)
        offset += 5
        if len(body) - offset < length:
            raise ValueError("truncated gRPC-Web frame")
        frames.append((flag, body[offset : offset + length]))
        offset += length
    return frames


def parse_trailers(payload: bytes) -> dict[str, str]:
    trailers = {}
    for line in payload.decode("utf-8").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            trailers[name.strip().lower()] = value.strip()
    return trailers


@dataclass
class GrpcWebResponse:
    http_status: int
    headers: dict[str, str]
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def grpc_status(self) -> int | None:
        """From the trailers frame, or from the headers of a trailers-only reply."""
        raw = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return int(raw) if raw is not None else None

    @property
    def grpc_message(self) -> str | None:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message"))


def call(
    host: str,
    port: int,
    path: str,
    request: bytes,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> GrpcWebResponse:
    """One gRPC-Web unary (or server-streaming) call over plain HTTP/1.1; blocking."""
    sent = {"content-type": CONTENT_TYPE, "x-grpc-web": "1", "accept": CONTENT_TYPE, **(headers or {})}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body=frame(request), headers=sent)
        response = connection.getresponse()
        body = response.read()
        result = GrpcWebResponse(response.status, {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()
    if result.headers.get("content-type", "").startswith("application/grpc-web"):
        for flag, payload in parse_frames(body):
            if flag & TRAILERS_FLAG:
                result.trailers.update(parse_trailers(payload))
            else:
                result.messages.append(payload)
    return result


def preflight(
    host: str,
    port: int,
    path: str,
    origin: str,
    request_headers: str = "content-type,x-grpc-web,x-user-agent,authorization",
    timeout: float = 10.0,
) -> tuple[int, dict[str, str]]:
    """A browser's CORS preflight (OPTIONS) for a gRPC-Web POST; returns (HTTP status, headers)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(
            "OPTIONS",
            path,
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": request_headers,
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
