"""The Envoy gateway's settings and the bootstrap config built from them.

`render` builds the whole Envoy bootstrap as Python data (no string templating, since
Envoy does not expand variables itself); `write_config` writes it as JSON, which
Envoy reads like YAML. The routes come from the generated protobuf descriptors, so a
public RPC added to a contract is routed with the right timeout and retry policy, and
the internal services are never named here at all.

Why each part looks the way it does is in /work/shared/GATEWAY-NOTES.md (found by
running Envoy 1.40 for real).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from ironpath.feedback.v1 import feedback_pb2
from ironpath.program.v1 import program_pb2
from ironpath.progress.v1 import progress_pb2
from ironpath_common.settings import AuthSettings, ConfigError, service_address

Config = dict[str, Any]

# Public gRPC services by upstream (cluster) name. Internal services live on their own
# gRPC service and are deliberately absent: with exact service prefixes they match no route.
PUBLIC_SERVICES: dict[str, tuple[ServiceDescriptor, ...]] = {
    "program": (
        program_pb2.DESCRIPTOR.services_by_name["ProgramService"],
        program_pb2.DESCRIPTOR.services_by_name["AccountService"],
    ),
    "progress": (progress_pb2.DESCRIPTOR.services_by_name["ProgressService"],),
    "feedback": (feedback_pb2.DESCRIPTOR.services_by_name["FeedbackService"],),
}

HEALTH_PREFIX = "/grpc.health.v1.Health/"
# The one admin path the metrics listener forwards; the rest of the admin interface stays on loopback.
PROMETHEUS_PATH = "/stats/prometheus"
ADMIN_CLUSTER = "envoy_admin"
HS256_PROVIDER = "supabase_hs256"
JWKS_PROVIDER = "supabase_jwks"
JWKS_CLUSTER = "jwks"

# Client-sent copies of headers a service might one day trust as identity; Envoy strips the
# jwt_authn output headers it configures itself, this list covers the rest.
IDENTITY_HEADERS = ("x-user-id", "x-user-email", "x-jwt-payload", "x-jwt-claims", "x-ironpath-user", "x-forwarded-user")

CORS_ALLOW_HEADERS = (
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
    "x-request-id",
    "traceparent",
)
CORS_EXPOSE_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin")
CORS_MAX_AGE_SECONDS = 600

DEV_CORS_ORIGINS = (
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:8081",
    "http://127.0.0.1:8081",
)

# Unary calls: long enough for GenerateProgram with an external model, short enough that a hung
# upstream frees the client. A client's own grpc-timeout, when shorter, applies instead.
UNARY_TIMEOUT_SECONDS = 60
# Server streams: no route timeout (it would cover the whole stream) but a hard cap; a cut stream
# reaches the client as INTERNAL and clients reconnect.
STREAM_MAX_SECONDS = 3600
# Above the services' ~15 s keep-alive messages on long streams, with room for a slow client.
STREAM_IDLE_TIMEOUT_SECONDS = 300

# Retries. Reads (Get*/List*/Watch*) may also retry on UNAVAILABLE: nothing changed, so a second
# replica (or the same one a moment later) can answer. Writes retry only when the request cannot
# have reached the service: `reset-before-request` rather than `reset`, because a reset after the
# request was sent may come from a service that already committed it. (Mutations are idempotent by
# request_id anyway; this keeps Envoy from relying on it.) A stream is never retried after its
# first message, whatever the policy says.
READ_METHOD_PREFIXES = ("Get", "List", "Watch")
WRITE_RETRY_ON = "connect-failure,refused-stream,reset-before-request"
READ_RETRY_ON = "reset,connect-failure,refused-stream,unavailable"
NUM_RETRIES = 2

DEFAULT_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, BSD
)


@dataclass(frozen=True)
class Upstream:
    """One backend service process group: an Envoy cluster with one endpoint per replica."""

    name: str
    addresses: tuple[str, ...]

    @property
    def services(self) -> tuple[ServiceDescriptor, ...]:
        return PUBLIC_SERVICES[self.name]


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway's Envoy config depends on, read once from the environment."""

    auth: AuthSettings
    listen_host: str
    port: int
    admin_port: int
    # Serves only the admin's /stats/prometheus, on the listen host, for Prometheus. 0 (the default
    # here, so any number of Envoys can share a host in tests): none; make run and the manifests: 9150.
    metrics_port: int
    cors_origins: tuple[str, ...]
    upstreams: tuple[Upstream, ...]
    rate_limit_rps: int
    # Trust roots for an https JWKS URL; Envoy verifies nothing without them.
    jwks_ca_file: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        auth = AuthSettings.from_env(_with_service_secret(env))  # JWT settings and the dev-secret refusal
        settings = cls(
            auth=auth,
            # The public entry point: all interfaces unless told otherwise (tests use loopback).
            listen_host=env.get("IRONPATH_BIND_HOST") or "0.0.0.0",  # noqa: S104
            port=_port(env, "IRONPATH_GATEWAY_PORT", 8080),
            admin_port=_port(env, "IRONPATH_ENVOY_ADMIN_PORT", 9901),
            metrics_port=_int(env, "IRONPATH_ENVOY_METRICS_PORT", 0),
            cors_origins=_cors_origins(env, auth.is_development),
            upstreams=tuple(Upstream(name, _addresses(name, env)) for name in PUBLIC_SERVICES),
            rate_limit_rps=_int(env, "IRONPATH_GATEWAY_RATE_LIMIT_RPS", 200),
            jwks_ca_file=env.get("IRONPATH_JWKS_CA_FILE") or _default_ca_file(),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        if self.rate_limit_rps < 1:
            raise ConfigError("IRONPATH_GATEWAY_RATE_LIMIT_RPS must be at least 1")
        if self.auth.jwks_cache_seconds < 1:
            raise ConfigError("IRONPATH_JWKS_CACHE_SECONDS must be at least 1")
        if self.port == self.admin_port:
            raise ConfigError("IRONPATH_GATEWAY_PORT and IRONPATH_ENVOY_ADMIN_PORT must differ")
        if self.metrics_port and not 0 < self.metrics_port < 65536:
            raise ConfigError(f"IRONPATH_ENVOY_METRICS_PORT must be a TCP port or 0, got {self.metrics_port}")
        if self.metrics_port in (self.port, self.admin_port):
            raise ConfigError("IRONPATH_ENVOY_METRICS_PORT must differ from the gateway and admin ports")
        if self.auth.jwks_url is not None:
            _check_jwks_url(self.auth.jwks_url, self.auth.is_development)


def _with_service_secret(env: Mapping[str, str]) -> Mapping[str, str]:
    """The gateway never signs or verifies service tokens, so a deployment need not give it that
    secret (and should not: then nothing at the edge can mint one). The shared settings check
    requires one outside development; a throwaway stand-in satisfies it and is used nowhere."""
    if env.get("IRONPATH_SERVICE_TOKEN_SECRET"):
        return env
    return {**env, "IRONPATH_SERVICE_TOKEN_SECRET": secrets.token_urlsafe(48)}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default)
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be a TCP port, got {port}")
    return port


