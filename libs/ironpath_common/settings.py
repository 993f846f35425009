"""Settings shared by every IronPath process, read once from the environment at start.

Every variable is prefixed `IRONPATH_`. Development defaults exist only when
`IRONPATH_ENV=development`; anywhere else a missing or development-only secret
stops the process before it serves anything.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

DEVELOPMENT = "development"
PRODUCTION = "production"

# Well known on purpose: tokens signed with these are accepted only in development.
DEV_JWT_SECRET = "ironpath-development-jwt-secret-do-not-use-in-production"
DEV_SERVICE_TOKEN_SECRET = "ironpath-development-service-secret-do-not-use-in-production"
DEV_JWT_ISSUER = "http://127.0.0.1:54321/auth/v1"

SERVICE_PORTS = {"program": 50051, "progress": 50052, "feedback": 50053}
# Each service's Prometheus endpoint (plain HTTP, `/metrics`); the gateway's Envoy serves its own on 9150.
METRICS_PORTS = {"program": 9151, "progress": 9152, "feedback": 9153}


class ConfigError(Exception):
    """A setting is missing, malformed or unsafe for this environment."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class AuthSettings:
    """How user tokens (Supabase) and internal service tokens are verified."""

    environment: str
    jwt_issuer: str
    jwt_audience: str
    # Supabase's legacy shared secret (HS256); None when only asymmetric keys are used.
    jwt_secret: str | None
    # Supabase's JWKS (`<issuer>/.well-known/jwks.json`) for ES256/RS256 keys.
    jwks_url: str | None
    jwks_cache_seconds: int
    leeway_seconds: int
    service_token_secret: str

    @property
    def is_development(self) -> bool:
        return self.environment == DEVELOPMENT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if env is None else env
        environment = env.get("IRONPATH_ENV", PRODUCTION)
        if environment not in (DEVELOPMENT, PRODUCTION):
            raise ConfigError(f"IRONPATH_ENV must be {DEVELOPMENT!r} or {PRODUCTION!r}, got {environment!r}")
        dev = environment == DEVELOPMENT
        jwks_url = env.get("IRONPATH_JWKS_URL") or None
        jwt_secret = env.get("IRONPATH_JWT_SECRET") or None
        if jwt_secret is None and jwks_url is None and dev:
            jwt_secret = DEV_JWT_SECRET
        service_secret = env.get("IRONPATH_SERVICE_TOKEN_SECRET") or (DEV_SERVICE_TOKEN_SECRET if dev else None)
        issuer = env.get("IRONPATH_JWT_ISSUER") or (DEV_JWT_ISSUER if dev else None)
        settings = cls(
            environment=environment,
            jwt_issuer=issuer or "",
            jwt_audience=env.get("IRONPATH_JWT_AUDIENCE", "authenticated"),
            jwt_secret=jwt_secret,
            jwks_url=jwks_url,
            jwks_cache_seconds=_int(env, "IRONPATH_JWKS_CACHE_SECONDS", 300),
            leeway_seconds=_int(env, "IRONPATH_JWT_LEEWAY_SECONDS", 30),
            service_token_secret=service_secret or "",
        )
        settings._check()
        return settings

    def _check(self) -> None:
        if not self.jwt_issuer:
            raise ConfigError("IRONPATH_JWT_ISSUER is required outside development")
        if self.jwt_secret is None and self.jwks_url is None:
            raise ConfigError("set IRONPATH_JWT_SECRET (HS256) or IRONPATH_JWKS_URL (ES256/RS256)")
        if not self.service_token_secret:
            raise ConfigError("IRONPATH_SERVICE_TOKEN_SECRET is required outside development")
        if self.is_development:
            return
        if self.jwt_secret == DEV_JWT_SECRET or self.service_token_secret == DEV_SERVICE_TOKEN_SECRET:
            raise ConfigError("the development secrets are refused unless IRONPATH_ENV=development")
        for name, secret in (
            ("IRONPATH_JWT_SECRET", self.jwt_secret),
            ("IRONPATH_SERVICE_TOKEN_SECRET", self.service_token_secret),
        ):
            if secret is not None and len(secret) < 32:
                raise ConfigError(f"{name} must be at least 32 characters")
        if self.service_token_secret == self.jwt_secret:
            raise ConfigError("IRONPATH_SERVICE_TOKEN_SECRET must differ from IRONPATH_JWT_SECRET")


# What the retention job purges and after how many days (0 keeps those rows for ever).
RETENTION_REQUEST_DAYS = "IRONPATH_RETENTION_REQUEST_DAYS"
RETENTION_OUTBOX_DAYS = "IRONPATH_RETENTION_OUTBOX_DAYS"
RETENTION_FAILED_OUTBOX_DAYS = "IRONPATH_RETENTION_FAILED_OUTBOX_DAYS"
RETENTION_DEFAULT_DAYS = {RETENTION_REQUEST_DAYS: 30, RETENTION_OUTBOX_DAYS: 7, RETENTION_FAILED_OUTBOX_DAYS: 30}


