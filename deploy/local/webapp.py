"""A tiny static server for the built web app (web/dist) and its runtime config.json.

`make run` starts one in a thread next to Envoy; the browser tests start one per test module.
The app talks only to the gateway: config.json tells it where that is, so the same build works
behind any gateway. Routes live in the URL's hash, so every path the browser asks for is a file.
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = REPO_ROOT / "web" / "dist"
DEFAULT_WEB_PORT = 8081


def web_config(
    gateway_url: str, *, supabase_url: str = "", supabase_anon_key: str = "", dev_tokens: bool = True
) -> dict[str, Any]:
    """What the app reads from config.json (web/src/config.ts)."""
    return {
        "gatewayUrl": gateway_url,
        "supabaseUrl": supabase_url,
        "supabaseAnonKey": supabase_anon_key,
        "allowDevTokens": dev_tokens,
    }


class _Handler(SimpleHTTPRequestHandler):
    config_body: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].endswith("/config.json"):
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config_body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config_body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        path = self.path.split("?", 1)[0]
        # Hashed assets never change; everything else is checked again on each load.
        self.send_header("Cache-Control", "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebServer:
    """Serves `dist` and a generated config.json on host:port until `stop`."""

    def __init__(
        self, dist: Path, config: dict[str, Any], host: str = "127.0.0.1", port: int = DEFAULT_WEB_PORT
    ) -> None:
        if not (dist / "index.html").is_file():
            raise FileNotFoundError(f"{dist}/index.html: build the web app first (cd web && npm ci && npm run build)")
        self.host = host
        handler = type("Handler", (_Handler,), {"config_body": json.dumps(config).encode()})
        self._server = ThreadingHTTPServer((host, port), partial(handler, directory=str(dist)))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