def _cors_origins(env: Mapping[str, str], development: bool) -> tuple[str, ...]:
    """Exact browser origins; outside development none unless configured (native gRPC needs none)."""
    raw = env.get("IRONPATH_CORS_ORIGINS")
    if raw is None:
        return DEV_CORS_ORIGINS if development else ()
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ConfigError(f"IRONPATH_CORS_ORIGINS takes exact origins like https://app.example.com, got {origin!r}")
    return origins


def _addresses(name: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """`IRONPATH_<NAME>_ADDRS` (replicas, comma-separated) overrides the single `_ADDR`."""
    raw = env.get(f"IRONPATH_{name.upper()}_ADDRS")
    addresses = [a.strip() for a in raw.split(",") if a.strip()] if raw else [service_address(name, env)]
    for address in addresses:
        _split_address(address, f"IRONPATH_{name.upper()}_ADDRS")
    return tuple(addresses)


def _split_address(address: str, source: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{source} takes host:port addresses, got {address!r}")
    return host, int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


def _check_jwks_url(url: str, development: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"IRONPATH_JWKS_URL must be an http(s) URL, got {url!r}")
    # Keys fetched over plain HTTP from another host could be swapped on the way: refuse that
    # unless it is a local test server or development.
    if parts.scheme == "http" and not development and not _is_loopback(parts.hostname):
        raise ConfigError("IRONPATH_JWKS_URL must use https outside development")


def _default_ca_file() -> str:
    for candidate in DEFAULT_CA_FILES:
        if Path(candidate).is_file():
            return candidate
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return DEFAULT_CA_FILES[0]
    return str(certifi.where())


# ---------------------------------------------------------------------------------------------
# The bootstrap


def render(settings: GatewaySettings) -> Config:
    """The complete Envoy bootstrap for these settings."""
    clusters = [_service_cluster(upstream) for upstream in settings.upstreams]
    if settings.auth.jwks_url is not None:
        clusters.append(_jwks_cluster(settings.auth.jwks_url, settings.jwks_ca_file))
    listeners = [_listener(settings)]
    if settings.metrics_port:
        listeners.append(_metrics_listener(settings))
        clusters.append(_admin_cluster(settings.admin_port))
    return {
        "node": {"id": "ironpath-gateway", "cluster": "ironpath-gateway"},
        # No auth on the admin interface: loopback only.
        "admin": {"address": _socket("127.0.0.1", settings.admin_port)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/"
                        "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50000,
                    },
                }
            ]
        },
    }


