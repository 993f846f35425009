"""gRPC-Web on the wire, for tests without a browser.

A message is a frame: one flag byte (0x00 data, 0x80 trailers), a 4-byte big-endian length, the
payload. Trailers arrive as a last frame of `name:value\\r\\n` lines; a reply Envoy produced itself
(e.g. a rejected token) carries grpc-status in the HTTP headers instead.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
from collections.abc import Iterator
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


class Stream:
    """A gRPC-Web server stream read as it arrives, so a test can time each message.

    `frames()` yields (flag, payload) one by one; `close()` (from any thread) shuts the
    connection, which ends a `frames()` blocked in another thread."""

    def __init__(self, host: str, port: int, path: str, request: bytes, token: str | None = None) -> None:
        sent = {"content-type": CONTENT_TYPE, "x-grpc-web": "1", "accept": CONTENT_TYPE}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        self._connection = http.client.HTTPConnection(host, port, timeout=30)
        self._connection.request("POST", path, body=frame(request), headers=sent)
        self.response = self._connection.getresponse()

    def frames(self) -> Iterator[tuple[int, bytes]]:
        buffer = b""
        while True:
            try:
                chunk = self.response.read1(65536)
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                return  # closed
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= 5:
                flag, length = struct.unpack_from(">BI", buffer, 0)
                if len(buffer) < 5 + length:
                    break
                yield flag, buffer[5 : 5 + length]
                buffer = buffer[5 + length :]

    def close(self) -> None:
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()
