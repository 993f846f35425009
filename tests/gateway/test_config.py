"""The rendered Envoy bootstrap: accepted by the real `envoy --mode validate`, and shaped as the
design says (routes, providers, filter order, CORS, clusters) without starting Envoy."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    HEALTH_PREFIX,
    HS256_PROVIDER,
    JWKS_PROVIDER,
    PUBLIC_SERVICES,
    READ_RETRY_ON,
    WRITE_RETRY_ON,
    GatewaySettings,
    hs256_jwk,
    render,
    write_config,
)
from gateway.envoy import EnvoyError, validate
from ironpath.feedback.v1 import feedback_pb2
from ironpath.program.v1 import program_pb2
from ironpath.progress.v1 import progress_pb2
from ironpath_common.settings import DEV_JWT_SECRET, ConfigError

REPO = Path(__file__).resolve().parents[2]
SUPABASE_ISSUER = "https://abcdefghijklmnop.supabase.co/auth/v1"
SUPABASE_JWKS = SUPABASE_ISSUER + "/.well-known/jwks.json"
PROD_SERVICE_SECRET = "production-service-token-secret-" + "p" * 16
PROD_JWT_SECRET = "production-supabase-jwt-secret-" + "q" * 16

DEVELOPMENT = {"IRONPATH_ENV": "development"}
JWKS_ONLY = {
    "IRONPATH_ENV": "production",
    "IRONPATH_JWT_ISSUER": SUPABASE_ISSUER,
    "IRONPATH_JWKS_URL": SUPABASE_JWKS,
    "IRONPATH_SERVICE_TOKEN_SECRET": PROD_SERVICE_SECRET,
    "IRONPATH_CORS_ORIGINS": "https://app.ironpath.example",
}
BOTH = {**JWKS_ONLY, "IRONPATH_JWT_SECRET": PROD_JWT_SECRET}
REPLICAS = {
    **DEVELOPMENT,
    "IRONPATH_PROGRESS_ADDRS": "progress-0.progress:50052,progress-1.progress:50052",
    "IRONPATH_JWKS_URL": "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
}

INTERNAL_SERVICES = [
    file.DESCRIPTOR.services_by_name[name]
    for file, name in [
        (program_pb2, "ProgramInternalService"),
        (progress_pb2, "ProgressInternalService"),
        (feedback_pb2, "FeedbackInternalService"),
    ]
]


def settings_for(env: dict[str, str]) -> GatewaySettings:
    return GatewaySettings.from_env(env)


def http_connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    filters = http_connection_manager(config)["http_filters"]
    typed: dict[str, Any] = next(f["typed_config"] for f in filters if f["name"] == name)
    return typed


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = http_connection_manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    return result


def first_route(config: dict[str, Any], path: str, headers: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Envoy's first-match routing over the matchers this config uses (path, prefix, exact header)."""
    for route in routes(config):
        match = route["match"]
        if "path" in match and match["path"] != path:
            continue
        if "prefix" in match and not path.startswith(match["prefix"]):
            continue
        wanted = {h["name"]: h["string_match"]["exact"] for h in match.get("headers", [])}
        if any((headers or {}).get(name) != value for name, value in wanted.items()):
            continue
        return route
    return None


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in config["static_resources"]["clusters"] if c["name"] == name)
    return found


# --- Envoy accepts what we render ---------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [DEVELOPMENT, JWKS_ONLY, BOTH, REPLICAS],
    ids=["hs256-only-development", "jwks-only-production", "hs256-and-jwks", "replicas-and-http-jwks"],
)
def test_the_rendered_config_passes_envoy_validate(env: dict[str, str], tmp_path: Path) -> None:
    validate(write_config(settings_for(env), tmp_path / "envoy.json"))


def test_validate_reports_envoys_own_message(tmp_path: Path) -> None:
    config = render(settings_for(DEVELOPMENT))
    config["static_resources"]["listeners"][0]["no_such_field"] = True
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(config))
    with pytest.raises(EnvoyError, match="no_such_field"):
        validate(path)