def write_config(settings: GatewaySettings, path: str | Path) -> Path:
    """Writes the bootstrap as JSON (Envoy reads JSON and YAML alike) and returns the path."""
    path = Path(path)
    path.write_text(json.dumps(render(settings), indent=2) + "\n", encoding="utf-8")
    return path


def _socket(host: str, port: int) -> Config:
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _listener(settings: GatewaySettings) -> Config:
    return {
        "name": "ironpath_gateway",
        "address": _socket(settings.listen_host, settings.port),
        "per_connection_buffer_limit_bytes": 32768,
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": _http_connection_manager(settings),
                    }
                ]
            }
        ],
    }


def _http_connection_manager(settings: GatewaySettings) -> Config:
    return {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ironpath_gateway",
        # AUTO: HTTP/1.1 for gRPC-Web from browsers and h2c (prior knowledge) for native gRPC, one port.
        "codec_type": "AUTO",
        # The public edge: trust no client-sent X-Forwarded-For, but keep a client's x-request-id so
        # a browser's id can be found in the logs of every hop.
        "use_remote_address": True,
        "preserve_external_request_id": True,
        # Routing sees the path a service would; `/Svc/../InternalSvc/M` cannot slip past a prefix.
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "stream_idle_timeout": _duration(STREAM_IDLE_TIMEOUT_SECONDS),
        "request_headers_timeout": "10s",
        "common_http_protocol_options": {"idle_timeout": "3600s", "headers_with_underscores_action": "REJECT_REQUEST"},
        "http2_protocol_options": {
            "max_concurrent_streams": 100,
            "initial_stream_window_size": 65536,
            "initial_connection_window_size": 1048576,
        },
        "access_log": [_access_log()],
        "route_config": _route_config(settings),
        "http_filters": _http_filters(settings),
    }


def _metrics_listener(settings: GatewaySettings) -> Config:
    """Prometheus scrapes the gateway here: GET /stats/prometheus is forwarded to the loopback
    admin interface and every other path answers 404, so nothing that changes Envoy (or lists
    its config) is reachable off the pod."""
    manager = {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ironpath_metrics",
        "codec_type": "AUTO",
        "route_config": {
            "name": "metrics",
            "virtual_hosts": [
                {
                    "name": "metrics",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"path": PROMETHEUS_PATH, "headers": [_method_is("GET")]},
                            "route": {"cluster": ADMIN_CLUSTER, "timeout": "10s"},
                        },
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                    ],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    return {
        "name": "ironpath_metrics",
        "address": _socket(settings.listen_host, settings.metrics_port),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager},
                ]
            }
        ],
    }