def _non_negative(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _int(env, name, default)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class RetentionSettings:
    """How long operational records are kept (see `ironpath_common.retention`)."""

    interval_seconds: int
    # Days to keep, by setting name (one of RETENTION_DEFAULT_DAYS).
    days: Mapping[str, int]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetentionSettings:
        env = os.environ if env is None else env
        return cls(
            interval_seconds=_non_negative(env, "IRONPATH_RETENTION_INTERVAL_SECONDS", 3600, minimum=1),
            days={name: _non_negative(env, name, default) for name, default in RETENTION_DEFAULT_DAYS.items()},
        )


@dataclass(frozen=True)
class RateLimitSettings:
    """Per-user token buckets on mutating RPCs (see `ironpath_common.ratelimit`)."""

    # Sustained rate a user may call one service's mutating RPCs at; 0 turns the limit off.
    per_minute: int
    # How many calls a user may make at once before the sustained rate applies.
    burst: int
    # Buckets kept in memory at most; idle ones are dropped long before this.
    max_buckets: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RateLimitSettings:
        env = os.environ if env is None else env
        return cls(
            per_minute=_non_negative(env, "IRONPATH_RATE_LIMIT_PER_MINUTE", 600),
            burst=_non_negative(env, "IRONPATH_RATE_LIMIT_BURST", 120, minimum=1),
            max_buckets=_non_negative(env, "IRONPATH_RATE_LIMIT_MAX_BUCKETS", 100_000, minimum=1),
        )


@dataclass(frozen=True)
class OtlpSettings:
    """Where the services' spans are exported (see `ironpath_common.otlp`), from the standard
    OpenTelemetry variables."""

    traces_url: str
    headers: Mapping[str, str]
    timeout_seconds: float
    service_name: str

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> OtlpSettings | None:
        """None unless an endpoint is configured (and the SDK switch is not off)."""
        env = os.environ if env is None else env
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if not url:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            if not base:
                return None
            url = base.rstrip("/") + "/v1/traces"
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL, got {url!r}")
        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = env.get(name, "").strip()
            if protocol and protocol != "http/json":
                raise ConfigError(f"{name}={protocol!r}: IronPath exports OTLP over http/json only")
        raw_timeout = env.get("OTEL_EXPORTER_OTLP_TIMEOUT", "").strip() or "10000"
        try:
            timeout = int(raw_timeout) / 1000
        except ValueError:
            raise ConfigError(f"OTEL_EXPORTER_OTLP_TIMEOUT must be milliseconds, got {raw_timeout!r}") from None
        return cls(
            traces_url=url,
            headers=_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", "")),
            timeout_seconds=max(timeout, 0.1),
            service_name=env.get("OTEL_SERVICE_NAME", "").strip() or f"ironpath-{service}",
        )


def _headers(raw: str) -> dict[str, str]:
    """`key1=value1,key2=value2`, values URL-encoded (the OTLP exporter's format)."""
    headers = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if not item.strip():
            continue
        if not sep or not key.strip():
            raise ConfigError("OTEL_EXPORTER_OTLP_HEADERS takes key=value pairs separated by commas")
        headers[key.strip()] = urllib.parse.unquote(value.strip())
    return headers


def service_address(name: str, env: Mapping[str, str] | None = None) -> str:
    """Where a service is reached by other processes (`host:port`)."""
    env = os.environ if env is None else env
    return env.get(f"IRONPATH_{name.upper()}_ADDR") or f"127.0.0.1:{service_port(name, env)}"


def service_port(name: str, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return _int(env, f"IRONPATH_{name.upper()}_PORT", SERVICE_PORTS[name])


def metrics_port(name: str, env: Mapping[str, str] | None = None) -> int:
    """Where a service serves its Prometheus metrics; 0 serves none."""
    env = os.environ if env is None else env
    port = _non_negative(env, f"IRONPATH_{name.upper()}_METRICS_PORT", METRICS_PORTS[name])
    if port > 65535:
        raise ConfigError(f"IRONPATH_{name.upper()}_METRICS_PORT must be a TCP port, got {port}")
    return port


def database_url(name: str, env: Mapping[str, str] | None = None) -> str:
    """A service's own database; `IRONPATH_<NAME>_DATABASE_URL` overrides the local default."""
    env = os.environ if env is None else env
    return (
        env.get(f"IRONPATH_{name.upper()}_DATABASE_URL")
        or f"postgresql+asyncpg://postgres@127.0.0.1:5432/ironpath_{name}"
    )


@dataclass(frozen=True)
class ServiceSettings:
    """What every service process needs; each service extends it with its own fields."""

    name: str
    host: str
    port: int
    # Prometheus metrics over HTTP on the same host; 0: none.
    metrics_port: int
    database_url: str
    db_pool_size: int
    grace_seconds: float
    log_level: str
    auth: AuthSettings
    retention: RetentionSettings
    rate_limit: RateLimitSettings
    # OpenTelemetry span export; None unless an OTLP endpoint is configured.
    otlp: OtlpSettings | None

    @classmethod
    def base_from_env(cls, name: str, env: Mapping[str, str] | None = None) -> dict[str, object]:
        env = os.environ if env is None else env
        return {
            "name": name,
            # Containers set 0.0.0.0; a developer machine keeps services off the network.
            "host": env.get("IRONPATH_BIND_HOST", "127.0.0.1"),
            "port": service_port(name, env),
            "metrics_port": metrics_port(name, env),
            "database_url": database_url(name, env),
            "db_pool_size": _int(env, "IRONPATH_DB_POOL_SIZE", 10),
            "grace_seconds": float(_int(env, "IRONPATH_GRACE_SECONDS", 5)),
            "log_level": env.get("IRONPATH_LOG_LEVEL", "INFO"),
            "auth": AuthSettings.from_env(env),
            "retention": RetentionSettings.from_env(env),
            "rate_limit": RateLimitSettings.from_env(env),
            "otlp": OtlpSettings.from_env(name, env),
        }