def test_the_cli_renders_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "render", "--out", str(out)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **DEVELOPMENT},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert json.loads(out.read_text())["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_the_cli_refuses_a_production_environment_without_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "render", "--out", str(tmp_path / "x.json")],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "IRONPATH_ENV": "production"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "IRONPATH_JWT_ISSUER" in result.stderr


# --- settings -----------------------------------------------------------------------------------


def test_the_development_secret_is_refused_outside_development() -> None:
    with pytest.raises(ConfigError, match="development secrets"):
        settings_for({**JWKS_ONLY, "IRONPATH_JWT_SECRET": DEV_JWT_SECRET})


def test_a_plain_http_jwks_on_another_host_is_refused_outside_development() -> None:
    with pytest.raises(ConfigError, match="https"):
        settings_for({**JWKS_ONLY, "IRONPATH_JWKS_URL": "http://auth.example.com/.well-known/jwks.json"})


@pytest.mark.parametrize("origin", ["*", "https://app.example.com/path", "app.example.com", "null"])
def test_cors_origins_must_be_exact_origins(origin: str) -> None:
    with pytest.raises(ConfigError, match="IRONPATH_CORS_ORIGINS"):
        settings_for({**DEVELOPMENT, "IRONPATH_CORS_ORIGINS": origin})


def test_cors_defaults_to_the_dev_web_origins_in_development_only() -> None:
    assert "http://localhost:5173" in settings_for(DEVELOPMENT).cors_origins
    assert "http://127.0.0.1:8081" in settings_for(DEVELOPMENT).cors_origins
    assert settings_for({k: v for k, v in JWKS_ONLY.items() if k != "IRONPATH_CORS_ORIGINS"}).cors_origins == ()


def test_ports_and_rate_limit_come_from_the_environment() -> None:
    settings = settings_for(
        {
            **DEVELOPMENT,
            "IRONPATH_GATEWAY_PORT": "18080",
            "IRONPATH_ENVOY_ADMIN_PORT": "19901",
            "IRONPATH_GATEWAY_RATE_LIMIT_RPS": "50",
        }
    )
    config = render(settings)
    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 18080}
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 19901}
    bucket = http_filter(config, "envoy.filters.http.local_ratelimit")["token_bucket"]
    assert bucket == {"max_tokens": 50, "tokens_per_fill": 50, "fill_interval": "1s"}


def test_replica_addresses_become_one_endpoint_each() -> None:
    config = render(settings_for(REPLICAS))
    progress = cluster(config, "progress")
    endpoints = progress["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["address"] for e in endpoints] == [
        "progress-0.progress",
        "progress-1.progress",
    ]
    assert progress["type"] == "STRICT_DNS"
    assert cluster(config, "program")["type"] == "STATIC"


# --- authentication -----------------------------------------------------------------------------


def test_the_hs256_key_is_base64url_of_the_secret_without_padding() -> None:
    secret = "a secret?>>~ with bytes that need url-safe base64: é"  # '+', '/', '=' in standard base64
    jwk = hs256_jwk(secret)
    assert jwk["kty"] == "oct" and jwk["alg"] == "HS256"
    assert "=" not in jwk["k"] and "+" not in jwk["k"] and "/" not in jwk["k"]
    assert base64.urlsafe_b64decode(jwk["k"] + "=" * (-len(jwk["k"]) % 4)) == secret.encode("utf-8")


def test_the_rendered_local_jwks_holds_the_encoded_secret() -> None:
    providers = http_filter(render(settings_for(DEVELOPMENT)), "envoy.filters.http.jwt_authn")["providers"]
    keys = json.loads(providers[HS256_PROVIDER]["local_jwks"]["inline_string"])["keys"]
    assert keys == [hs256_jwk(DEV_JWT_SECRET)]


@pytest.mark.parametrize(
    ("env", "names"),
    [(DEVELOPMENT, [HS256_PROVIDER]), (JWKS_ONLY, [JWKS_PROVIDER]), (BOTH, [HS256_PROVIDER, JWKS_PROVIDER])],
    ids=["hs256", "jwks", "both"],
)
def test_providers_follow_the_configured_key_styles(env: dict[str, str], names: list[str]) -> None:
    jwt_authn = http_filter(render(settings_for(env)), "envoy.filters.http.jwt_authn")
    assert list(jwt_authn["providers"]) == names
    for provider in jwt_authn["providers"].values():
        assert provider["issuer"] == settings_for(env).auth.jwt_issuer
        assert provider["audiences"] == ["authenticated"]
        assert provider["require_expiration"] is True
        assert provider["forward"] is True
    requirement = jwt_authn["rules"][-1]["requires"]
    if len(names) == 1:
        assert requirement == {"provider_name": names[0]}
    else:
        assert requirement == {"requires_any": {"requirements": [{"provider_name": n} for n in names]}}