def _method_is(method: str) -> Config:
    return {"name": ":method", "string_match": {"exact": method}}


def _admin_cluster(admin_port: int) -> Config:
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket("127.0.0.1", admin_port)}}]}],
        },
    }


def _access_log() -> Config:
    """One JSON line per request on stdout. Never the Authorization header or any other header value
    that could carry a credential."""
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {
                "json_format": {
                    "time": "%START_TIME%",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    # The caller's W3C trace context, when it sent one (else the services start the
                    # trace, with this request id as its trace id).
                    "traceparent": "%REQ(TRACEPARENT)%",
                    "method": "%REQ(:METHOD)%",
                    "path": "%REQ(:PATH)%",
                    "protocol": "%PROTOCOL%",
                    "content_type": "%REQ(CONTENT-TYPE)%",
                    "response_code": "%RESPONSE_CODE%",
                    # Native gRPC errors are HTTP 200: the gRPC status and the details (e.g.
                    # Jwt_is_expired) are what alerting has to look at.
                    "grpc_status": "%GRPC_STATUS%",
                    "response_code_details": "%RESPONSE_CODE_DETAILS%",
                    "response_flags": "%RESPONSE_FLAGS%",
                    "duration_ms": "%DURATION%",
                    "upstream_cluster": "%UPSTREAM_CLUSTER%",
                    "upstream_host": "%UPSTREAM_HOST%",
                    "bytes_received": "%BYTES_RECEIVED%",
                    "bytes_sent": "%BYTES_SENT%",
                    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                    "user_agent": "%REQ(USER-AGENT)%",
                }
            },
        },
    }


def _http_filters(settings: GatewaySettings) -> list[Config]:
    # The order matters (GATEWAY-NOTES): cors first so preflights are answered and even error
    # replies carry CORS headers; grpc_web before jwt_authn so a gRPC-Web client gets a decodable
    # grpc-status 16 instead of a bare text/plain 401.
    return [
        {
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {"request_mutations": [{"remove": name} for name in IDENTITY_HEADERS]},
            },
        },
        {
            "name": "envoy.filters.http.cors",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"},
        },
        {
            "name": "envoy.filters.http.grpc_web",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"},
        },
        {"name": "envoy.filters.http.local_ratelimit", "typed_config": _local_rate_limit(settings.rate_limit_rps)},
        {"name": "envoy.filters.http.jwt_authn", "typed_config": _jwt_authn(settings.auth)},
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        },
    ]


def _local_rate_limit(rps: int) -> Config:
    """One token bucket per Envoy process (not per client): a backstop for the services, not fairness."""
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": "gateway_rate_limit",
        "token_bucket": {"max_tokens": rps, "tokens_per_fill": rps, "fill_interval": "1s"},
        "filter_enabled": {**always, "runtime_key": "gateway_rate_limit_enabled"},
        "filter_enforced": {**always, "runtime_key": "gateway_rate_limit_enforced"},
        "rate_limited_as_resource_exhausted": True,
    }


# ---------------------------------------------------------------------------------------------
# Authentication


def hs256_jwk(secret: str) -> Config:
    """Supabase's legacy HS256 secret as the JWK Envoy wants: `k` is base64url of the secret's
    UTF-8 bytes without padding (the raw secret validates and then rejects every token)."""
    k = base64.urlsafe_b64encode(secret.encode("utf-8")).rstrip(b"=").decode("ascii")
    return {"kty": "oct", "alg": "HS256", "k": k}


def _jwt_provider(auth: AuthSettings) -> Config:
    return {
        "issuer": auth.jwt_issuer,
        # Without audiences Envoy checks none; Supabase's anon/service_role keys lack this one.
        "audiences": [auth.jwt_audience],
        # Without it a token with no `exp` is accepted.
        "require_expiration": True,
        "clock_skew_seconds": auth.leeway_seconds,
        # The services verify the token again, so they need it.
        "forward": True,
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
    }


