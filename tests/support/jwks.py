"""Asymmetric signing keys and a local JWKS endpoint, standing in for Supabase's JWKS.

The server runs in a daemon thread on 127.0.0.1, serves `{"keys": [...]}` at any path ending in
`/.well-known/jwks.json`, and its key set can change while it runs (key rotation tests).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


@dataclass(frozen=True)
class EcKey:
    """An ES256 (P-256) key pair with its key id, as Supabase's asymmetric signing keys are."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str | None = None) -> EcKey:
        return cls(kid=kid or f"test-{uuid.uuid4().hex[:8]}", private_key=ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose keys can be added and removed while it serves."""

    def __init__(self, keys: list[EcKey] | None = None) -> None:
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = [key.public_jwk() for key in keys or []]
        self.fetches = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JWKS_PATH}"

    def add(self, key: EcKey) -> None:
        with self._lock:
            self._keys.append(key.public_jwk())

    def remove(self, kid: str) -> None:
        with self._lock:
            self._keys = [k for k in self._keys if k.get("kid") != kid]

    def document(self) -> bytes:
        with self._lock:
            return json.dumps({"keys": list(self._keys)}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.split("?")[0].endswith("/.well-known/jwks.json"):
                    self.send_error(404)
                    return
                body = owner.document()
                with owner._lock:
                    owner.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler

    def start(self) -> JwksServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="jwks-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> JwksServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