def test_the_remote_jwks_uses_its_own_cluster_and_the_cache_duration() -> None:
    config = render(settings_for({**JWKS_ONLY, "IRONPATH_JWKS_CACHE_SECONDS": "120"}))
    remote = http_filter(config, "envoy.filters.http.jwt_authn")["providers"][JWKS_PROVIDER]["remote_jwks"]
    assert remote["http_uri"]["uri"] == SUPABASE_JWKS
    assert remote["cache_duration"] == "120s"
    assert cluster(config, remote["http_uri"]["cluster"])


def test_an_https_jwks_is_fetched_over_verified_tls_with_sni() -> None:
    settings = settings_for(JWKS_ONLY)
    jwks = cluster(render(settings), "jwks")
    host = "abcdefghijklmnop.supabase.co"
    assert jwks["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == {
        "address": host,
        "port_value": 443,
    }
    tls = jwks["transport_socket"]["typed_config"]
    assert tls["sni"] == host
    validation = tls["common_tls_context"]["validation_context"]
    assert validation["trusted_ca"] == {"filename": settings.jwks_ca_file}
    assert validation["match_typed_subject_alt_names"] == [{"san_type": "DNS", "matcher": {"exact": host}}]


def test_health_needs_no_token_and_everything_else_does() -> None:
    rules = http_filter(render(settings_for(BOTH)), "envoy.filters.http.jwt_authn")["rules"]
    assert rules[0] == {"match": {"prefix": HEALTH_PREFIX}}
    assert rules[1]["match"] == {"prefix": "/"} and "requires" in rules[1]


# --- filters, CORS, access log ------------------------------------------------------------------


def test_the_filters_run_in_the_order_the_notes_found_working() -> None:
    filters = http_connection_manager(render(settings_for(DEVELOPMENT)))["http_filters"]
    assert [f["name"] for f in filters] == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.cors",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.router",
    ]
    ratelimit = http_filter(render(settings_for(DEVELOPMENT)), "envoy.filters.http.local_ratelimit")
    assert ratelimit["rate_limited_as_resource_exhausted"] is True


def test_client_sent_identity_headers_are_removed() -> None:
    mutation = http_filter(render(settings_for(DEVELOPMENT)), "envoy.filters.http.header_mutation")
    removed = {m["remove"] for m in mutation["mutations"]["request_mutations"]}
    assert {"x-user-id", "x-jwt-payload"} <= removed