def jwt_providers(auth: AuthSettings) -> dict[str, Config]:
    """The configured token sources: the legacy HS256 secret, the JWKS, or both during a migration."""
    providers: dict[str, Config] = {}
    if auth.jwt_secret is not None:
        jwks = json.dumps({"keys": [hs256_jwk(auth.jwt_secret)]})
        providers[HS256_PROVIDER] = {**_jwt_provider(auth), "local_jwks": {"inline_string": jwks}}
    if auth.jwks_url is not None:
        providers[JWKS_PROVIDER] = {
            **_jwt_provider(auth),
            "remote_jwks": {
                "http_uri": {"uri": auth.jwks_url, "cluster": JWKS_CLUSTER, "timeout": "5s"},
                # Envoy does not refetch on an unknown kid, only when the cache expires: a rotated-in
                # key is accepted at most this long after it is published.
                "cache_duration": _duration(auth.jwks_cache_seconds),
                # Fetch at start-up and refresh in the background, so no request waits on the fetch;
                # an unreachable JWKS does not hold the listener back (HS256 keeps working).
                "async_fetch": {"fast_listener": True, "failed_refetch_duration": "2s"},
                "retry_policy": {"num_retries": 2},
            },
        }
    if not providers:
        raise ConfigError("no JWT provider: set IRONPATH_JWT_SECRET or IRONPATH_JWKS_URL")
    return providers


def jwt_requirement(providers: Mapping[str, Config]) -> Config:
    names = list(providers)
    if len(names) == 1:
        return {"provider_name": names[0]}
    return {"requires_any": {"requirements": [{"provider_name": name} for name in names]}}


def _jwt_authn(auth: AuthSettings) -> Config:
    providers = jwt_providers(auth)
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": providers,
        # First match wins: health needs no token, everything else (including paths that match no
        # route and get 404/UNIMPLEMENTED) needs one, so an unauthenticated caller learns nothing.
        "rules": [
            {"match": {"prefix": HEALTH_PREFIX}},
            {"match": {"prefix": "/"}, "requires": jwt_requirement(providers)},
        ],
    }


def _jwks_cluster(url: str, ca_file: str) -> Config:
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    cluster: Config = {
        "name": JWKS_CLUSTER,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                # SNI alone verifies nothing: check the chain and that the certificate names the host.
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": ca_file},
                        "match_typed_subject_alt_names": [
                            {"san_type": "IP_ADDRESS" if _is_ip(host) else "DNS", "matcher": {"exact": host}}
                        ],
                    }
                },
            },
        }
    return cluster


# ---------------------------------------------------------------------------------------------
# Routes and upstream clusters


def is_read(method: MethodDescriptor) -> bool:
    return method.name.startswith(READ_METHOD_PREFIXES)


def _retry_policy(retry_on: str) -> Config:
    return {
        "retry_on": retry_on,
        "num_retries": NUM_RETRIES,
        # With replicas, try another one rather than the host that just failed.
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 3,
        "retry_back_off": {"base_interval": "0.05s", "max_interval": "0.5s"},
    }


def _unary_action(cluster: str, retry_on: str) -> Config:
    return {
        "cluster": cluster,
        "timeout": _duration(UNARY_TIMEOUT_SECONDS),
        # A client's shorter grpc-timeout also bounds the upstream call.
        "max_stream_duration": {"grpc_timeout_header_max": _duration(UNARY_TIMEOUT_SECONDS)},
        "retry_policy": _retry_policy(retry_on),
    }


def _stream_action(cluster: str, retry_on: str) -> Config:
    return {
        "cluster": cluster,
        "timeout": "0s",
        "max_stream_duration": {
            "max_stream_duration": _duration(STREAM_MAX_SECONDS),
            "grpc_timeout_header_max": _duration(STREAM_MAX_SECONDS),
        },
        "retry_policy": _retry_policy(retry_on),
    }