def test_the_cors_policy_allows_exact_origins_and_the_grpc_web_headers() -> None:
    manager = http_connection_manager(render(settings_for(JWKS_ONLY)))
    policy = manager["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert policy["allow_origin_string_match"] == [{"exact": "https://app.ironpath.example"}]
    assert policy["allow_methods"] == "POST, OPTIONS"
    assert "authorization" in policy["allow_headers"] and "x-grpc-web" in policy["allow_headers"]
    assert policy["expose_headers"] == "grpc-status, grpc-message, grpc-status-details-bin"
    assert "forward_not_matching_preflights" not in policy
    assert "bypass_cors_preflight" not in json.dumps(manager)


def test_the_access_log_is_json_with_grpc_status_and_never_the_authorization_header() -> None:
    manager = http_connection_manager(render(settings_for(DEVELOPMENT)))
    fields = manager["access_log"][0]["typed_config"]["log_format"]["json_format"]
    assert fields["grpc_status"] == "%GRPC_STATUS%"
    assert fields["response_code_details"] == "%RESPONSE_CODE_DETAILS%"
    assert fields["request_id"] == "%REQ(X-REQUEST-ID)%"
    assert "authorization" not in json.dumps(fields).lower()


def test_long_streams_outlive_the_idle_timeout_between_keep_alives() -> None:
    manager = http_connection_manager(render(settings_for(DEVELOPMENT)))
    assert manager["codec_type"] == "AUTO"
    assert manager["stream_idle_timeout"] == "300s"


# --- routes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", INTERNAL_SERVICES, ids=lambda s: s.full_name)
def test_no_route_matches_an_internal_service(service: Any) -> None:
    config = render(settings_for(BOTH))
    for method in service.methods:
        assert first_route(config, f"/{service.full_name}/{method.name}") is None
    assert first_route(config, f"/{service.full_name}/") is None


def test_reflection_is_not_routed() -> None:
    config = render(settings_for(DEVELOPMENT))
    assert first_route(config, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") is None
    assert first_route(config, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is None


def test_every_public_rpc_is_routed_to_its_service_cluster() -> None:
    config = render(settings_for(DEVELOPMENT))
    assert sorted(PUBLIC_SERVICES) == ["feedback", "program", "progress"]
    for cluster_name, services in PUBLIC_SERVICES.items():
        for service in services:
            for method in service.methods:
                route = first_route(config, f"/{service.full_name}/{method.name}")
                assert route is not None, method.full_name
                assert route["route"]["cluster"] == cluster_name


def test_streams_have_no_route_timeout_but_a_maximum_duration() -> None:
    config = render(settings_for(DEVELOPMENT))
    for path in (
        "/ironpath.progress.v1.ProgressService/WatchProgress",
        "/ironpath.program.v1.AccountService/ExportMyData",
    ):
        route = first_route(config, path)
        assert route is not None
        assert route["route"]["timeout"] == "0s"
        assert route["route"]["max_stream_duration"]["max_stream_duration"] == "3600s"
    unary = first_route(config, "/ironpath.progress.v1.ProgressService/MarkSessionComplete")
    assert unary is not None and unary["route"]["timeout"] == "60s"


def test_only_reads_retry_on_unavailable() -> None:
    config = render(settings_for(DEVELOPMENT))

    def retry_on(path: str) -> str:
        route = first_route(config, path)
        assert route is not None
        value: str = route["route"]["retry_policy"]["retry_on"]
        return value

    assert retry_on("/ironpath.progress.v1.ProgressService/GetProgramProgress") == READ_RETRY_ON
    assert retry_on("/ironpath.progress.v1.ProgressService/ListSessionLogs") == READ_RETRY_ON
    assert retry_on("/ironpath.progress.v1.ProgressService/WatchProgress") == READ_RETRY_ON
    assert retry_on("/ironpath.progress.v1.ProgressService/MarkSessionComplete") == WRITE_RETRY_ON
    assert retry_on("/ironpath.feedback.v1.FeedbackService/SubmitWorkoutFeedback") == WRITE_RETRY_ON
    assert "unavailable" not in WRITE_RETRY_ON and "reset," not in WRITE_RETRY_ON


def test_health_is_routed_to_the_backend_the_header_names_or_the_first() -> None:
    config = render(settings_for(DEVELOPMENT))
    check = HEALTH_PREFIX + "Check"
    default = first_route(config, check)
    assert default is not None and default["route"]["cluster"] == "program"
    chosen = first_route(config, check, {"x-ironpath-backend": "feedback"})
    assert chosen is not None and chosen["route"]["cluster"] == "feedback"


def test_each_service_cluster_is_http2_health_checked_and_never_panics() -> None:
    config = render(settings_for(DEVELOPMENT))
    for name, services in PUBLIC_SERVICES.items():
        found = cluster(config, name)
        options = found["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
        (check,) = found["health_checks"]
        assert check["grpc_health_check"] == {"service_name": services[0].full_name}
        assert check["no_traffic_interval"] == "2s" and check["interval"] == "5s"
        assert check["unhealthy_threshold"] == 2
        assert found["common_lb_config"]["healthy_panic_threshold"] == {"value": 0}


# --- metrics ------------------------------------------------------------------------------------


def test_the_metrics_listener_forwards_only_get_stats_prometheus_to_the_loopback_admin() -> None:
    config = render(settings_for({**DEVELOPMENT, "IRONPATH_ENVOY_METRICS_PORT": "19150"}))
    listeners = {listener["name"]: listener for listener in config["static_resources"]["listeners"]}
    metrics = listeners["ironpath_metrics"]
    assert metrics["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 19150}
    manager = metrics["filter_chains"][0]["filters"][0]["typed_config"]
    forward, rest = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert forward["match"] == {
        "path": "/stats/prometheus",
        "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
    }
    assert forward["route"]["cluster"] == "envoy_admin"
    assert rest == {"match": {"prefix": "/"}, "direct_response": {"status": 404}}
    admin = cluster(config, "envoy_admin")["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert admin["endpoint"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_without_a_metrics_port_no_metrics_listener_is_rendered_and_a_clash_is_refused() -> None:
    for env in (DEVELOPMENT, {**DEVELOPMENT, "IRONPATH_ENVOY_METRICS_PORT": "0"}):
        config = render(settings_for(env))
        assert [listener["name"] for listener in config["static_resources"]["listeners"]] == ["ironpath_gateway"]
        assert "envoy_admin" not in {c["name"] for c in config["static_resources"]["clusters"]}
    with pytest.raises(ConfigError, match="IRONPATH_ENVOY_METRICS_PORT"):
        settings_for({**DEVELOPMENT, "IRONPATH_ENVOY_METRICS_PORT": "9901"})