def _method_routes(cluster: str, service: ServiceDescriptor) -> list[Config]:
    """Exact routes for the RPCs that differ from the service's default (streams and reads)."""
    routes = []
    for method in service.methods:
        retry_on = READ_RETRY_ON if is_read(method) else WRITE_RETRY_ON
        if method.server_streaming or method.client_streaming:
            action = _stream_action(cluster, retry_on)
        elif is_read(method):
            action = _unary_action(cluster, retry_on)
        else:
            continue
        routes.append(
            {"name": f"{service.full_name}.{method.name}", "match": {"path": _path(service, method)}, "route": action}
        )
    return routes


def _path(service: ServiceDescriptor, method: MethodDescriptor) -> str:
    return f"/{service.full_name}/{method.name}"


def _service_route(cluster: str, service: ServiceDescriptor) -> Config:
    # The trailing slash keeps `ProgressService/` from also matching `ProgressServiceX/...`;
    # internal services have other names, so no prefix here can reach them.
    return {
        "name": service.full_name,
        "match": {"prefix": f"/{service.full_name}/"},
        "route": _unary_action(cluster, WRITE_RETRY_ON),
    }


def _health_routes(settings: GatewaySettings) -> list[Config]:
    """Standard gRPC health through the gateway, without a token.

    One health path, several backends: `x-ironpath-backend: <name>` picks one (grpcurl -H), the
    default is the first. Watch is a stream, hence the stream action for the whole prefix.
    """
    routes = [
        {
            "name": f"health.{upstream.name}",
            "match": {
                "prefix": HEALTH_PREFIX,
                "headers": [{"name": "x-ironpath-backend", "string_match": {"exact": upstream.name}}],
            },
            "route": _stream_action(upstream.name, WRITE_RETRY_ON),
        }
        for upstream in settings.upstreams
    ]
    routes.append(
        {
            "name": "health",
            "match": {"prefix": HEALTH_PREFIX},
            "route": _stream_action(settings.upstreams[0].name, WRITE_RETRY_ON),
        }
    )
    return routes


def _route_config(settings: GatewaySettings) -> Config:
    routes = _health_routes(settings)
    for upstream in settings.upstreams:
        for service in upstream.services:
            routes += _method_routes(upstream.name, service)
            routes.append(_service_route(upstream.name, service))
    # Anything else (internal services, reflection, unknown paths) matches nothing: the router
    # answers 404, which gRPC clients see as UNIMPLEMENTED.
    return {
        "name": "ironpath",
        "virtual_hosts": [
            {
                "name": "ironpath",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {"envoy.filters.http.cors": _cors_policy(settings.cors_origins)},
            }
        ],
    }


def _cors_policy(origins: tuple[str, ...]) -> Config:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": origin} for origin in origins],
        "allow_methods": "POST, OPTIONS",
        "allow_headers": ", ".join(CORS_ALLOW_HEADERS),
        "expose_headers": ", ".join(CORS_EXPOSE_HEADERS),
        "max_age": str(CORS_MAX_AGE_SECONDS),
        # Tokens travel in the Authorization header, not cookies.
        "allow_credentials": False,
    }


def _service_cluster(upstream: Upstream) -> Config:
    hosts = [_split_address(address, upstream.name) for address in upstream.addresses]
    static = all(_is_ip(host) for host, _ in hosts)
    cluster: Config = {
        "name": upstream.name,
        "type": "STATIC" if static else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "per_connection_buffer_limit_bytes": 32768,
        "load_assignment": {
            "cluster_name": upstream.name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(h, p)}} for h, p in hosts]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {
                    "http2_protocol_options": {"connection_keepalive": {"interval": "30s", "timeout": "5s"}}
                },
            }
        },
        # The service's own name: a process whose database is down says NOT_SERVING and gets no traffic.
        "health_checks": [
            {
                "timeout": "1s",
                "interval": "5s",
                "unhealthy_interval": "2s",
                "no_traffic_interval": "2s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": upstream.services[0].full_name},
            }
        ],
        # Never send traffic to a host known unhealthy (the default panic mode would, with one
        # replica): a dead service fails fast as UNAVAILABLE.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }
    if not static:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster
